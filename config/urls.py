from django.conf import settings
from django.conf.urls.static import static
from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from campaigns.channels.pages import unsubscribe_page

urlpatterns = [
    path("", RedirectView.as_view(url="/console/", permanent=False)),
    path("console/", admin.site.urls),
    path("i18n/", include("django.conf.urls.i18n")),
    # The link of marketing SMS and e-mail: a page for a person (and RFC 8058's one-click POST), not the API.
    path("unsubscribe/<str:token>", unsubscribe_page, name="unsubscribe"),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/v1/", include("members.api.urls")),
    path("api/v1/", include("coupons.api.urls")),
    path("api/v1/", include("points.api.urls")),
    path("api/v1/", include("campaigns.api.urls")),
]
# Under /api/ these answer the API's error shape (infra/api_errors.py); elsewhere Django's pages.
handler400 = "infra.api_errors.bad_request"
handler403 = "infra.api_errors.forbidden"
handler404 = "infra.api_errors.page_not_found"
handler500 = "infra.api_errors.server_error"

if settings.DEBUG:
    urlpatterns += static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)

"""The points report page: store staff see their own store's members, merchant admins the whole programme."""

from django.conf import settings
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.translation import gettext

from members.console import ReadOnlyAdminMixin, staff_store_id
from points.models import PointsReport
from points.reports import points_report


@admin.register(PointsReport)
class PointsReportAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    def changelist_view(self, request, extra_context=None):
        if not self.has_view_permission(request):
            raise PermissionDenied
        store_id = staff_store_id(request.user)
        report = points_report(now=timezone.now(), store_id=store_id)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": gettext("Points report"),
            "report": report,
            "store": request.user.store if store_id else None,
            "currency": settings.CURRENCY,
        }
        return TemplateResponse(request, "admin/points/pointsreport/report.html", context)

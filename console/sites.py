"""The console's admin site: django-unfold's site with the dashboard as its home and a member search in the header.

Django's admin app uses it as its default site (console.apps.ConsoleAdminConfig), so every app's
`@admin.register` lands here and `admin.site` is this site.
"""

from django.contrib.auth.decorators import permission_required
from django.urls import path
from unfold.sites import UnfoldAdminSite

from console import views


class ConsoleAdminSite(UnfoldAdminSite):
    index_template = "console/dashboard.html"

    def extra_urls(self):
        """Pages of the console itself (UnfoldAdminSite.get_urls adds them before the models' pages)."""
        return [
            path(
                "find/",
                self.admin_view(permission_required("members.view_member", raise_exception=True)(views.member_find)),
                name="console_find",
            ),
        ]

    def index(self, request, extra_context=None):
        """The console's home: the dashboard (figures for staff allowed to read them, the member search for all)."""
        return views.dashboard(request, site=self, extra_context=extra_context)

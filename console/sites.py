"""The console's admin site: django-unfold's site with the dashboard as its home and a member search in the header.

Django's admin app uses it as its default site (console.apps.ConsoleAdminConfig), so every app's
`@admin.register` lands here and `admin.site` is this site.
"""

from functools import partial

from django.contrib.auth.decorators import permission_required
from django.urls import path
from unfold.sites import UnfoldAdminSite

from console import views


def _member_360_view(name):
    """A Member 360 view, imported when the URLs are built: its module imports the apps' admins, which need this
    site to exist first."""
    from console.member_360 import views as member_360_views

    return getattr(member_360_views, name)


class ConsoleAdminSite(UnfoldAdminSite):
    index_template = "console/dashboard.html"

    def extra_urls(self):
        """Pages of the console itself (UnfoldAdminSite.get_urls adds them before the models' pages)."""
        from console import audit_views

        audit_log = permission_required(audit_views.AUDIT_LOG_PERMISSION, raise_exception=True)
        return [
            # The audit log (console.audit_log); `?member=<id>` narrows it to one member.
            path(
                "audit-log/",
                self.admin_view(audit_log(lambda request: audit_views.audit_log(request, site=self))),
                name="console_audit_log",
            ),
            path(
                "audit-log/export.csv",
                self.admin_view(audit_log(lambda request: audit_views.audit_log_export(request, site=self))),
                name="console_audit_log_export",
            ),
            path(
                "find/",
                self.admin_view(permission_required("members.view_member", raise_exception=True)(views.member_find)),
                name="console_find",
            ),
            # Member 360 (console/member_360): the views check their own permissions and the store scope.
            path(
                "member/<int:member_id>/",
                self.admin_view(partial(_member_360_view("member_360"), site=self)),
                name="console_member_360",
            ),
            path(
                "member/<int:member_id>/export.<str:fmt>",
                self.admin_view(partial(_member_360_view("member_360_export"), site=self)),
                name="console_member_360_export",
            ),
            path(
                "member/<int:member_id>/<slug:action>/",
                self.admin_view(partial(_member_360_view("member_360_action"), site=self)),
                name="console_member_360_action",
            ),
        ]

    def index(self, request, extra_context=None):
        """The console's home: the dashboard (figures for staff allowed to read them, the member search for all)."""
        return views.dashboard(request, site=self, extra_context=extra_context)

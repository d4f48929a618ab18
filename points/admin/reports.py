"""The points report page: store staff see their own store's members, merchant admins the whole programme."""

from django.conf import settings
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.template.response import TemplateResponse
from django.urls import path
from django.utils import timezone
from django.utils.translation import gettext

from console.reports import points_report_figures
from members.console import ConsoleModelAdmin, ReadOnlyAdminMixin, staff_store_id
from points.models import PointsReport


@admin.register(PointsReport)
class PointsReportAdmin(ReadOnlyAdminMixin, ConsoleModelAdmin):
    def get_urls(self):
        # Only the report: the model is a proxy of the points ledger, whose rows this admin must not open (it is
        # not scoped by store; the ledger's own admin is).
        info = self.opts.app_label, self.opts.model_name
        return [path("", self.admin_site.admin_view(self.changelist_view), name="{}_{}_changelist".format(*info))]

    def changelist_view(self, request, extra_context=None):
        if not self.has_view_permission(request):
            raise PermissionDenied
        store_id = staff_store_id(request.user)
        # From the nightly refresh's daily figures plus today's entries (console.reports).
        report = points_report_figures(now=timezone.now(), store_id=store_id)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": gettext("Points report"),
            "report": report,
            "store": request.user.store if store_id else None,
            "currency": settings.CURRENCY,
        }
        return TemplateResponse(request, "admin/points/pointsreport/report.html", context)

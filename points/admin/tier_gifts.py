"""Console for monthly tier gifts: what each tier gets every month, and the record of each month's grant."""

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from members.console import ConsoleHistoryAdmin, ConsoleModelAdmin, ReadOnlyAdminMixin, staff_store_id
from points.models import TierGiftRun, TierMonthlyGift


@admin.register(TierMonthlyGift)
class TierMonthlyGiftAdmin(ConsoleHistoryAdmin):
    """Granted by the daily job "points: monthly tier gifts" on its first run of each month."""

    history_revert_allowed = True  # configuration: a revert is an edit by staff who may change it
    list_display = ("tier", "points", "coupon_template", "is_active")
    list_select_related = ("tier", "coupon_template")
    list_filter = ("is_active",)
    autocomplete_fields = ("coupon_template",)
    fields = ("tier", "points", "coupon_template", "is_active")


@admin.register(TierGiftRun)
class TierGiftRunAdmin(ReadOnlyAdminMixin, ConsoleModelAdmin):
    list_display = ("month", "tier", "points", "points_job_status", "coupon_job_status", "message")
    list_select_related = ("tier", "points_job", "coupon_job")
    list_filter = ("tier",)
    date_hierarchy = "month"
    # The jobs' counts are the brand's: a store's staff see how each grant went, without them.
    COUNTED = {"points_job_status": "points_job_state", "coupon_job_status": "coupon_job_state"}

    def get_list_display(self, request):
        if staff_store_id(request.user) is None:
            return self.list_display
        return tuple(self.COUNTED.get(name, name) for name in self.list_display)

    @admin.display(description=_("points grant"))
    def points_job_status(self, run):
        job = run.points_job
        return "-" if job is None else f"{job.get_status_display()} ({job.members_granted}/{job.members_total})"

    @admin.display(description=_("coupon issue"))
    def coupon_job_status(self, run):
        job = run.coupon_job
        return "-" if job is None else f"{job.get_status_display()} ({job.issued}/{job.total})"

    @admin.display(description=_("points grant"))
    def points_job_state(self, run):
        return "-" if run.points_job is None else run.points_job.get_status_display()

    @admin.display(description=_("coupon issue"))
    def coupon_job_state(self, run):
        return "-" if run.coupon_job is None else run.coupon_job.get_status_display()

"""The coupons issued from the templates (read-only, voided by an action) and the bulk issue jobs with their
progress."""

from django.contrib import admin, messages
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from coupons.admin.templates import ISSUE_PERMISSION
from coupons.codes import is_valid_code, normalize_code
from coupons.models import Coupon, CouponIssueJob
from coupons.services import coupons_void
from coupons.services.bulk import coupon_issue_jobs_resume
from infra.paginator import EstimatedCountPaginator
from members.console import (
    ConsoleModelAdmin,
    ReadOnlyAdminMixin,
    ScopedRelatedFieldListFilter,
    StoreScopedAdminMixin,
    staff_store_id,
)


@admin.register(Coupon)
class CouponAdmin(ReadOnlyAdminMixin, StoreScopedAdminMixin, ConsoleModelAdmin):
    """Coupons of the staff member's store's members; an exact code is found brand-wide (the till's case).

    Written only by the services: read-only here, except the "void" action.
    """

    store_scope_field = "member__home_store"
    list_display = (
        "code",
        "template",
        "member",
        "status",
        "source",
        "issued_at",
        "valid_until",
        "redeemed_at",
        "redeemed_store",
        "discount_amount",
    )
    list_select_related = ("template", "member", "redeemed_store")
    list_filter = ("status", "source", ("redeemed_store", ScopedRelatedFieldListFilter))
    search_fields = ("=code", "=member__member_number", "=member__phone")
    search_help_text = _("An exact coupon code, member number or phone (+852…).")
    ordering = ("-pk",)
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    raw_id_fields = ("template", "member")
    actions = ("void_selected",)
    fields = (
        "code",
        "template",
        "member",
        "member_sequence",
        "status",
        "source",
        "issue_key",
        "issued_by",
        "issued_at",
        "valid_from",
        "valid_until",
        "reserved_until",
        "reservation_reference",
        "redeemed_at",
        "redeemed_store",
        "redeemed_channel",
        "redeemed_reference",
        "redeemed_purchase",
        "discount_amount",
        "voided_at",
        "voided_by",
        "void_reason_shown",
    )
    readonly_fields = fields

    @admin.display(description=_("reason for voiding"))
    def void_reason_shown(self, obj):
        # The system's own reason (coupons.services.post_payment.REFUND_VOID_REASON) is kept in English; a reason
        # staff typed has no translation and shows as typed.
        return gettext(obj.void_reason) if obj.void_reason else ""

    def has_void_permission(self, request):
        return request.user.has_perm("coupons.void_coupon")

    def get_exact_lookup_q(self, request, search_term):
        code = normalize_code(search_term)
        return Q(code=code) if is_valid_code(code) else None

    @admin.action(description=_("Void selected coupons"), permissions=("void",))
    def void_selected(self, request, queryset):
        # The search finds a visitor's coupon by its exact code in any store; voiding it stays with their store.
        selected = list(self.scope_queryset(request, queryset).values_list("pk", flat=True))
        if foreign := queryset.count() - len(selected):
            self.message_user(
                request,
                ngettext(
                    "%(count)d coupon of another store's member was left as it was: their store may void it.",
                    "%(count)d coupons of other stores' members were left as they were: their stores may void them.",
                    foreign,
                )
                % {"count": foreign},
                messages.WARNING,
            )
        voided = coupons_void(
            coupon_ids=selected,
            now=timezone.now(),
            voided_by_id=request.user.pk,
            reason=str(_("Voided in the console")),
        )
        self.message_user(
            request,
            ngettext("%(count)d coupon voided.", "%(count)d coupons voided.", voided) % {"count": voided},
            messages.SUCCESS,
        )
        if skipped := len(selected) - voided:
            self.message_user(
                request,
                ngettext(
                    "%(count)d coupon was already used, expired or void and was left as it was.",
                    "%(count)d coupons were already used, expired or void and were left as they were.",
                    skipped,
                )
                % {"count": skipped},
                messages.WARNING,
            )


@admin.register(CouponIssueJob)
class CouponIssueJobAdmin(ReadOnlyAdminMixin, ConsoleModelAdmin):
    """Bulk issue jobs with their progress and final count; started from a template's "Issue to members…"."""

    list_display = (
        "pk",
        "template",
        "audience_label",
        "status",
        "progress",
        "issued",
        "skipped",
        "error_count",
        "created_by",
        "created_at",
        "finished_at",
    )
    list_select_related = ("template", "tier", "tag", "created_by")
    list_filter = ("status", "audience")
    ordering = ("-pk",)
    actions = ("resume",)
    change_form_template = "admin/coupons/couponissuejob/change_form.html"
    fields = (
        "template",
        "audience",
        "tier",
        "tag",
        "store",
        "status",
        "total",
        "processed",
        "issued",
        "skipped",
        "error_count",
        "message",
        "created_by",
        "created_at",
        "started_at",
        "finished_at",
    )
    readonly_fields = fields

    def get_queryset(self, request):
        queryset = super().get_queryset(request).defer("member_ids")
        store_id = staff_store_id(request.user)
        return queryset if store_id is None else queryset.filter(store_id=store_id)

    def has_resume_permission(self, request):
        return request.user.has_perm(ISSUE_PERMISSION)

    @admin.display(description=_("audience"))
    def audience_label(self, obj):
        return obj.tier or obj.tag or obj.get_audience_display()

    @admin.display(description=_("progress"))
    def progress(self, obj):
        return f"{obj.progress_percent}%"

    @admin.action(description=_("Resume stopped or failed jobs"), permissions=("resume",))
    def resume(self, request, queryset):
        count = coupon_issue_jobs_resume(job_ids=list(queryset.values_list("pk", flat=True)))
        self.message_user(
            request,
            ngettext("%(count)d job resumed.", "%(count)d jobs resumed.", count) % {"count": count},
            messages.SUCCESS,
        )

"""Console for the points engine: the policy (one row), earning rules by priority, refunds (read-only)."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from simple_history.admin import SimpleHistoryAdmin

from members.console import ScopedRelatedFieldListFilter, StoreScopedAdminMixin
from members.errors import LoyaltyError
from members.models import Member, PurchaseChannel
from points.models import (
    EarningRule,
    MemberIdentifier,
    PointsGrantJob,
    PointsPolicy,
    PurchaseCheckout,
    PurchaseRefund,
)
from points.selectors import earning_rule_preview
from points.services.grants import points_grant_job_create


class PointsPolicyForm(forms.ModelForm):
    earning_statuses = forms.TypedMultipleChoiceField(
        label=_("member statuses that earn"),
        choices=Member.Status.choices,
        widget=forms.CheckboxSelectMultiple,
        required=False,
    )
    spending_statuses = forms.TypedMultipleChoiceField(
        label=_("member statuses that spend"),
        choices=Member.Status.choices,
        widget=forms.CheckboxSelectMultiple,
        required=False,
    )
    member_match_order = forms.CharField(
        label=_("POS member matching order"),
        help_text=_("Comma-separated, tried in this order: %(choices)s.")
        % {"choices": ", ".join(MemberIdentifier.values)},
    )

    class Meta:
        model = PointsPolicy
        fields = (
            "checkout_points",
            "checkout_value",
            "max_points_share_percent",
            "pending_days",
            "multiplier_stacking",
            "earning_statuses",
            "spending_statuses",
            "expiry_mode",
            "expiry_days",
            "expiry_months",
            "expiry_month",
            "expiry_day",
            "refund_policy",
            "member_match_order",
        )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        order = self.initial.get("member_match_order")
        if isinstance(order, list):
            self.initial["member_match_order"] = ", ".join(order)

    def clean_member_match_order(self):
        return [part.strip() for part in self.cleaned_data["member_match_order"].split(",") if part.strip()]


@admin.register(PointsPolicy)
class PointsPolicyAdmin(SimpleHistoryAdmin):
    """The singleton: the list goes straight to the one row; it can't be added twice or deleted."""

    form = PointsPolicyForm
    fieldsets = (
        (_("Points at checkout"), {"fields": (("checkout_points", "checkout_value"), "max_points_share_percent")}),
        (_("Earning"), {"fields": ("pending_days", "multiplier_stacking", "earning_statuses", "spending_statuses")}),
        (
            _("Expiry"),
            {"fields": ("expiry_mode", "expiry_days", "expiry_months", ("expiry_month", "expiry_day"))},
        ),
        (_("Refunds and POS"), {"fields": ("refund_policy", "member_match_order")}),
    )

    def has_add_permission(self, request):
        return super().has_add_permission(request) and not PointsPolicy.objects.exists()

    def has_delete_permission(self, request, obj=None):
        return False

    def changelist_view(self, request, extra_context=None):
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        policy = PointsPolicy.load()
        return HttpResponseRedirect(reverse("admin:points_pointspolicy_change", args=[policy.pk]))


class EarningRuleForm(forms.ModelForm):
    channels = forms.TypedMultipleChoiceField(
        label=_("channels"),
        choices=PurchaseChannel.choices,
        widget=forms.CheckboxSelectMultiple,
        required=False,
        help_text=_("None ticked means every channel."),
    )
    weekdays = forms.TypedMultipleChoiceField(
        label=_("weekdays"),
        choices=[
            (0, _("Monday")),
            (1, _("Tuesday")),
            (2, _("Wednesday")),
            (3, _("Thursday")),
            (4, _("Friday")),
            (5, _("Saturday")),
            (6, _("Sunday")),
        ],
        coerce=int,
        widget=forms.CheckboxSelectMultiple,
        required=False,
        help_text=_("None ticked means every day."),
    )

    class Meta:
        model = EarningRule
        fields = (
            "name",
            "kind",
            "priority",
            "stop_further_rules",
            "is_active",
            "valid_from",
            "valid_until",
            "weekdays",
            "birthday_month_only",
            "member_day",
            "stores",
            "channels",
            "tiers",
            *EarningRule.PARAMETER_FIELDS,
            "rounding",
        )

    def clean(self):
        """With the preview button, show what the rule would have granted instead of saving it."""
        cleaned = super().clean()
        if "_preview" not in self.data or self.errors:
            return cleaned
        rule = self.instance
        for name, value in cleaned.items():
            if name not in ("stores", "tiers"):
                setattr(rule, name, value)
        preview = earning_rule_preview(
            rule=rule,
            now=timezone.now(),
            store_ids=[store.pk for store in cleaned.get("stores") or ()],
            tier_ids=[tier.pk for tier in cleaned.get("tiers") or ()],
        )
        self.preview = preview
        figures = _(
            "Preview, nothing saved: over the last %(days)d days this rule would have granted %(points)d points "
            "on %(purchases)d purchases to %(members)d members, adding %(liability)s of liability."
        ) % {
            "days": preview.days,
            "points": preview.points,
            "purchases": preview.purchases,
            "members": preview.members,
            "liability": preview.liability,
        }
        raise ValidationError([figures, *preview.notes], code="preview")


@admin.register(EarningRule)
class EarningRuleAdmin(SimpleHistoryAdmin):
    """Rules in the order the pipeline runs them within a stage (base rate, tier, multipliers, bonuses)."""

    form = EarningRuleForm
    list_display = ("priority", "name", "kind", "is_active", "stop_further_rules", "valid_from", "valid_until")
    list_display_links = ("name",)
    list_filter = ("kind", "is_active", "stop_further_rules", "stores", "tiers")
    search_fields = ("name", "category", "sku")
    ordering = ("priority",)
    filter_horizontal = ("stores", "tiers")
    fieldsets = (
        (None, {"fields": ("name", "kind", "priority", "stop_further_rules", "is_active")}),
        (_("When"), {"fields": (("valid_from", "valid_until"), "weekdays", "birthday_month_only", "member_day")}),
        (_("Where and who"), {"fields": ("stores", "channels", "tiers")}),
        (
            _("Points"),
            {
                "fields": (
                    ("amount_per_unit", "points_per_unit"),
                    "rounding",
                    "multiplier",
                    "bonus_points",
                    "category",
                    "sku",
                    "max_points_per_purchase",
                )
            },
        ),
        (_("Behaviour"), {"fields": ("behaviour_event", "max_times_per_day", "max_times_lifetime")}),
    )


class ReadOnlyAdminMixin:
    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(PurchaseRefund)
class PurchaseRefundAdmin(ReadOnlyAdminMixin, StoreScopedAdminMixin, admin.ModelAdmin):
    """Refunds of the staff member's store, as the POS posted them (recorded by the refund service)."""

    store_scope_field = "purchase__store"
    list_display = (
        "external_id",
        "purchase",
        "amount",
        "points_returned",
        "points_reversed",
        "points_pending_cancelled",
        "points_forgiven",
        "points_debt_recorded",
        "created_at",
    )
    list_select_related = ("purchase", "purchase__store")
    list_filter = (("purchase__store", ScopedRelatedFieldListFilter),)
    search_fields = ("external_id", "purchase__external_id")
    ordering = ("-created_at", "-pk")
    show_full_result_count = False
    exclude = ("request_hash",)


@admin.register(PurchaseCheckout)
class PurchaseCheckoutAdmin(ReadOnlyAdminMixin, StoreScopedAdminMixin, admin.ModelAdmin):
    """What each checkout spent and earned, with the rules that priced it."""

    store_scope_field = "purchase__store"
    list_display = ("purchase", "points_spent", "points_earned", "earn_is_pending", "earn_expires_at", "created_at")
    list_select_related = ("purchase", "purchase__store")
    list_filter = (("purchase__store", ScopedRelatedFieldListFilter), "earn_is_pending")
    search_fields = ("purchase__external_id",)
    ordering = ("-created_at", "-pk")
    show_full_result_count = False
    exclude = ("request_hash", "earn_lot", "spend_entry")


class PointsGrantJobForm(forms.ModelForm):
    member_file = forms.FileField(
        label=_("CSV file"),
        required=False,
        help_text=_("Phones or member numbers in the first column (UTF-8); added to the list above."),
    )

    class Meta:
        model = PointsGrantJob
        fields = ("audience", "member_list", "tier", "tag", "points", "reason")
        widgets = {"member_list": forms.Textarea(attrs={"rows": 6})}

    def clean(self):
        cleaned = super().clean()
        upload = cleaned.get("member_file")
        if upload:
            try:
                text = upload.read().decode("utf-8-sig")
            except UnicodeDecodeError:
                raise ValidationError({"member_file": _("The file is not UTF-8 text.")}) from None
            cleaned["member_list"] = "\n".join(part for part in (cleaned.get("member_list", ""), text) if part)
        return cleaned


@admin.register(PointsGrantJob)
class PointsGrantJobAdmin(admin.ModelAdmin):
    """Bulk grants: staff with `points.grant_points` start one; progress and row errors show on its page."""

    form = PointsGrantJobForm
    list_display = ("pk", "audience", "points", "reason", "status", "members_done", "members_total",
                    "members_granted", "created_by", "created_at")  # fmt: skip
    list_filter = ("status", "audience")
    ordering = ("-pk",)
    readonly_fields = ("status", "members_total", "members_done", "members_granted", "row_errors_display",
                       "created_by", "created_at", "started_at", "finished_at")  # fmt: skip

    def _may_grant(self, request):
        return request.user.has_perm("points.grant_points")

    def has_view_permission(self, request, obj=None):
        return self._may_grant(request)

    def has_add_permission(self, request):
        return self._may_grant(request)

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_module_permission(self, request):
        return self._may_grant(request)

    def get_fields(self, request, obj=None):
        if obj is None:
            return ("audience", "member_list", "member_file", "tier", "tag", "points", "reason")
        return ("audience", "member_list", "tier", "tag", "points", "reason", *self.readonly_fields)

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ()
        return ("audience", "member_list", "tier", "tag", "points", "reason", *self.readonly_fields)

    @admin.display(description=_("row errors"))
    def row_errors_display(self, obj):
        if not obj.row_errors:
            return "-"
        return "; ".join(str(_("row %(row)s (%(value)s): %(error)s") % error) for error in obj.row_errors[:200])

    def save_model(self, request, obj, form, change):
        try:
            job = points_grant_job_create(
                created_by=request.user,
                audience=obj.audience,
                member_list=form.cleaned_data.get("member_list", ""),
                tier_id=obj.tier_id,
                tag_id=obj.tag_id,
                points=obj.points,
                reason=obj.reason,
                now=timezone.now(),
            )
        except LoyaltyError as error:
            self.message_user(request, str(error.message), level=messages.ERROR)
            raise PermissionDenied from error
        obj.pk = job.pk
        obj.created_at = job.created_at
        obj.created_by = job.created_by

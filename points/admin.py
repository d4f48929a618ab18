"""Console for the points engine: the policy (one row), earning rules by priority, refunds (read-only)."""

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from simple_history.admin import SimpleHistoryAdmin

from members.console import ScopedRelatedFieldListFilter, StoreScopedAdminMixin
from members.models import Member, PurchaseChannel
from points.models import EarningRule, MemberIdentifier, PointsPolicy, PurchaseCheckout, PurchaseRefund


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

"""Console for the points policy: one row, edited in place."""

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils.functional import lazy
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from members.console import ConsoleHistoryAdmin
from members.models import Member
from points.models import (
    MemberIdentifier,
    PointsPolicy,
)


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
        # Formatted when shown, in the staff member's language: `%` on a lazy text would fix it in English at import.
        help_text=lazy(
            lambda: (
                gettext("Comma-separated, tried in this order: %(choices)s.")
                % {"choices": ", ".join(MemberIdentifier.values)}
            ),
            str,
        )(),
    )

    class Meta:
        model = PointsPolicy
        fields = (
            "checkout_points",
            "checkout_value",
            "max_points_share_percent",
            "pending_days",
            "multiplier_stacking",
            "max_points_per_purchase",
            "items_tolerance",
            "item_bonus_cap",
            "earning_statuses",
            "spending_statuses",
            "expiry_mode",
            "expiry_days",
            "expiry_months",
            "expiry_month",
            "expiry_day",
            "reminder_days",
            "refund_policy",
            "member_match_order",
            "mini_program_store",
        )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        order = self.initial.get("member_match_order")
        if isinstance(order, list):
            self.initial["member_match_order"] = ", ".join(order)

    def clean_member_match_order(self):
        return [part.strip() for part in self.cleaned_data["member_match_order"].split(",") if part.strip()]


@admin.register(PointsPolicy)
class PointsPolicyAdmin(ConsoleHistoryAdmin):
    """The singleton: the list goes straight to the one row; it can't be added twice or deleted."""

    history_revert_allowed = True  # configuration: a revert is an edit by staff who may change it
    form = PointsPolicyForm
    fieldsets = (
        (_("Points at checkout"), {"fields": (("checkout_points", "checkout_value"), "max_points_share_percent")}),
        (_("Earning"), {"fields": ("pending_days", "multiplier_stacking", "earning_statuses", "spending_statuses")}),
        # What a till's cart may claim: bounds against carts whose items or amounts mint points.
        (_("Limits per purchase"), {"fields": ("max_points_per_purchase", "items_tolerance", "item_bonus_cap")}),
        (
            _("Expiry"),
            {
                "fields": (
                    "expiry_mode",
                    "expiry_days",
                    "expiry_months",
                    ("expiry_month", "expiry_day"),
                    "reminder_days",
                )
            },
        ),
        (_("Refunds and POS"), {"fields": ("refund_policy", "member_match_order")}),
        (_("Mini program"), {"fields": ("mini_program_store",)}),
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

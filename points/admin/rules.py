"""Console for earning rules, evaluated by explicit priority, with a preview before saving."""

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from infra.translation_admin import TranslatedFieldsAdminMixin
from members.console import ConsoleHistoryAdmin
from members.models import PurchaseChannel
from points.models import (
    EarningRule,
)
from points.selectors import earning_rule_preview


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
class EarningRuleAdmin(TranslatedFieldsAdminMixin, ConsoleHistoryAdmin):
    """Rules in the order the pipeline runs them within a stage (base rate, tier, multipliers, bonuses)."""

    history_revert_allowed = True  # configuration: a revert is an edit by staff who may change it
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

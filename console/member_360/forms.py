"""The member page's action forms. Money-like actions carry a reason and a one-use key (a second click of the same
form is answered with the first result by the ledger's idempotency key)."""

import uuid

from django import forms
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from coupons.models import CouponTemplate
from members.admin.member import AdjustPointsForm
from members.admin.tiers import AdjustStoredValueForm
from members.models import Tag, Tier

REASON_HELP = _("Required; kept with the change in the audit trail.")


def new_key() -> str:
    return uuid.uuid4().hex


class IssueCouponForm(forms.Form):
    template = forms.ModelChoiceField(label=_("coupon template"), queryset=CouponTemplate.objects.none())
    idempotency_key = forms.CharField(widget=forms.HiddenInput, max_length=64)

    def __init__(self, *args, store_id=None, **kwargs):
        super().__init__(*args, **kwargs)
        templates = CouponTemplate.objects.filter(is_active=True).order_by("pk")
        if store_id is not None:  # a store's staff give coupons usable in their store
            templates = templates.filter(Q(stores__isnull=True) | Q(stores=store_id)).distinct()
        self.fields["template"].queryset = templates


class TagsForm(forms.Form):
    tags = forms.ModelMultipleChoiceField(
        label=_("tags"), queryset=Tag.objects.order_by("name"), required=False, widget=forms.CheckboxSelectMultiple
    )


class TierOverrideForm(forms.Form):
    tier = forms.ModelChoiceField(label=_("tier"), queryset=Tier.objects.order_by("rank"))
    until = forms.DateTimeField(
        label=_("override until"), widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")
    )
    reason = forms.CharField(label=_("reason"), max_length=255, help_text=REASON_HELP)

    def clean_until(self):
        until = self.cleaned_data["until"]
        if until <= timezone.now():
            raise forms.ValidationError(_("Choose an end date in the future."), code="past")
        return until


class StatusReasonForm(forms.Form):
    reason = forms.CharField(label=_("reason"), max_length=80, help_text=REASON_HELP)


class AnonymiseForm(forms.Form):
    member_number = forms.CharField(
        label=_("member number"), max_length=10, help_text=_("Type the member's number to confirm.")
    )
    reason = forms.CharField(
        label=_("reason"), max_length=255, help_text=_("Required: the member's request (date, channel, reference).")
    )

    def __init__(self, *args, member, **kwargs):
        super().__init__(*args, **kwargs)
        self.member = member

    def clean_member_number(self):
        number = self.cleaned_data["member_number"].strip()
        if number != self.member.member_number:
            raise forms.ValidationError(_("This is not the member's number."), code="mismatch")
        return number


__all__ = [
    "AdjustPointsForm",
    "AdjustStoredValueForm",
    "AnonymiseForm",
    "IssueCouponForm",
    "StatusReasonForm",
    "TagsForm",
    "TierOverrideForm",
    "new_key",
]

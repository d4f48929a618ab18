"""Post-payment rules: pay, then get a coupon for next time."""

from django import forms
from django.contrib import admin
from django.db.models import Count
from django.utils.translation import gettext_lazy as _

from coupons.models import PostPaymentRule
from members.console import ConsoleHistoryAdmin, store_members_q
from members.models import PurchaseChannel


class PostPaymentRuleForm(forms.ModelForm):
    channels = forms.MultipleChoiceField(
        label=_("channels"), choices=PurchaseChannel.choices, widget=forms.CheckboxSelectMultiple, required=False
    )

    class Meta:
        model = PostPaymentRule
        fields = ("name", "is_active", "template", "min_paid_amount", "stores", "channels", "starts_at", "ends_at")


@admin.register(PostPaymentRule)
class PostPaymentRuleAdmin(ConsoleHistoryAdmin):
    """ "Pay, then get a coupon for next time": each purchase that meets a live rule issues its coupon once."""

    history_revert_allowed = True  # configuration: a revert is an edit by staff who may change it
    form = PostPaymentRuleForm
    list_display = ("name", "template", "min_paid_amount", "is_active", "starts_at", "ends_at", "coupons_issued")
    list_filter = ("is_active",)
    search_fields = ("name", "template__name")
    autocomplete_fields = ("template",)
    filter_horizontal = ("stores",)

    def get_queryset(self, request):
        issued = Count("coupons", filter=store_members_q(request, "coupons__member"))
        return super().get_queryset(request).select_related("template").annotate(issued=issued)

    @admin.display(description=_("coupons issued"), ordering="issued")
    def coupons_issued(self, obj):
        return obj.issued

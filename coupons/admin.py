"""Console for coupons: templates (designed by the merchant) and the coupons issued from them (read-only)."""

from django import forms
from django.contrib import admin, messages
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from simple_history.admin import SimpleHistoryAdmin

from coupons.codes import is_valid_code, normalize_code
from coupons.models import Coupon, CouponTemplate
from coupons.pricing import discount_for
from coupons.services import coupons_void
from members.console import ScopedRelatedFieldListFilter, StoreScopedAdminMixin
from members.models import PurchaseChannel


class CommaSeparatedField(forms.CharField):
    """A list of names typed as `shoes, bags`, stored as a JSON list."""

    def prepare_value(self, value):
        if isinstance(value, list | tuple):
            return ", ".join(value)
        return value

    def to_python(self, value):
        if isinstance(value, list | tuple):
            return list(value)
        text = super().to_python(value)
        return [part.strip() for part in text.split(",") if part.strip()]


class CouponTemplateForm(forms.ModelForm):
    channels = forms.MultipleChoiceField(
        label=_("channels"), choices=PurchaseChannel.choices, widget=forms.CheckboxSelectMultiple, required=False
    )
    categories = CommaSeparatedField(
        label=_("categories"), required=False, help_text=_("Separate with commas. Empty means any category.")
    )
    skus = CommaSeparatedField(
        label=_("SKUs"), required=False, help_text=_("Separate with commas. Empty means any SKU.")
    )

    class Meta:
        model = CouponTemplate
        fields = (
            "name",
            "description",
            "is_active",
            "kind",
            "amount",
            "percent",
            "max_discount",
            "min_spend",
            "gift_description",
            "stores",
            "channels",
            "categories",
            "skus",
            "stacks_with_points",
            "valid_from",
            "valid_until",
            "valid_days",
            "is_claimable",
            "claim_starts_at",
            "claim_ends_at",
            "quota",
            "per_member_limit",
            "audience",
            "tiers",
            "tags",
            "code_prefix",
            "code_length",
            "refund_policy",
        )


@admin.register(CouponTemplate)
class CouponTemplateAdmin(SimpleHistoryAdmin):
    """Templates are brand-wide; `clean()` refusals (percent above 100, quota below issued, ...) show on the form."""

    form = CouponTemplateForm
    list_display = (
        "name",
        "kind",
        "offer",
        "issued",
        "per_member_limit",
        "claim_starts_at",
        "claim_ends_at",
        "is_active",
    )
    list_filter = ("kind", "is_active", "is_claimable", "audience")
    search_fields = ("name",)
    ordering = ("-pk",)
    readonly_fields = ("issued_count", "created_at", "updated_at")
    filter_horizontal = ("stores", "tiers", "tags")
    fieldsets = (
        (None, {"fields": ("name", "description", "is_active")}),
        (_("Discount"), {"fields": ("kind", "amount", "percent", "max_discount", "min_spend", "gift_description")}),
        (_("Where it applies"), {"fields": ("stores", "channels", "categories", "skus", "stacks_with_points")}),
        (_("Validity"), {"fields": ("valid_from", "valid_until", "valid_days")}),
        (
            _("Claiming and stock"),
            {
                "fields": (
                    "is_claimable",
                    "claim_starts_at",
                    "claim_ends_at",
                    "quota",
                    "issued_count",
                    "per_member_limit",
                )
            },
        ),
        (_("Audience"), {"fields": ("audience", "tiers", "tags")}),
        (_("Codes and refunds"), {"fields": ("code_prefix", "code_length", "refund_policy")}),
        (_("Record"), {"fields": ("created_at", "updated_at")}),
    )

    @admin.display(description=_("offer"))
    def offer(self, obj):
        return discount_for(obj, 0).label

    @admin.display(description=_("issued / quota"), ordering="issued_count")
    def issued(self, obj):
        return f"{obj.issued_count} / {obj.quota if obj.quota is not None else '∞'}"


@admin.register(Coupon)
class CouponAdmin(StoreScopedAdminMixin, admin.ModelAdmin):
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
        "void_reason",
    )
    readonly_fields = fields

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_void_permission(self, request):
        return request.user.has_perm("coupons.void_coupon")

    def get_exact_lookup_q(self, request, search_term):
        code = normalize_code(search_term)
        return Q(code=code) if is_valid_code(code) else None

    @admin.action(description=_("Void selected coupons"), permissions=("void",))
    def void_selected(self, request, queryset):
        selected = list(queryset.values_list("pk", flat=True))
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

"""Console for tiers and stored value: the tier policy (with a preview before saving), tier thresholds and
benefits, the tier history and manual overrides, top-up offers, the stored-value ledger and its liability."""

from django import forms
from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from simple_history.admin import SimpleHistoryAdmin

from members.admin.member import RecentEntriesFormSet
from members.admin.program import TierAdmin as BaseTierAdmin
from members.console import StoreScopedAdminMixin, staff_store_id
from members.errors import LoyaltyError
from members.models import Member, StoredValueEntry, Tier, TierHistory, TierPolicy, TopUpOffer
from members.services.tiers import tier_override_set, tier_policy_save
from members.stored_value_selectors import stored_value_outstanding
from members.tier_selectors import money_display, tier_policy_preview


class ReadOnlyMixin:
    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class PreviewMixin:
    """A "Preview the effect on members" button on the change form: the posted (unsaved) values are validated and
    run through the evaluation without writing; the preview page can then save them."""

    change_form_template = "admin/members/tier_change_form.html"

    def preview_inputs(self, instance):
        """Return (policy, tiers) to preview with the unsaved instance in place."""
        raise NotImplementedError

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        return [
            path(
                "<path:object_id>/preview/",
                self.admin_site.admin_view(self.preview_view),
                name="{}_{}_preview".format(*info),
            ),
            *super().get_urls(),
        ]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        info = self.opts.app_label, self.opts.model_name
        extra_context = {
            **(extra_context or {}),
            "preview_url": reverse("admin:{}_{}_preview".format(*info), args=[object_id]),
        }
        return super().change_view(request, object_id, form_url, extra_context)

    def preview_view(self, request, object_id):
        obj = self.get_object(request, unquote(object_id))
        if obj is None or request.method != "POST" or not self.has_change_permission(request, obj):
            raise PermissionDenied
        form = self.get_form(request, obj, change=True)(request.POST, request.FILES, instance=obj)
        errors, rows = [], []
        if form.is_valid():
            policy, tiers = self.preview_inputs(form.instance)
            try:
                rows = tier_policy_preview(now=timezone.now(), policy=policy, tiers=tiers)
            except ValidationError as exc:
                errors = exc.messages
        else:
            errors = [f"{name}: {' '.join(messages)}" if name != "__all__" else " ".join(messages)
                      for name, messages in form.errors.items()]  # fmt: skip
        info = self.opts.app_label, self.opts.model_name
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": _("Preview: %(object)s") % {"object": obj},
            "rows": rows,
            "errors": errors,
            "posted": [
                (k, v)
                for k in request.POST
                for v in request.POST.getlist(k)
                if k not in ("csrfmiddlewaretoken", "_preview")
            ],
            "change_url": reverse("admin:{}_{}_change".format(*info), args=[obj.pk]),
        }
        return TemplateResponse(request, "admin/members/tier_preview.html", context)


@admin.register(TierPolicy)
class TierPolicyAdmin(PreviewMixin, SimpleHistoryAdmin):
    """The singleton policy: the list goes straight to the one row."""

    fieldsets = (
        (_("Score"), {"fields": ("window_days", "weight_spend", "weight_purchases", "weight_points",
                                 "weight_active_days", "weight_stores")}),
        (_("Reviews"), {"fields": ("evaluation_interval_hours", "grace_period_days", "last_evaluated_at")}),
    )  # fmt: skip
    readonly_fields = ("last_evaluated_at",)

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def changelist_view(self, request, extra_context=None):
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        return HttpResponseRedirect(reverse("admin:members_tierpolicy_change", args=[TierPolicy.load().pk]))

    def save_model(self, request, obj, form, change):
        tier_policy_save(policy=obj)

    def preview_inputs(self, instance):
        return instance, list(Tier.objects.order_by("rank"))


admin.site.unregister(Tier)


@admin.register(Tier)
class TierAdmin(PreviewMixin, BaseTierAdmin):
    list_display = ("code", "name", "rank", "min_score_to_reach", "min_score_to_keep", "earn_multiplier",
                    "discount_percent", "free_shipping")  # fmt: skip
    fieldsets = (
        (None, {"fields": ("code", "name", "rank")}),
        (_("Qualification"), {"fields": ("min_score_to_reach", "min_score_to_keep")}),
        (_("Benefits"), {"fields": ("earn_multiplier", "discount_percent", "birthday_multiplier", "free_shipping",
                                    "monthly_gift_description")}),
    )  # fmt: skip

    def preview_inputs(self, instance):
        tiers = [tier for tier in Tier.objects.order_by("rank") if tier.pk != instance.pk]
        return TierPolicy.load(), [*tiers, instance]


class TierOverrideForm(forms.ModelForm):
    note = forms.CharField(label=_("reason"), max_length=255, help_text=_("Required; kept in the tier history."))
    override_until = forms.SplitDateTimeField(
        label=_("until"), widget=admin.widgets.AdminSplitDateTime,
        help_text=_("Reviews leave the member in this tier until then."),
    )  # fmt: skip
    new_tier = forms.ModelChoiceField(label=_("tier"), queryset=Tier.objects.order_by("rank"))

    class Meta:
        model = TierHistory
        fields = ("member", "new_tier", "override_until", "note")

    def clean_override_until(self):
        until = self.cleaned_data["override_until"]
        if until <= timezone.now():
            raise forms.ValidationError(_("Choose an end date in the future."), code="past")
        return until


@admin.register(TierHistory)
class TierHistoryAdmin(StoreScopedAdminMixin, admin.ModelAdmin):
    """Every tier move. "Add" sets a member's tier by hand (needs the override permission)."""

    store_scope_field = "member__home_store"
    list_display = ("created_at", "member", "old_tier", "new_tier", "score", "reason", "note", "created_by")
    list_select_related = ("member", "old_tier", "new_tier", "created_by")
    list_filter = ("reason", "new_tier")
    search_fields = ("=member__member_number", "=member__phone")
    ordering = ("-created_at", "-pk")
    show_full_result_count = False
    raw_id_fields = ("member",)

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = TierOverrideForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fields(self, request, obj=None):
        if obj is None:
            return ("member", "new_tier", "override_until", "note")
        return ("member", "old_tier", "new_tier", "score", "reason", "note", "override_until", "created_by",
                "created_at")  # fmt: skip

    def get_readonly_fields(self, request, obj=None):
        return () if obj is None else self.get_fields(request, obj)

    def has_add_permission(self, request):
        return request.user.has_perm("members.override_tier")

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        try:
            entry = tier_override_set(
                member_id=obj.member_id, tier_id=obj.new_tier_id, until=obj.override_until, reason=obj.note,
                created_by=request.user, now=timezone.now(),
            )  # fmt: skip
        except LoyaltyError as exc:
            raise PermissionDenied(exc.message) from exc
        obj.pk, obj._state.adding = entry.pk, False


@admin.register(TopUpOffer)
class TopUpOfferAdmin(SimpleHistoryAdmin):
    list_display = ("name", "pay_amount", "bonus_amount", "is_active", "valid_from", "valid_until", "sort_order")
    list_filter = ("is_active",)
    ordering = ("sort_order", "pay_amount")


@admin.register(StoredValueEntry)
class StoredValueEntryAdmin(ReadOnlyMixin, StoreScopedAdminMixin, admin.ModelAdmin):
    """The stored-value ledger (append-only); the title shows the outstanding balance, a liability."""

    store_scope_field = "member__home_store"
    list_display = ("created_at", "member", "kind", "amount", "balance_after", "provider", "transaction_id",
                    "created_by")  # fmt: skip
    list_select_related = ("member", "created_by")
    list_filter = ("kind",)
    search_fields = ("=member__member_number", "=member__phone", "=transaction_id")
    ordering = ("-created_at", "-pk")
    show_full_result_count = False

    def changelist_view(self, request, extra_context=None):
        outstanding = stored_value_outstanding(members=_scoped_members(request))
        title = _("Stored value — outstanding balance %(total)s held by %(count)d members") % {
            "total": money_display(outstanding.total, places=2), "count": outstanding.members,
        }  # fmt: skip
        return super().changelist_view(request, {**(extra_context or {}), "title": title})


def _scoped_members(request):
    store_id = staff_store_id(request.user)
    return Member.objects.all() if store_id is None else Member.objects.filter(home_store_id=store_id)


class StoredValueEntryInline(ReadOnlyMixin, admin.TabularInline):
    model = StoredValueEntry
    fk_name = "member"
    fields = ("created_at", "kind", "amount", "balance_after", "provider", "transaction_id", "reason")
    readonly_fields = fields
    ordering = ("-created_at", "-pk")
    extra = 0
    max_num = 0
    can_delete = False
    formset = RecentEntriesFormSet
    verbose_name_plural = _("Stored value (latest entries; the newest balance after is the balance)")


class TierHistoryInline(ReadOnlyMixin, admin.TabularInline):
    model = TierHistory
    fk_name = "member"
    fields = ("created_at", "old_tier", "new_tier", "score", "reason", "note", "created_by")
    readonly_fields = fields
    ordering = ("-created_at", "-pk")
    extra = 0
    max_num = 0
    can_delete = False
    formset = RecentEntriesFormSet
    verbose_name_plural = _("Tier history (latest)")


# The member page (members/admin/member.py) gets the two read-only ledgers of this issue as inlines.
_member_admin = admin.site._registry[Member].__class__
_member_admin.inlines = (*_member_admin.inlines, TierHistoryInline, StoredValueEntryInline)

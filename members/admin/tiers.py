"""Console for tiers and stored value: the tier policy (with a preview before saving), tier thresholds and
benefits, the tier history and manual overrides, top-up offers, the stored-value ledger and its liability,
and manual stored-value adjustments (from the member page)."""

import uuid

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from infra.errors import LoyaltyError
from infra.translation_admin import TranslatedFieldsAdminMixin
from members.admin.member import RecentEntriesFormSet
from members.admin.program import TierAdmin as BaseTierAdmin
from members.console import (
    ConsoleHistoryAdmin,
    ConsoleModelAdmin,
    ConsoleTabularInline,
    ReadOnlyAdminMixin,
    StoreScopedAdminMixin,
    staff_store_id,
)
from members.models import Member, StoredValueEntry, Tier, TierHistory, TierPolicy, TopUpOffer
from members.selectors.stored_value import stored_value_outstanding
from members.selectors.tiers import money_display, tier_policy_preview
from members.services.stored_value import stored_value_adjust
from members.services.tiers import tier_override_set, tier_policy_save


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
            "original": obj,  # Unfold's header trail names the object previewed
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


class CategoryListField(forms.CharField):
    """A list of item categories typed as `gift card, sale`, stored as a JSON list."""

    def prepare_value(self, value):
        return ", ".join(value) if isinstance(value, list | tuple) else value

    def to_python(self, value):
        if isinstance(value, list | tuple):
            return list(value)
        return [part.strip() for part in (super().to_python(value) or "").split(",") if part.strip()]


class TierPolicyForm(forms.ModelForm):
    discount_excluded_categories = CategoryListField(
        label=_("categories without tier discount"),
        required=False,
        help_text=TierPolicy._meta.get_field("discount_excluded_categories").help_text,
    )

    class Meta:
        model = TierPolicy
        fields = ("discount_excluded_categories",)  # the admin adds the fieldsets' fields


@admin.register(TierPolicy)
class TierPolicyAdmin(PreviewMixin, ConsoleHistoryAdmin):
    """The singleton policy: the list goes straight to the one row."""

    form = TierPolicyForm
    history_revert_allowed = True  # configuration: a revert is an edit by staff who may change it
    fieldsets = (
        (_("Score"), {"fields": ("window_days", "weight_spend", "weight_purchases", "weight_points",
                                 "weight_active_days", "weight_stores")}),
        (_("Reviews"), {"fields": ("evaluation_interval_hours", "grace_period_days", "last_evaluated_at")}),
        (_("Tier discount"), {
            "fields": ("discount_applies", "discount_max_amount", "discount_excluded_categories"),
            "description": _(
                "Each tier's discount percentage is set on the tier. At checkout the till's own discount comes off "
                "first, then the tier discount and the coupon in the order chosen here; points and stored value pay "
                "what is left, and points are earned on what is paid."
            ),
        }),
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
                    "discount_percent", "birthday_multiplier")  # fmt: skip
    fieldsets = (
        (None, {"fields": ("code", "name", "rank")}),
        (_("Qualification"), {"fields": ("min_score_to_reach", "min_score_to_keep")}),
        (_("Benefits"), {"fields": ("earn_multiplier", "discount_percent", "birthday_multiplier",
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
class TierHistoryAdmin(StoreScopedAdminMixin, ConsoleModelAdmin):
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
class TopUpOfferAdmin(TranslatedFieldsAdminMixin, ConsoleHistoryAdmin):
    history_revert_allowed = True  # configuration: a revert is an edit by staff who may change it
    list_display = ("name", "pay_amount", "bonus_amount", "tier", "tier_duration_value", "tier_duration_unit",
                    "is_active", "valid_from", "valid_until", "sort_order")  # fmt: skip
    list_select_related = ("tier",)
    list_filter = ("is_active",)
    ordering = ("sort_order", "pay_amount")


class AdjustStoredValueForm(forms.Form):
    amount = forms.DecimalField(
        label=_("amount"), max_digits=12, decimal_places=2, min_value=-10**9, max_value=10**9,
        help_text=_("Positive to add stored value, negative to remove it."),
    )  # fmt: skip
    reason = forms.CharField(label=_("reason"), max_length=255, help_text=_("Required; kept on the ledger entry."))
    idempotency_key = forms.CharField(widget=forms.HiddenInput, max_length=64)

    def clean_amount(self):
        amount = self.cleaned_data["amount"]
        if amount == 0:
            raise forms.ValidationError(_("Enter an amount other than zero."), code="zero")
        return amount


@admin.register(StoredValueEntry)
class StoredValueEntryAdmin(ReadOnlyAdminMixin, StoreScopedAdminMixin, ConsoleModelAdmin):
    """The stored-value ledger (append-only); the title shows the outstanding balance, a liability."""

    store_scope_field = "member__home_store"
    list_display = ("created_at", "member", "kind", "amount", "balance_after", "provider", "transaction_id",
                    "created_by")  # fmt: skip
    list_select_related = ("member", "created_by")
    list_filter = ("kind",)
    search_fields = ("=member__member_number", "=member__phone", "=transaction_id")
    ordering = ("-created_at", "-pk")
    show_full_result_count = False
    exclude = ("reason",)  # shown as reason_shown: in the reader's language
    readonly_fields = ("reason_shown",)

    def get_urls(self):
        return [
            path(
                "adjust/<int:member_id>/",
                self.admin_site.admin_view(self.adjust_view),
                name="members_storedvalueentry_adjust",
            ),
            *super().get_urls(),
        ]

    def adjust_view(self, request, member_id):
        """Adjust a member's stored value by hand: needs members.adjust_stored_value and a reason."""
        member_admin = self.admin_site._registry[Member]
        member = member_admin.get_object(request, str(member_id))
        if member is None:
            return member_admin._get_obj_does_not_exist_redirect(request, member_admin.opts, str(member_id))
        if not has_adjust_stored_value_permission(request, member):
            raise PermissionDenied
        change_url = reverse("admin:members_member_change", args=[member.pk])
        if request.method == "POST":
            form = AdjustStoredValueForm(request.POST)
            if form.is_valid():
                try:
                    entry = stored_value_adjust(
                        member_id=member.pk, amount=form.cleaned_data["amount"], reason=form.cleaned_data["reason"],
                        created_by=request.user, now=timezone.now(),
                        idempotency_key=f"console:stored_value_adjust:{form.cleaned_data['idempotency_key']}",
                    )  # fmt: skip
                except LoyaltyError as exc:
                    self.message_user(request, exc.message, messages.ERROR)
                else:
                    self.message_user(
                        request,
                        _("Stored value adjusted by %(amount)s for %(member)s; the balance is now %(balance)s.")
                        % {"amount": f"{entry.amount:+}", "member": member,
                           "balance": money_display(entry.balance_after, places=2)},
                        messages.SUCCESS,
                    )  # fmt: skip
                    return HttpResponseRedirect(change_url)
        else:
            form = AdjustStoredValueForm(initial={"idempotency_key": uuid.uuid4().hex})
        context = {
            **self.admin_site.each_context(request),
            "title": _("Adjust stored value"),
            "subtitle": str(member),
            "opts": member_admin.opts,
            "original": member,
            "balance": money_display(member.stored_value_balance, places=2),
            "form": form,
            "change_url": change_url,
        }
        return TemplateResponse(request, "admin/members/adjust_stored_value.html", context)

    def changelist_view(self, request, extra_context=None):
        outstanding = stored_value_outstanding(members=_scoped_members(request))
        title = _("Stored value — outstanding balance %(total)s held by %(count)d members") % {
            "total": money_display(outstanding.total, places=2), "count": outstanding.members,
        }  # fmt: skip
        return super().changelist_view(request, {**(extra_context or {}), "title": title})


def _scoped_members(request):
    store_id = staff_store_id(request.user)
    return Member.objects.all() if store_id is None else Member.objects.filter(home_store_id=store_id)


class StoredValueEntryInline(ReadOnlyAdminMixin, ConsoleTabularInline):
    model = StoredValueEntry
    fk_name = "member"
    fields = ("created_at", "kind", "amount", "balance_after", "provider", "transaction_id", "reason_shown")
    readonly_fields = fields
    ordering = ("-created_at", "-pk")
    extra = 0
    max_num = 0
    can_delete = False
    formset = RecentEntriesFormSet
    verbose_name_plural = _("Stored value (latest entries; the newest balance after is the balance)")


class TierHistoryInline(ReadOnlyAdminMixin, ConsoleTabularInline):
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


def has_adjust_stored_value_permission(request, member) -> bool:
    if not request.user.has_perm("members.adjust_stored_value"):
        return False
    # Members of another store can be looked up brand-wide but are adjusted by their own store.
    return admin.site._registry[Member].is_in_store_scope(request, member)


@admin.display(description=_("stored value"))
def stored_value_display(model_admin, obj):
    return "—" if obj is None or obj.pk is None else money_display(obj.stored_value_balance, places=2)


@admin.display(description=_("stored value"))
def stored_value_and_adjust_link(model_admin, obj):
    url = reverse("admin:members_storedvalueentry_adjust", args=[obj.pk])
    return format_html(
        '{} &nbsp; <a class="button" id="adjust-stored-value-link" href="{}">{}</a>',
        stored_value_display(model_admin, obj), url, _("Adjust stored value"),
    )  # fmt: skip


def _member_fieldsets_with_stored_value(get_fieldsets):
    def wrapped(self, request, obj=None):
        adjustable = obj is not None and obj.pk is not None and has_adjust_stored_value_permission(request, obj)
        field = "stored_value_and_adjust_link" if adjustable else "stored_value_display"
        return (*get_fieldsets(self, request, obj), (_("Stored value"), {"fields": (field,)}))

    return wrapped


# The member page (members/admin/member.py) gets the two read-only ledgers of this issue as inlines, and a
# "Stored value" section with the balance and, for staff allowed to, the adjustment button.
_member_admin = admin.site._registry[Member].__class__
_member_admin.inlines = (*_member_admin.inlines, TierHistoryInline, StoredValueEntryInline)
_member_admin.stored_value_display = stored_value_display
_member_admin.stored_value_and_adjust_link = stored_value_and_adjust_link
_member_admin.readonly_fields = (*_member_admin.readonly_fields, "stored_value_display", "stored_value_and_adjust_link")
_member_admin.get_fieldsets = _member_fieldsets_with_stored_value(_member_admin.get_fieldsets)

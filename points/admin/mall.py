"""The points mall in the console: rewards (image, stock, early access, partner codes) and reward orders
(picked up at the till with the pickup code, or cancelled: both through the mall services)."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from infra.csv_uploads.forms import CsvUploadForm, csv_file_field
from infra.errors import LoyaltyError
from infra.translation_admin import TranslatedFieldsAdminMixin
from members.console import (
    ConsoleHistoryAdmin,
    ConsoleModelAdmin,
    ConsoleTabularInline,
    ScopedRelatedFieldListFilter,
    StoreScopedAdminMixin,
    staff_store_id,
)
from points.models import Reward, RewardEarlyAccess, RewardOrder, RewardPartnerCode
from points.services.mall import (
    PICKUP_CODE_LENGTH,
    pickup_code_normalize,
    reward_order_cancel,
    reward_order_fulfil,
    reward_partner_codes_import,
    reward_stock_add,
    reward_thumbnail_refresh,
)
from points.services.prizes import prize_collect

FULFIL_PERMISSION = "points.fulfil_rewardorder"
CANCEL_PERMISSION = "points.cancel_rewardorder"


# -- rewards ----------------------------------------------------------------------------------------------------
class RewardForm(forms.ModelForm):
    add_stock = forms.IntegerField(
        label=_("add to stock"),
        required=False,
        help_text=_("A negative number takes unredeemed stock away."),
    )

    class Meta:
        model = Reward
        fields = (
            "name", "description", "kind", "is_active", "sort_order", "image", "points_price", "cash_price",
            "stock_total", "per_member_limit", "tiers", "starts_at", "ends_at", "coupon_template",
            "stored_value_amount", "pickup_stores",
        )  # fmt: skip

    def clean(self):
        cleaned = super().clean()
        is_partner = cleaned.get("kind") == Reward.Kind.PARTNER_VOUCHER
        if is_partner and (cleaned.get("add_stock") or (self.instance.pk is None and cleaned.get("stock_total"))):
            field = "add_stock" if self.instance.pk else "stock_total"
            self.add_error(field, _("A partner voucher's stock is its pool of codes: upload codes to add stock."))
        add = cleaned.get("add_stock")
        if add and add < 0 and self.instance.pk and -add > self.instance.stock_remaining:
            self.add_error("add_stock", _("Only the stock left can be taken away."))
        return cleaned


class RewardEarlyAccessInline(ConsoleTabularInline):
    model = RewardEarlyAccess
    extra = 0
    verbose_name_plural = _("early access: opens earlier for a tier and every higher tier")


class PartnerCodeUploadForm(CsvUploadForm):
    file = csv_file_field(help_text=_("Columns: code, and optionally pin and valid_until."))


@admin.register(Reward)
class RewardAdmin(TranslatedFieldsAdminMixin, ConsoleHistoryAdmin):
    """Rewards are brand-wide; stock moves only through the services (conditional UPDATEs), never by editing."""

    history_revert_allowed = False  # price and stock move with orders and the stock service
    form = RewardForm
    inlines = (RewardEarlyAccessInline,)
    list_display = ("preview", "name", "kind", "price", "stock", "starts_at", "ends_at", "is_active", "sort_order")
    list_display_links = ("preview", "name")
    list_filter = ("kind", "is_active")
    search_fields = ("name",)
    ordering = ("sort_order", "pk")
    filter_horizontal = ("tiers", "pickup_stores")
    actions = ("upload_partner_codes",)

    def get_fieldsets(self, request, obj=None):
        stock = ("stock_total",) if obj is None else ("stock_total", "stock_remaining", "add_stock", "partner_pool")
        fieldsets = (
            (None, {"fields": ("name", "description", "kind", "is_active", "sort_order")}),
            (_("Image"), {"fields": ("image", "image_preview")}),
            (_("Price"), {"fields": ("points_price", "cash_price")}),
            (_("Stock and limits"), {"fields": (*stock, "per_member_limit")}),
            (_("Who and when"), {"fields": ("tiers", "starts_at", "ends_at")}),
            (_("What it gives"), {"fields": ("coupon_template", "stored_value_amount", "pickup_stores")}),
        )
        return self.translated_fieldsets(fieldsets)

    def get_readonly_fields(self, request, obj=None):
        fields = ["image_preview", "partner_pool"]
        if obj is not None:
            fields += ["stock_total", "stock_remaining"]
        return fields

    def save_model(self, request, obj, form, change):
        if not change:
            obj.stock_remaining = obj.stock_total
        super().save_model(request, obj, form, change)
        if change and form.cleaned_data.get("add_stock"):
            try:
                reward_stock_add(reward_id=obj.pk, quantity=form.cleaned_data["add_stock"])
            except LoyaltyError as exc:
                self.message_user(request, str(exc.message), messages.ERROR)
        if "image" in form.changed_data:
            reward_thumbnail_refresh(reward_id=obj.pk)

    @admin.display(description=_("image"))
    def preview(self, obj):
        if not obj.thumbnail:
            return "-"
        return format_html('<img src="{}" alt="" style="max-height:48px;max-width:48px">', obj.thumbnail.url)

    @admin.display(description=_("thumbnail"))
    def image_preview(self, obj):
        if obj is None or not obj.thumbnail:
            return "-"
        return format_html('<img src="{}" alt="" style="max-width:200px">', obj.thumbnail.url)

    @admin.display(description=_("price"), ordering="points_price")
    def price(self, obj):
        if obj.cash_price:
            return gettext("%(points)d points + %(cash)s") % {"points": obj.points_price, "cash": obj.cash_price}
        return gettext("%(points)d points") % {"points": obj.points_price}

    @admin.display(description=_("stock left / total"), ordering="stock_remaining")
    def stock(self, obj):
        return f"{obj.stock_remaining} / {obj.stock_total}"

    @admin.display(description=_("partner codes"))
    def partner_pool(self, obj):
        if obj is None or obj.kind != Reward.Kind.PARTNER_VOUCHER:
            return "-"
        codes = RewardPartnerCode.objects.filter(reward=obj)
        url = reverse("admin:points_reward_partner_codes", args=[obj.pk])
        return format_html(
            '{} <a href="{}">{}</a>',
            gettext("%(total)d codes, %(unused)d not given out.")
            % {"total": codes.count(), "unused": codes.filter(order__isnull=True).count()},
            url,
            gettext("Upload codes"),
        )

    # partner codes ----------------------------------------------------------------------------------------------
    def get_urls(self):
        return [
            path(
                "<int:reward_id>/partner-codes/",
                self.admin_site.admin_view(self.partner_codes_view),
                name="points_reward_partner_codes",
            ),
            *super().get_urls(),
        ]

    def has_partner_codes_permission(self, request):
        return self.has_change_permission(request)

    @admin.action(description=_("Upload partner codes…"), permissions=("partner_codes",))
    def upload_partner_codes(self, request, queryset):
        if queryset.count() != 1:
            self.message_user(request, gettext("Choose exactly one reward."), messages.WARNING)
            return None
        return HttpResponseRedirect(reverse("admin:points_reward_partner_codes", args=[queryset.get().pk]))

    def partner_codes_view(self, request, reward_id):
        """Upload a partner's CSV of voucher codes; refused rows are listed by row and column."""
        if not self.has_partner_codes_permission(request):
            raise PermissionDenied
        reward = get_object_or_404(Reward, pk=reward_id)
        form = PartnerCodeUploadForm(request.POST or None, request.FILES or None)
        result = None
        if request.method == "POST" and form.is_valid():
            try:
                result = reward_partner_codes_import(
                    reward_id=reward.pk,
                    data=form.cleaned_data["file"].read(),
                    encoding=form.cleaned_data["encoding"],
                    now=timezone.now(),
                )
            except LoyaltyError as exc:
                form.add_error(None, str(exc.message))
            else:
                self.message_user(
                    request,
                    ngettext(
                        "%(count)d code added to the pool and to the stock.",
                        "%(count)d codes added to the pool and to the stock.",
                        result.imported,
                    )
                    % {"count": result.imported},
                    messages.SUCCESS if not result.errors else messages.WARNING,
                )
        codes = RewardPartnerCode.objects.filter(reward=reward)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "original": reward,  # Unfold's header trail names the reward
            "title": gettext("Partner codes of “%(name)s”") % {"name": reward.name},
            "reward": reward,
            "form": form,
            "row_errors": result.errors if result else None,
            "pool_total": codes.count(),
            "pool_unused": codes.filter(order__isnull=True).count(),
        }
        return TemplateResponse(request, "admin/points/reward/partner_codes.html", context)


# -- orders -----------------------------------------------------------------------------------------------------
class PickupCodeForm(forms.Form):
    pickup_code = forms.CharField(
        label=_("pickup code"),
        max_length=PICKUP_CODE_LENGTH + 4,
        help_text=_("The code the member shows; spaces and dashes are ignored."),
    )


class ClaimCodeForm(forms.Form):
    claim_code = forms.CharField(
        label=_("claim code"),
        max_length=32,
        help_text=_("The code the winner shows; spaces and dashes are ignored."),
    )


class CancelForm(forms.Form):
    reason = forms.CharField(label=_("reason for cancelling"), max_length=255)


@admin.register(RewardOrder)
class RewardOrderAdmin(StoreScopedAdminMixin, ConsoleModelAdmin):
    """Orders of the staff member's pickup store; written only by the mall services (read-only here)."""

    store_scope_field = "pickup_store"
    # The pickup code is the member's proof at the counter: staff find an order by typing it, never read it here.
    list_display = ("pk", "reward", "member", "status", "points", "cash_amount", "pickup_store", "created_at",
                    "fulfilled_at")  # fmt: skip
    list_select_related = ("reward", "member", "pickup_store")
    list_filter = ("status", ("pickup_store", ScopedRelatedFieldListFilter), "reward__kind")
    search_fields = ("=pickup_code", "=member__member_number", "=member__phone")
    ordering = ("-pk",)
    show_full_result_count = False
    actions = ("mark_fulfilled", "cancel_order")
    change_list_template = "admin/points/rewardorder/change_list.html"
    exclude = ("request_hash", "idempotency_key", "pickup_code")
    readonly_fields = (
        "member", "reward", "status", "points", "cash_amount", "payment_provider", "payment_transaction_id",
        "pickup_store", "points_entry", "refund_entry", "coupon", "stored_value_entry",
        "partner_voucher_code", "created_at", "fulfilled_at", "fulfilled_by", "fulfilled_store", "cancelled_at",
        "cancelled_by", "cancel_reason",
    )  # fmt: skip

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_fulfil_permission(self, request):
        return request.user.has_perm(FULFIL_PERMISSION)

    def has_cancel_permission(self, request):
        return request.user.has_perm(CANCEL_PERMISSION)

    def get_search_results(self, request, queryset, search_term):
        code = pickup_code_normalize(search_term)
        if len(code) == PICKUP_CODE_LENGTH and code.isalnum():
            search_term = code  # a code typed in lower case or with a dash still finds its order
        return super().get_search_results(request, queryset, search_term)

    @admin.display(description=_("partner voucher code"))
    def partner_voucher_code(self, obj):
        code = RewardPartnerCode.objects.filter(order=obj).first()
        return code.code if code else "-"

    # actions and their pages -----------------------------------------------------------------------------------
    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("fulfil/", wrap(self.fulfil_view), name="points_rewardorder_fulfil"),
            path("prizes/collect/", wrap(self.prize_collect_view), name="points_rewardorder_prize_collect"),
            path("<int:order_id>/fulfil/", wrap(self.fulfil_view), name="points_rewardorder_fulfil_order"),
            path("<int:order_id>/cancel/", wrap(self.cancel_view), name="points_rewardorder_cancel"),
            *super().get_urls(),
        ]

    def _one_selected(self, request, queryset, url_name):
        if queryset.count() != 1:
            self.message_user(request, gettext("Choose exactly one order."), messages.WARNING)
            return None
        return HttpResponseRedirect(reverse(url_name, args=[queryset.get().pk]))

    @admin.action(description=_("Mark picked up (checks the pickup code)…"), permissions=("fulfil",))
    def mark_fulfilled(self, request, queryset):
        return self._one_selected(request, queryset, "admin:points_rewardorder_fulfil_order")

    @admin.action(description=_("Cancel (returns points and stock)…"), permissions=("cancel",))
    def cancel_order(self, request, queryset):
        return self._one_selected(request, queryset, "admin:points_rewardorder_cancel")

    def _scoped_order(self, request, order_id):
        order = self.get_queryset(request).select_related("reward", "member", "pickup_store").filter(pk=order_id)
        order = order.first()
        if order is None:
            raise Http404
        return order

    def _page(self, request, *, title, form, order, submit_label):
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "original": order,  # Unfold's header trail names the order
            "title": title,
            "form": form,
            "order": order,
            "submit_label": submit_label,
        }
        return TemplateResponse(request, "admin/points/rewardorder/action_form.html", context)

    def fulfil_view(self, request, order_id=None):
        """Hand a pickup over: type the member's pickup code (for a chosen order, it must be that order's)."""
        if not self.has_fulfil_permission(request):
            raise PermissionDenied
        order = self._scoped_order(request, order_id) if order_id is not None else None
        form = PickupCodeForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                fulfilled = reward_order_fulfil(
                    pickup_code=form.cleaned_data["pickup_code"],
                    now=timezone.now(),
                    store_id=staff_store_id(request.user),
                    fulfilled_by=request.user,
                    order_id=order_id,
                )
            except LoyaltyError as exc:
                form.add_error("pickup_code", str(exc.message))
            else:
                self.message_user(
                    request,
                    gettext("Order #%(order)d picked up: hand over “%(reward)s”.")
                    % {"order": fulfilled.pk, "reward": fulfilled.reward.name},
                    messages.SUCCESS,
                )
                return HttpResponseRedirect(reverse("admin:points_rewardorder_changelist"))
        title = gettext("Hand over a reward pickup")
        return self._page(request, title=title, form=form, order=order, submit_label=gettext("Mark picked up"))

    def prize_collect_view(self, request):
        """Hand over a prize won in a lucky draw or an auction: type the winner's claim code (once per prize)."""
        if not self.has_fulfil_permission(request):
            raise PermissionDenied
        form = ClaimCodeForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                prize = prize_collect(
                    claim_code=form.cleaned_data["claim_code"],
                    store_id=staff_store_id(request.user),
                    now=timezone.now(),
                )
            except LoyaltyError as exc:
                form.add_error("claim_code", str(exc.message))
            else:
                self.message_user(
                    request,
                    gettext("Prize handed over: “%(item)s” to member %(member)s.")
                    % {"item": prize.item_name, "member": prize.member.member_number},
                    messages.SUCCESS,
                )
                return HttpResponseRedirect(reverse("admin:points_rewardorder_changelist"))
        title = gettext("Hand over a prize (lucky draw or auction)")
        return self._page(request, title=title, form=form, order=None, submit_label=gettext("Hand over"))

    def cancel_view(self, request, order_id):
        """Cancel an order awaiting pickup with a reason: its points and stock come back."""
        if not self.has_cancel_permission(request):
            raise PermissionDenied
        order = self._scoped_order(request, order_id)
        form = CancelForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                reward_order_cancel(
                    order_id=order.pk,
                    now=timezone.now(),
                    reason=form.cleaned_data["reason"],
                    cancelled_by=request.user,
                    store_id=staff_store_id(request.user),
                )
            except LoyaltyError as exc:
                form.add_error(None, str(exc.message))
            else:
                message = gettext("Order #%(order)d cancelled: %(points)d points returned to the member.") % {
                    "order": order.pk,
                    "points": order.points,
                }
                if order.cash_amount:
                    message += " " + gettext("Refund the cash part (%(amount)s) through %(provider)s.") % {
                        "amount": order.cash_amount,
                        "provider": order.payment_provider,
                    }
                self.message_user(request, message, messages.SUCCESS)
                return HttpResponseRedirect(reverse("admin:points_rewardorder_changelist"))
        title = gettext("Cancel order #%(order)d") % {"order": order.pk}
        return self._page(request, title=title, form=form, order=order, submit_label=gettext("Cancel the order"))

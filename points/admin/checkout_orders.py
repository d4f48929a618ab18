"""Mini-program checkout orders in the console: read-only, scoped to the staff member's store (the order's store is
the policy's mini-program store), with what each holds, its WeChat Pay order and its refund.

One manual action: releasing a stuck open order (permission points.release_checkoutorder), with a reason, audited on
the order (released_by, release_reason) through points.services.checkout_orders.checkout_order_release, which closes
the WeChat Pay order first. Refunds WeChat Pay would not take (refund_failed) are counted by a badge in the
sidebar: staff refund them by hand in WeChat Pay's merchant platform, then record it here (permission
points.refund_checkoutorder, with how it was refunded; who and when are kept on the order through
points.services.checkout_orders.checkout_order_refunded_by_hand): the order is refunded and leaves the badge.
"""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from infra.errors import LoyaltyError
from members.console import (
    ConsoleModelAdmin,
    ReadOnlyAdminMixin,
    ScopedRelatedFieldListFilter,
    StoreScopedAdminMixin,
    staff_store_id,
)
from points.models import CheckoutOrder
from points.services.checkout_orders import (
    checkout_order_refunded_by_hand,
    checkout_order_release,
    refund_failed_count,
)

RELEASE_PERMISSION = "points.release_checkoutorder"
REFUND_BY_HAND_PERMISSION = "points.refund_checkoutorder"
VIEW_PERMISSION = "points.view_checkoutorder"


class ReleaseForm(forms.Form):
    reason = forms.CharField(label=_("reason for releasing"), max_length=200)


class RefundedByHandForm(forms.Form):
    note = forms.CharField(
        label=_("how it was refunded"),
        max_length=200,
        help_text=_("E.g. refunded in WeChat Pay's merchant platform, its refund number; or paid back in cash."),
    )


@admin.register(CheckoutOrder)
class CheckoutOrderAdmin(ReadOnlyAdminMixin, StoreScopedAdminMixin, ConsoleModelAdmin):
    """Checkout orders of the staff member's store, as the checkout-order services wrote them."""

    store_scope_field = "store"
    list_display = (
        "out_trade_no",
        "member",
        "status",
        "amount_due",
        "holds",
        "wechat_pay_state",
        "refund_state",
        "created_at",
        "expires_at",
    )
    list_select_related = ("member", "hold", "coupon", "refunded_by")
    list_filter = ("status", ("store", ScopedRelatedFieldListFilter))
    search_fields = ("=out_trade_no", "=member__member_number")
    ordering = ("-created_at", "-pk")
    show_full_result_count = False
    exclude = ("request_hash", "idempotency_key", "cart")
    actions = ("release_order", "record_refunded_by_hand")

    @admin.display(description=_("held"))
    def holds(self, obj):
        parts = []
        if obj.points_to_spend:
            parts.append(gettext("%(points)d points") % {"points": obj.points_to_spend})
        if obj.stored_value_amount:
            parts.append(gettext("%(amount)s stored value") % {"amount": obj.stored_value_amount})
        if obj.coupon_id:
            parts.append(gettext("coupon %(code)s") % {"code": obj.coupon.code})
        if not parts:
            return "-"
        state = obj.hold.get_status_display() if obj.hold_id else ""
        return ", ".join(parts) + (f" ({state})" if state else "")

    @admin.display(description=_("WeChat Pay"))
    def wechat_pay_state(self, obj):
        if obj.status == CheckoutOrder.Status.PAID:
            return gettext("Paid")
        if obj.wechat_closed_at:
            return gettext("Closed")
        if obj.prepay_id:
            return gettext("Opened, payable until the hold ends")
        return gettext("Not opened")

    @admin.display(description=_("refund"))
    def refund_state(self, obj):
        if obj.status == CheckoutOrder.Status.REFUNDED and obj.refunded_by_id:
            return gettext("Refunded by hand by %(user)s on %(date)s: %(note)s") % {
                "user": obj.refunded_by,
                "date": date_format(timezone.localtime(obj.refunded_at), "SHORT_DATETIME_FORMAT"),
                "note": obj.refund_note,
            }
        if obj.status == CheckoutOrder.Status.REFUNDED:
            return gettext("Refunded (%(reason)s)") % {"reason": obj.refund_reason}
        if obj.status == CheckoutOrder.Status.REFUND_PENDING:
            return gettext("Under way, %(count)d refused so far") % {"count": obj.refund_attempts}
        if obj.status == CheckoutOrder.Status.REFUND_PROCESSING:
            return gettext("Accepted, WeChat Pay processing it (%(reason)s)") % {"reason": obj.refund_reason}
        if obj.status == CheckoutOrder.Status.REFUND_FAILED:
            return gettext("Failed (%(status)s): refund by hand (%(reason)s)") % {
                "status": obj.refund_status or gettext("refused"),
                "reason": obj.refund_reason,
            }
        return "-"

    # the manual release -------------------------------------------------------------------------------------------
    def has_release_permission(self, request):
        return request.user.has_perm(RELEASE_PERMISSION)

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("<int:order_id>/release/", wrap(self.release_view), name="points_checkoutorder_release"),
            path(
                "<int:order_id>/refunded-by-hand/",
                wrap(self.refunded_by_hand_view),
                name="points_checkoutorder_refunded_by_hand",
            ),
            *super().get_urls(),
        ]

    @admin.action(description=_("Release a stuck order (closes its WeChat Pay order)…"), permissions=("release",))
    def release_order(self, request, queryset):
        if queryset.count() != 1:
            self.message_user(request, gettext("Choose exactly one order."), messages.WARNING)
            return None
        return HttpResponseRedirect(reverse("admin:points_checkoutorder_release", args=[queryset.get().pk]))

    def release_view(self, request, order_id):
        """Release an open order with a reason: its points, stored value and coupon come back to the member."""
        if not self.has_release_permission(request):
            raise PermissionDenied
        order = self.get_queryset(request).select_related("member").filter(pk=order_id).first()
        if order is None:
            raise Http404
        form = ReleaseForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                released = checkout_order_release(
                    order_id=order.pk,
                    released_by=request.user,
                    reason=form.cleaned_data["reason"],
                    now=timezone.now(),
                    store_id=staff_store_id(request.user),
                )
            except LoyaltyError as exc:
                form.add_error(None, str(exc.message))
            else:
                if released.status == CheckoutOrder.Status.CANCELLED:
                    message = gettext("Order %(order)s released: what it held is back with the member.")
                    level = messages.SUCCESS
                else:
                    message = gettext("Order %(order)s was paid meanwhile: it is %(status)s, not released.")
                    level = messages.WARNING
                self.message_user(
                    request,
                    message % {"order": released.out_trade_no, "status": released.get_status_display()},
                    level,
                )
                return HttpResponseRedirect(reverse("admin:points_checkoutorder_changelist"))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "original": order,  # Unfold's header trail names the order
            "title": gettext("Release order %(order)s") % {"order": order.out_trade_no},
            "form": form,
            "order": order,
        }
        return TemplateResponse(request, "admin/points/checkoutorder/release.html", context)

    # recording a refund made by hand ------------------------------------------------------------------------------
    def has_refund_by_hand_permission(self, request):
        return request.user.has_perm(REFUND_BY_HAND_PERMISSION)

    @admin.action(description=_("Record a failed refund as refunded by hand…"), permissions=("refund_by_hand",))
    def record_refunded_by_hand(self, request, queryset):
        if queryset.count() != 1:
            self.message_user(request, gettext("Choose exactly one order."), messages.WARNING)
            return None
        return HttpResponseRedirect(reverse("admin:points_checkoutorder_refunded_by_hand", args=[queryset.get().pk]))

    def refunded_by_hand_view(self, request, order_id):
        """Record that staff refunded a refund_failed order by hand, with how: who and when are kept on the order."""
        if not self.has_refund_by_hand_permission(request):
            raise PermissionDenied
        order = self.get_queryset(request).select_related("member").filter(pk=order_id).first()
        if order is None:
            raise Http404
        form = RefundedByHandForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                refunded = checkout_order_refunded_by_hand(
                    order_id=order.pk,
                    refunded_by=request.user,
                    note=form.cleaned_data["note"],
                    now=timezone.now(),
                    store_id=staff_store_id(request.user),
                )
            except LoyaltyError as exc:
                form.add_error(None, str(exc.message))
            else:
                message = gettext("Order %(order)s recorded as refunded by hand; the member is told.")
                self.message_user(request, message % {"order": refunded.out_trade_no}, messages.SUCCESS)
                return HttpResponseRedirect(reverse("admin:points_checkoutorder_changelist"))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "original": order,  # Unfold's header trail names the order
            "title": gettext("Record order %(order)s as refunded by hand") % {"order": order.out_trade_no},
            "form": form,
            "order": order,
        }
        return TemplateResponse(request, "admin/points/checkoutorder/refunded_by_hand.html", context)


def refund_failed_badge(request):
    """The sidebar badge of the checkout orders: refunds waiting for staff, in the user's store (empty when none)."""
    if not request.user.has_perm(VIEW_PERMISSION):
        return ""
    count = refund_failed_count(store_id=staff_store_id(request.user))
    return str(count) if count else ""

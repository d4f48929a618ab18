"""A mini-program checkout order: the cart, priced and with what it will spend held, waiting for WeChat Pay.

The mini program creates the order first (points.services.checkout_orders): it reserves the coupon, holds the
points and stored value (members.models.BalanceHold) and answers the amount due, the WeChat Pay order number to
pay under (`out_trade_no`) and when the hold ends. The payment's confirmation records the purchase through the
one checkout, spending what was held; cancellation or expiry releases it. A payment that cannot be honoured is
refunded through WeChat Pay, and the member is told why.
Invariants:
- `out_trade_no` is unique, and so is (member, idempotency key): a retried creation holds nothing twice;
- an order is settled at most once: `purchase` is set only with status paid (the purchase's external id is
  the order's out_trade_no, unique per store and channel);
- an open order with something to pay has a WeChat Pay prepay id (`prepay_id`), opened with `time_expire` equal to
  `expires_at`: WeChat Pay refuses a payment after the hold ends;
- an order that is neither open nor paid holds nothing (its hold is released and its coupon given back);
- a refund's outcome is WeChat Pay's last word (`refund_status`): `refunding` while WeChat Pay processes it
  (PROCESSING), `refunded` once it says SUCCESS, `refund_failed` when it says ABNORMAL or CLOSED; a refund_failed
  order staff refunded by hand is `refunded` with `refunded_by` and `refund_note` set (who, why; `refunded_at` when).
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class CheckoutOrder(models.Model):
    """One mini-program cart waiting for (or settled by) its WeChat Pay payment."""

    class Status(models.TextChoices):
        OPEN = "open", _("Waiting for payment")
        PAID = "paid", _("Paid")
        CANCELLED = "cancelled", _("Cancelled")
        EXPIRED = "expired", _("Expired")
        REFUND_PENDING = "refund_pending", _("Refund under way")
        # WeChat Pay took the refund (PROCESSING): asked again, or notified, until it says SUCCESS, CLOSED or ABNORMAL.
        REFUND_PROCESSING = "refunding", _("Refund accepted, WeChat Pay processing it")
        REFUNDED = "refunded", _("Refunded")
        # WeChat Pay would not take the refund (ABNORMAL or CLOSED, or refused CHECKOUT_REFUND_MAX_ATTEMPTS times):
        # staff act, then record it refunded by hand.
        REFUND_FAILED = "refund_failed", _("Refund failed: staff to act")
        # WeChat Pay would not open the payment (prepay refused or unreachable): released at once, nothing held.
        FAILED = "failed", _("Payment could not be opened")

    # Statuses in which the order still holds what it will spend.
    HOLDING = (Status.OPEN,)

    member = models.ForeignKey(
        "members.Member", verbose_name=_("member"), on_delete=models.PROTECT, related_name="checkout_orders"
    )
    out_trade_no = models.CharField(_("WeChat Pay order number"), max_length=32)  # unique: see Meta
    idempotency_key = models.CharField(_("idempotency key"), max_length=100)
    request_hash = models.CharField(max_length=64)
    # The cart as the mini program posted it (gross amount, discount, items, points, stored value, coupon code).
    cart = models.JSONField(_("cart"), default=dict)
    amount_due = models.DecimalField(_("amount due"), max_digits=12, decimal_places=2)
    points_to_spend = models.PositiveBigIntegerField(_("points to spend"), default=0)
    stored_value_amount = models.DecimalField(_("stored value to spend"), max_digits=12, decimal_places=2, default=0)
    coupon = models.ForeignKey(
        "coupons.Coupon", verbose_name=_("coupon"), null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    hold = models.OneToOneField(
        "members.BalanceHold", verbose_name=_("hold"), null=True, blank=True, on_delete=models.PROTECT,
        related_name="checkout_order",
    )  # fmt: skip
    # The store the order's purchase is made in (the policy's mini-program store): the console's scope.
    store = models.ForeignKey(
        "members.Store", verbose_name=_("store"), null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # WeChat Pay's JSAPI prepay id (the mini program pays with `package=prepay_id=...`), and when its order was
    # closed (cancelled or expired unpaid), so nobody can pay it any more.
    prepay_id = models.CharField(_("WeChat Pay prepay id"), max_length=64, blank=True)
    wechat_closed_at = models.DateTimeField(_("WeChat Pay order closed at"), null=True, blank=True)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.OPEN)
    created_at = models.DateTimeField(_("created at"))
    expires_at = models.DateTimeField(_("held until"))
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True)
    # When WeChat Pay last answered for an order released unpaid (expired, cancelled): until it has, the job keeps
    # asking, so a payment it could not see at release is still recorded or refunded.
    payment_checked_at = models.DateTimeField(_("payment checked at"), null=True, blank=True)
    purchase = models.OneToOneField(
        "members.Purchase", verbose_name=_("purchase"), null=True, blank=True, on_delete=models.PROTECT,
        related_name="checkout_order",
    )  # fmt: skip
    paid_amount = models.DecimalField(_("paid"), max_digits=12, decimal_places=2, null=True, blank=True)
    # Why a paid order was refunded (the error code of the checkout that refused it), and WeChat Pay's refund id.
    refund_reason = models.CharField(_("refund reason"), max_length=64, blank=True)
    refund_id = models.CharField(_("WeChat Pay refund id"), max_length=64, blank=True)
    refunded_at = models.DateTimeField(_("refunded at"), null=True, blank=True)
    refund_attempts = models.PositiveSmallIntegerField(_("refund attempts"), default=0)
    # What WeChat Pay last said of the refund: PROCESSING, SUCCESS, CLOSED or ABNORMAL.
    refund_status = models.CharField(_("WeChat Pay refund status"), max_length=16, blank=True)
    # A refund_failed order staff refunded by hand (outside WeChat Pay's refund API): who and why (the audit).
    refunded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("refunded by hand by"), null=True, blank=True,
        on_delete=models.PROTECT, related_name="+",
    )  # fmt: skip
    refund_note = models.CharField(_("how it was refunded by hand"), max_length=200, blank=True)
    # A stuck order released by hand in the console: who and why (the audit of the manual release).
    released_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("released by"), null=True, blank=True, on_delete=models.PROTECT,
        related_name="+",
    )  # fmt: skip
    release_reason = models.CharField(_("release reason"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("checkout order")
        verbose_name_plural = _("checkout orders")
        constraints = [
            models.UniqueConstraint(fields=["out_trade_no"], name="checkout_order_out_trade_no_unique"),
            # An order WeChat Pay would not open (failed) frees its key: the mini program's retry opens a new one.
            models.UniqueConstraint(
                fields=["member", "idempotency_key"],
                condition=~Q(status="failed"),
                name="checkout_order_member_key_unique",
            ),  # fmt: skip
            models.CheckConstraint(
                condition=Q(purchase__isnull=True) | Q(status="paid"), name="checkout_order_purchase_when_paid"
            ),
        ]
        permissions = [
            ("release_checkoutorder", _("Can release a stuck checkout order")),
            ("refund_checkoutorder", _("Can record a failed refund as refunded by hand")),
        ]
        indexes = [
            models.Index(fields=["expires_at"], condition=Q(status="open"), name="checkout_order_open_expiry"),
            models.Index(
                fields=["created_at"], condition=Q(status="refund_pending"), name="checkout_order_refund_pending"
            ),
            models.Index(fields=["created_at"], condition=Q(status="refunding"), name="checkout_order_refunding"),
        ]

    def __str__(self):
        return f"{self.out_trade_no} ({self.get_status_display()})"

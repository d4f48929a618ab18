"""Checkouts and refunds of purchases: the first answer to each, kept for retries."""

from decimal import Decimal

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class PurchaseCheckout(models.Model):
    """What one checkout did to a purchase (points spent and earned), stored as its first answer.

    A retry of the checkout (same channel, store and external id) compares its request hash with this row's
    and returns the stored result, or is refused when the body differs.
    """

    purchase = models.OneToOneField(
        "members.Purchase", verbose_name=_("purchase"), on_delete=models.PROTECT, related_name="checkout"
    )
    request_hash = models.CharField(max_length=64)
    points_spent = models.PositiveBigIntegerField(_("points spent"), default=0)
    points_earned = models.PositiveBigIntegerField(_("points earned"), default=0)
    earn_is_pending = models.BooleanField(_("pending"), default=False)
    earn_activates_at = models.DateTimeField(_("available from"), null=True, blank=True)
    earn_expires_at = models.DateTimeField(_("expires at"), null=True, blank=True)
    earn_lot = models.ForeignKey("members.PointsLot", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    spend_entry = models.ForeignKey(
        "members.PointsEntry", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    breakdown = models.JSONField(_("breakdown"), default=dict, blank=True)
    balance_after = models.PositiveBigIntegerField(_("balance after"), null=True, blank=True)
    coupon = models.ForeignKey(
        "coupons.Coupon", verbose_name=_("coupon"), null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    coupon_discount_amount = models.DecimalField(
        _("coupon discount"), max_digits=12, decimal_places=2, default=Decimal("0.00")
    )
    # Part of the purchase's discount_amount (with the till's discount and the coupon's), so refunds share it out.
    tier_discount_amount = models.DecimalField(
        _("tier discount"), max_digits=12, decimal_places=2, default=Decimal("0.00")
    )
    stored_value_entry = models.ForeignKey(
        "members.StoredValueEntry",
        verbose_name=_("stored value spent"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    coupons_issued = models.JSONField(
        _("coupons earned"), default=list, blank=True, help_text=_("Codes issued by post-payment rules.")
    )
    created_at = models.DateTimeField(_("created at"))

    class Meta:
        verbose_name = _("checkout")
        verbose_name_plural = _("checkouts")

    def __str__(self):
        return f"{self.purchase_id}: -{self.points_spent} +{self.points_earned}"


class PurchaseRefund(models.Model):
    """A full or partial refund of a purchase and the points it moved.

    `amount` is the refunded share of the purchase's gross amount; points earned are taken back and points
    spent are returned in proportion to the refunded amounts so far.
    """

    purchase = models.ForeignKey(
        "members.Purchase", verbose_name=_("purchase"), on_delete=models.PROTECT, related_name="refunds"
    )
    external_id = models.CharField(_("refund id"), max_length=64)
    amount = models.DecimalField(_("amount"), max_digits=12, decimal_places=2)
    request_hash = models.CharField(max_length=64)
    reason = models.CharField(_("reason"), max_length=255, blank=True)
    points_reversed = models.PositiveBigIntegerField(_("earned points taken back"), default=0)
    points_pending_cancelled = models.PositiveBigIntegerField(_("pending points cancelled"), default=0)
    points_forgiven = models.PositiveBigIntegerField(
        _("earned points not taken back"), default=0, help_text=_("Left to the member by the refund policy.")
    )
    points_debt_recorded = models.PositiveBigIntegerField(_("points debt recorded"), default=0)
    points_returned = models.PositiveBigIntegerField(_("spent points returned"), default=0)
    points_value_returned = models.DecimalField(
        _("value of returned points"), max_digits=12, decimal_places=2, default=Decimal("0.00")
    )
    stored_value_returned = models.DecimalField(
        _("stored value returned"), max_digits=12, decimal_places=2, default=Decimal("0.00")
    )
    coupons_restored = models.JSONField(_("coupons given back"), default=list, blank=True)
    coupons_voided = models.JSONField(_("earned coupons taken back"), default=list, blank=True)
    created_at = models.DateTimeField(_("created at"))

    class Meta:
        verbose_name = _("purchase refund")
        verbose_name_plural = _("purchase refunds")
        constraints = [
            models.UniqueConstraint(fields=["purchase", "external_id"], name="purchase_refund_external_id_unique"),
            models.CheckConstraint(condition=Q(amount__gt=0), name="purchase_refund_amount_positive"),
        ]

    def __str__(self):
        return f"{self.purchase_id}/{self.external_id}"

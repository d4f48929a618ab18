"""What each payment a member made paid for: one PaymentUse row per (provider, transaction id).

One payment pays for one thing. Every service that takes a member's payment as the price of something (a paid
plan, a stored-value top-up, a mini-program purchase, the cash part of a mall reward) inserts the payment's
row in the same transaction as the thing it pays for (members.services.payments.payment_use_record); the
unique constraint refuses a second use, whatever app and whichever member tries it, and whatever the timing.
Invariants:
- (provider, transaction_id) is unique;
- rows are never updated nor deleted: a refund does not free a payment for another use.
"""

from django.db import models
from django.utils.translation import gettext_lazy as _


class PaymentUse(models.Model):
    """A payment (provider, transaction id) and the one thing it paid for."""

    class Purpose(models.TextChoices):
        PURCHASE = "purchase", _("Purchase")
        TOP_UP = "top_up", _("Top-up")
        PLAN = "plan", _("Membership plan")
        MALL_ORDER = "mall_order", _("Points mall order")
        # Paid for a checkout order that could not be honoured and was refunded: it pays for nothing else.
        REFUNDED = "refunded", _("Refunded")

    provider = models.CharField(_("payment provider"), max_length=32)
    transaction_id = models.CharField(_("payment transaction id"), max_length=100)
    purpose = models.CharField(_("paid for"), max_length=16, choices=Purpose.choices)
    # Empty for a sale without an identified member (a shop backend's report of a mini-program order).
    member = models.ForeignKey(
        "members.Member", verbose_name=_("member"), null=True, blank=True, on_delete=models.PROTECT,
        related_name="+",
    )  # fmt: skip
    created_at = models.DateTimeField(_("created at"))

    class Meta:
        verbose_name = _("payment use")
        verbose_name_plural = _("payment uses")
        constraints = [
            models.UniqueConstraint(fields=["provider", "transaction_id"], name="payment_use_payment_unique"),
        ]

    def __str__(self):
        return f"{self.provider}:{self.transaction_id} ({self.purpose})"

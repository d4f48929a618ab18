from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Round
from django.utils.translation import gettext_lazy as _


class PurchaseChannel(models.TextChoices):
    POS = "pos", _("In store (POS)")
    MINI_PROGRAM = "mini_program", _("Mini program")
    ONLINE = "online", _("Online shop")


class PaymentMethod(models.TextChoices):
    ALIPAY_HK = "alipay_hk", "AlipayHK"
    WECHAT_PAY_HK = "wechat_pay_hk", _("WeChat Pay HK")
    PAYME = "payme", "PayMe"
    OCTOPUS = "octopus", _("Octopus")
    FPS = "fps", _("FPS")
    CARD = "card", _("Card")
    CASH = "cash", _("Cash")
    STORED_VALUE = "stored_value", _("Stored value")
    OTHER = "other", _("Other")


class Purchase(models.Model):
    """A sale. Amounts in the settings' currency: gross - discount - points value - stored value = paid."""

    class Status(models.TextChoices):
        COMPLETED = "completed", _("Completed")
        PARTIALLY_REFUNDED = "partially_refunded", _("Partially refunded")
        REFUNDED = "refunded", _("Refunded")

    member = models.ForeignKey(
        "members.Member",
        verbose_name=_("member"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="purchases",
        db_index=False,  # (member, purchased_at) below serves it: one index less for every purchase to write
    )
    store = models.ForeignKey(
        "members.Store", verbose_name=_("store"), on_delete=models.PROTECT, related_name="purchases", db_index=False
    )
    channel = models.CharField(_("channel"), max_length=16, choices=PurchaseChannel.choices)
    external_id = models.CharField(_("external id"), max_length=64)
    purchased_at = models.DateTimeField(_("purchased at"))
    gross_amount = models.DecimalField(_("gross amount"), max_digits=12, decimal_places=2)
    discount_amount = models.DecimalField(_("discount"), max_digits=12, decimal_places=2, default=0)
    points_value_amount = models.DecimalField(_("paid with points"), max_digits=12, decimal_places=2, default=0)
    stored_value_amount = models.DecimalField(_("paid with stored value"), max_digits=12, decimal_places=2, default=0)
    paid_amount = models.DecimalField(_("paid"), max_digits=12, decimal_places=2)
    payment_method = models.CharField(_("payment method"), max_length=16, choices=PaymentMethod.choices)
    status = models.CharField(_("status"), max_length=20, choices=Status.choices, default=Status.COMPLETED)
    created_at = models.DateTimeField(_("recorded at"), auto_now_add=True)

    class Meta:
        verbose_name = _("purchase")
        verbose_name_plural = _("purchases")
        constraints = [
            models.UniqueConstraint(fields=["channel", "store", "external_id"], name="purchase_external_id_unique"),
            # Rounded to the cent: SQLite subtracts in binary floats (123.45 - 5.10 is 118.35000000000001 there),
            # which refused valid purchases paid partly with points, stored value or a discount.
            models.CheckConstraint(
                condition=Q(
                    paid_amount=Round(
                        F("gross_amount") - F("discount_amount") - F("points_value_amount") - F("stored_value_amount"),
                        2,
                    )
                ),
                name="purchase_amounts_add_up",
            ),
            models.CheckConstraint(
                condition=Q(
                    gross_amount__gte=0,
                    discount_amount__gte=0,
                    points_value_amount__gte=0,
                    stored_value_amount__gte=0,
                    paid_amount__gte=0,
                ),
                name="purchase_amounts_not_negative",
            ),
        ]
        indexes = [
            models.Index(fields=["member", "purchased_at"]),
            models.Index(fields=["store", "purchased_at"]),
            # All stores' purchases by date: the console's purchase list (newest first) and the dashboard's buyers
            # of a period, who are read from the index alone (bench/console.py). The member is a key column, not
            # an INCLUDE one, which SQLite would warn about.
            models.Index(fields=["purchased_at", "member"], name="purchase_date"),
        ]

    def __str__(self):
        return f"{self.store.code}/{self.external_id}"


class PurchaseItem(models.Model):
    purchase = models.ForeignKey(Purchase, on_delete=models.CASCADE, related_name="items")
    sku = models.CharField(_("SKU"), max_length=64)
    name = models.CharField(_("name"), max_length=200, blank=True)
    category = models.CharField(_("category"), max_length=64, blank=True)
    quantity = models.PositiveIntegerField(_("quantity"), default=1)
    unit_price = models.DecimalField(_("unit price"), max_digits=12, decimal_places=2)
    amount = models.DecimalField(_("amount"), max_digits=12, decimal_places=2)

    class Meta:
        verbose_name = _("purchase item")
        verbose_name_plural = _("purchase items")

    def __str__(self):
        return f"{self.sku} x{self.quantity}"

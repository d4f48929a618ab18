"""Post-payment rules: "after a purchase of at least HK$X in store Y, issue template Z" (a coupon for next time)."""

from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from coupons.models.coupon import CouponTemplate, all_channels
from members.models import PurchaseChannel


class PostPaymentRuleQuerySet(models.QuerySet):
    def live(self, now):
        """Rules that apply to a purchase made at `now`."""
        return self.filter(
            Q(starts_at__isnull=True) | Q(starts_at__lte=now),
            Q(ends_at__isnull=True) | Q(ends_at__gt=now),
            is_active=True,
        )


class PostPaymentRule(models.Model):
    name = models.CharField(_("name"), max_length=120)
    template = models.ForeignKey(
        CouponTemplate,
        verbose_name=_("coupon to issue"),
        on_delete=models.PROTECT,
        related_name="post_payment_rules",
    )
    min_paid_amount = models.DecimalField(
        _("minimum paid amount"),
        max_digits=12,
        decimal_places=2,
        default=Decimal("0.00"),
        help_text=_("What the member paid after discounts, points and stored value."),
    )
    stores = models.ManyToManyField(
        "members.Store",
        verbose_name=_("stores"),
        blank=True,
        related_name="+",
        help_text=_("Empty means every store."),
    )
    channels = models.JSONField(_("channels"), default=all_channels, blank=True)
    starts_at = models.DateTimeField(_("starts at"), null=True, blank=True)
    ends_at = models.DateTimeField(_("ends at"), null=True, blank=True)
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    objects = PostPaymentRuleQuerySet.as_manager()
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("post-payment coupon rule")
        verbose_name_plural = _("post-payment coupon rules")
        ordering = ["name", "pk"]
        constraints = [
            models.CheckConstraint(condition=Q(min_paid_amount__gte=0), name="post_payment_min_not_negative"),
        ]

    def __str__(self):
        return str(self.name)

    def clean(self):
        errors = {}
        if self.min_paid_amount is not None and self.min_paid_amount < 0:
            errors["min_paid_amount"] = _("This value cannot be negative.")
        if self.starts_at and self.ends_at and self.ends_at <= self.starts_at:
            errors["ends_at"] = _("The rule must end after it starts.")
        channels = self.channels if isinstance(self.channels, list) else None
        if not channels or any(channel not in PurchaseChannel.values for channel in channels):
            errors["channels"] = _("Choose at least one of: %(channels)s.") % {
                "channels": ", ".join(PurchaseChannel.values)
            }
        if errors:
            raise ValidationError(errors)

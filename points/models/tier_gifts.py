"""Monthly tier gifts: points and/or a coupon for every active member of a tier, once a calendar month.

The gift is a tier benefit, but it is granted here because members may not import coupons (the import
direction of docs/ARCHITECTURE.md). Each month's grant is one TierGiftRun per tier (unique), which starts the existing
idempotent bulk jobs: a PointsGrantJob and a CouponIssueJob for the tier.
"""

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from members.models.ledger import MAX_POINTS_PER_ENTRY


class TierMonthlyGift(models.Model):
    tier = models.OneToOneField(
        "members.Tier", verbose_name=_("tier"), on_delete=models.CASCADE, related_name="monthly_gift"
    )
    points = models.PositiveBigIntegerField(
        _("points"),
        default=0,
        validators=[MaxValueValidator(MAX_POINTS_PER_ENTRY)],
        help_text=_("0 means no points."),
    )
    coupon_template = models.ForeignKey(
        "coupons.CouponTemplate",
        verbose_name=_("coupon"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text=_(
            "Issued to every active member of the tier each month. Leave its limit per member empty, or the "
            "members who reached it are skipped."
        ),
    )
    is_active = models.BooleanField(_("active"), default=True)
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("monthly tier gift")
        verbose_name_plural = _("monthly tier gifts")
        constraints = [
            models.CheckConstraint(
                condition=Q(points__gt=0) | Q(coupon_template__isnull=False), name="tier_gift_gives_something"
            )
        ]

    def __str__(self):
        return str(self.tier)

    def clean(self):
        if not self.points and not self.coupon_template_id:
            raise ValidationError(_("Give points, a coupon or both."))


class TierGiftRun(models.Model):
    """One month's grant of a tier's gift: what makes "once per month" hold, however often the job runs."""

    tier = models.ForeignKey("members.Tier", verbose_name=_("tier"), on_delete=models.CASCADE, related_name="+")
    month = models.DateField(_("month"), help_text=_("The first day of the month granted."))
    points = models.PositiveBigIntegerField(_("points"), default=0)
    points_job = models.ForeignKey(
        "points.PointsGrantJob",
        verbose_name=_("points grant"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    coupon_job = models.ForeignKey(
        "coupons.CouponIssueJob",
        verbose_name=_("coupon issue"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    message = models.CharField(_("message"), max_length=255, blank=True)
    created_at = models.DateTimeField(_("created at"))

    class Meta:
        verbose_name = _("monthly gift run")
        verbose_name_plural = _("monthly gift runs")
        ordering = ["-month", "tier__rank"]
        constraints = [models.UniqueConstraint(fields=["tier", "month"], name="tier_gift_run_once_a_month")]

    def __str__(self):
        return f"{self.tier} {self.month:%Y-%m}"

"""Paid membership plans and the tier grants they (and tier-granting top-ups) give.

A MembershipPlan is sold for a price (settings' currency) and grants a tier (and so its benefits) for a
duration in days or months. Each purchase is a MemberPlanSubscription: a period [starts_at, ends_at) during
which the member's tier is at least the granted tier. A top-up offer that grants a tier writes the same kind
of row (source "top_up", no plan), so the tier review reads one table for every tier held for a period.
Invariants:
- (provider, transaction_id) is unique: one payment buys one subscription, a replay finds the first;
- ends_at > starts_at; a renewal of the same tier starts where the member's latest period of it ends;
- rows are never deleted; `expiry_processed_at` records that the expiry job has re-reviewed the member.
"""

import calendar
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

PLAN_EXPIRY_TASK_NAME = "members: plan expiry"


class DurationUnit(models.TextChoices):
    DAYS = "days", _("days")
    MONTHS = "months", _("months")


def add_duration(start: datetime, *, value: int, unit: str) -> datetime:
    """Return start + value days or calendar months (months counted in local time, clamped to the month's end:
    31 January + 1 month = 28 or 29 February)."""
    if unit == DurationUnit.DAYS:
        return start + timedelta(days=value)
    local = timezone.localtime(start)
    month_index = local.month - 1 + value
    year, month = local.year + month_index // 12, month_index % 12 + 1
    day = min(local.day, calendar.monthrange(year, month)[1])
    naive = local.replace(tzinfo=None).replace(year=year, month=month, day=day)
    return timezone.make_aware(naive, timezone.get_current_timezone())


class MembershipPlanQuerySet(models.QuerySet):
    def on_sale(self, *, now):
        return self.filter(
            Q(sale_starts_at__isnull=True) | Q(sale_starts_at__lte=now),
            Q(sale_ends_at__isnull=True) | Q(sale_ends_at__gt=now),
            is_active=True,
        )


class MembershipPlan(models.Model):
    """A paid plan: pay `price`, hold `tier` (and its benefits) for the duration."""

    name = models.CharField(_("name"), max_length=100)
    description = models.TextField(_("description"), blank=True)
    price = models.DecimalField(
        _("price"), max_digits=12, decimal_places=2, validators=[MinValueValidator(Decimal("0.01"))]
    )
    tier = models.ForeignKey(
        "members.Tier", verbose_name=_("tier granted"), on_delete=models.PROTECT, related_name="+",
        help_text=_("The member holds at least this tier, with its benefits, while the plan lasts."),
    )  # fmt: skip
    duration_value = models.PositiveIntegerField(_("duration"), validators=[MinValueValidator(1)])
    duration_unit = models.CharField(
        _("duration unit"), max_length=8, choices=DurationUnit.choices, default=DurationUnit.MONTHS
    )
    is_active = models.BooleanField(_("active"), default=True)
    sale_starts_at = models.DateTimeField(_("on sale from"), null=True, blank=True)
    sale_ends_at = models.DateTimeField(_("on sale until"), null=True, blank=True)
    sort_order = models.PositiveSmallIntegerField(_("order"), default=0)
    history = HistoricalRecords()
    objects = MembershipPlanQuerySet.as_manager()

    class Meta:
        verbose_name = _("membership plan")
        verbose_name_plural = _("membership plans")
        constraints = [
            models.CheckConstraint(condition=Q(price__gt=0), name="membership_plan_price_gt_0"),
            models.CheckConstraint(condition=Q(duration_value__gt=0), name="membership_plan_duration_gt_0"),
        ]

    def __str__(self):
        return str(self.name)

    @property
    def currency(self) -> str:
        return settings.CURRENCY

    def clean(self):
        if self.sale_starts_at and self.sale_ends_at and self.sale_ends_at <= self.sale_starts_at:
            raise ValidationError({"sale_ends_at": _("The end must be after the start.")})


class MemberPlanSubscriptionQuerySet(models.QuerySet):
    def active(self, *, now):
        return self.filter(starts_at__lte=now, ends_at__gt=now)


class MemberPlanSubscription(models.Model):
    """A period during which a member holds at least a tier: bought as a plan, or granted by a top-up."""

    class Source(models.TextChoices):
        PLAN = "plan", _("Membership plan")
        TOP_UP = "top_up", _("Top-up")

    member = models.ForeignKey(
        "members.Member", verbose_name=_("member"), on_delete=models.PROTECT, related_name="plan_subscriptions"
    )
    source = models.CharField(_("source"), max_length=8, choices=Source.choices, default=Source.PLAN)
    plan = models.ForeignKey(
        MembershipPlan, verbose_name=_("plan"), null=True, blank=True, on_delete=models.PROTECT,
        related_name="subscriptions",
    )  # fmt: skip
    stored_value_entry = models.ForeignKey(
        "members.StoredValueEntry", verbose_name=_("top-up"), null=True, blank=True, on_delete=models.PROTECT,
        related_name="+",
    )  # fmt: skip
    # Copied from the plan or offer when bought: later edits of the plan do not change what was sold.
    tier = models.ForeignKey("members.Tier", verbose_name=_("tier granted"), on_delete=models.PROTECT, related_name="+")
    price = models.DecimalField(_("price paid"), max_digits=12, decimal_places=2, default=Decimal("0.00"))
    starts_at = models.DateTimeField(_("starts at"))
    ends_at = models.DateTimeField(_("ends at"))
    provider = models.CharField(_("payment provider"), max_length=32)
    transaction_id = models.CharField(_("payment transaction id"), max_length=100)
    expiry_processed_at = models.DateTimeField(_("expiry processed at"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"))
    objects = MemberPlanSubscriptionQuerySet.as_manager()

    class Meta:
        verbose_name = _("plan subscription")
        verbose_name_plural = _("plan subscriptions")
        constraints = [
            models.UniqueConstraint(fields=["provider", "transaction_id"], name="plan_subscription_payment_unique"),
            models.CheckConstraint(condition=Q(ends_at__gt=F("starts_at")), name="plan_subscription_period_valid"),
            models.CheckConstraint(
                condition=Q(source="plan", plan__isnull=False) | Q(source="top_up", stored_value_entry__isnull=False),
                name="plan_subscription_source_valid",
            ),
        ]
        indexes = [
            # The review joins the chunk's members on their running periods.
            models.Index(fields=["member", "ends_at"], name="plan_sub_member_ends_idx"),
            # The expiry job finds ended periods it has not processed yet.
            models.Index(
                fields=["ends_at"], name="plan_sub_expiry_pending_idx", condition=Q(expiry_processed_at__isnull=True)
            ),
        ]

    def __str__(self):
        return f"{self.member_id}: {self.tier_id} {self.starts_at:%Y-%m-%d} – {self.ends_at:%Y-%m-%d}"

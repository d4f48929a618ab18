"""The points policy: what a point is worth, when it activates and expires, who may earn and spend."""

import calendar
from datetime import datetime, time, timedelta
from decimal import ROUND_DOWN, Decimal

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from members.models import Member
from members.models.ledger import MAX_POINTS_PER_ENTRY
from points.rules import DEFAULT_ITEM_BONUS_CAP

CENT = Decimal("0.01")


class MemberIdentifier(models.TextChoices):
    CARD_CODE = "card_code", _("Card code")
    MEMBER_NUMBER = "member_number", _("Member number")
    PHONE = "phone", _("Phone")


def _default_statuses():
    return [Member.Status.ACTIVE.value]


def _default_match_order():
    return [MemberIdentifier.CARD_CODE.value, MemberIdentifier.MEMBER_NUMBER.value, MemberIdentifier.PHONE.value]


def _end_of_day(day, tz) -> datetime:
    return datetime.combine(day, time(23, 59, 59), tzinfo=tz)


def _add_months(year: int, month: int, months: int) -> tuple[int, int]:
    index = year * 12 + (month - 1) + months
    return index // 12, index % 12 + 1


class PointsPolicy(models.Model):
    """The one row of the points policy: checkout value, pending period, expiry, who earns and spends."""

    class ExpiryMode(models.TextChoices):
        NEVER = "never", _("Never")
        DAYS = "days", _("A number of days after earning")
        MONTHS_END = "months_end", _("A number of months after earning, at the end of that month")
        YEARLY_DATE = "yearly_date", _("On a fixed date of the year after the year of earning")

    class RefundPolicy(models.TextChoices):
        REVERSE_PENDING_ONLY = "reverse_pending_only", _("Take back pending points only")
        REVERSE_WITHIN_BALANCE = "reverse_within_balance", _("Take back what the balance can cover")
        RECORD_DEBT = "record_debt", _("Take back all; what the balance cannot cover becomes a debt")

    class MultiplierStacking(models.TextChoices):
        ADD = "add", _("Add: each multiplier adds its extra share of the base points")
        MULTIPLY = "multiply", _("Multiply: each multiplier multiplies the points so far")

    checkout_points = models.PositiveIntegerField(
        _("points"),
        default=500,
        validators=[MinValueValidator(1)],
        help_text=_("At checkout, this many points ..."),
    )
    checkout_value = models.DecimalField(
        _("are worth"),
        max_digits=10,
        decimal_places=2,
        default=Decimal("5.00"),
        validators=[MinValueValidator(CENT)],
        help_text=_("... this much money (e.g. 500 points are worth 5.00)."),
    )
    max_points_share_percent = models.DecimalField(
        _("largest share of an order payable in points (%)"),
        max_digits=5,
        decimal_places=2,
        default=Decimal(100),
        validators=[MinValueValidator(Decimal(0)), MaxValueValidator(Decimal(100))],
    )
    max_points_per_purchase = models.PositiveIntegerField(
        _("most points per purchase"),
        default=1_000_000,
        validators=[MinValueValidator(1), MaxValueValidator(MAX_POINTS_PER_ENTRY)],
        help_text=_(
            "A purchase that would earn more points than this, or spend more, is refused (points_amount_too_large)."
        ),
    )
    items_tolerance = models.DecimalField(
        _("tolerance of item totals"),
        max_digits=10,
        decimal_places=2,
        default=Decimal("1.00"),
        validators=[MinValueValidator(Decimal(0))],
        help_text=_(
            "When a purchase lists its items, their amounts (quantity × unit price) must add up to the gross "
            "amount within this much, or the purchase is refused (items_inconsistent)."
        ),
    )
    item_bonus_cap = models.PositiveIntegerField(
        _("most points per purchase from one item bonus rule"),
        default=DEFAULT_ITEM_BONUS_CAP,
        validators=[MinValueValidator(1), MaxValueValidator(MAX_POINTS_PER_ENTRY)],
        help_text=_(
            "A category or SKU bonus rule without its own “at most points per purchase” grants at most this "
            "many points on one purchase."
        ),
    )
    pending_days = models.PositiveIntegerField(
        _("pending period (days)"), default=0, help_text=_("Earned points become available this many days later.")
    )
    multiplier_stacking = models.CharField(
        _("multiplier stacking"), max_length=10, choices=MultiplierStacking.choices, default=MultiplierStacking.ADD
    )
    expiry_mode = models.CharField(_("points expire"), max_length=12, choices=ExpiryMode.choices, default="never")
    expiry_days = models.PositiveIntegerField(_("days after earning"), null=True, blank=True)
    expiry_months = models.PositiveIntegerField(_("months after earning"), null=True, blank=True)
    expiry_month = models.PositiveSmallIntegerField(
        _("expiry month"), null=True, blank=True, validators=[MinValueValidator(1), MaxValueValidator(12)]
    )
    expiry_day = models.PositiveSmallIntegerField(
        _("expiry day"), null=True, blank=True, validators=[MinValueValidator(1), MaxValueValidator(31)]
    )
    reminder_days = models.PositiveIntegerField(
        _("remind members (days before points expire)"),
        default=30,
        validators=[MaxValueValidator(366)],
        help_text=_("Members are told of the points that expire within this many days. 0 means no reminder."),
    )
    earning_statuses = models.JSONField(
        _("member statuses that earn"), default=_default_statuses, help_text=_('e.g. ["active"]')
    )
    spending_statuses = models.JSONField(
        _("member statuses that spend"), default=_default_statuses, help_text=_('e.g. ["active"]')
    )
    refund_policy = models.CharField(
        _("when refunded points were already spent"),
        max_length=24,
        choices=RefundPolicy.choices,
        default=RefundPolicy.RECORD_DEBT,
    )
    member_match_order = models.JSONField(
        _("POS member matching order"),
        default=_default_match_order,
        help_text=_("The identifiers a POS purchase is matched by, tried in this order."),
    )
    mini_program_store = models.ForeignKey(
        "members.Store",
        verbose_name=_("store of mini-program purchases"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text=_(
            "Purchases paid in the mini program (confirmed with WeChat Pay) are recorded under this store. "
            "Empty: the mini program cannot record purchases."
        ),
    )
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("points policy")
        verbose_name_plural = _("points policy")

    def __str__(self):
        return str(_("Points policy"))

    def save(self, *args, **kwargs):
        self.pk = 1
        super().save(*args, **kwargs)

    @classmethod
    def load(cls) -> "PointsPolicy":
        """Return the policy row, creating it with the defaults if absent."""
        policy = cls.objects.filter(pk=1).first()
        if policy is not None:
            return policy
        policy, _created = cls.objects.get_or_create(pk=1)
        return policy

    # -- validation ------------------------------------------------------------------------------------------
    def clean(self):
        errors = {}
        required = {
            self.ExpiryMode.DAYS: ["expiry_days"],
            self.ExpiryMode.MONTHS_END: ["expiry_months"],
            self.ExpiryMode.YEARLY_DATE: ["expiry_month", "expiry_day"],
        }.get(self.expiry_mode, [])
        for name in required:
            if not getattr(self, name):
                errors[name] = _("Required when points expire “%(mode)s”.") % {"mode": self.get_expiry_mode_display()}
        if (
            self.expiry_mode == self.ExpiryMode.YEARLY_DATE
            and self.expiry_month
            and self.expiry_day
            and self.expiry_day > calendar.monthrange(2024, self.expiry_month)[1]  # a leap year allows 29 Feb
        ):
            errors["expiry_day"] = _("This month has no such day.")
        statuses = set(Member.Status.values)
        for name in ("earning_statuses", "spending_statuses"):
            value = getattr(self, name)
            if not isinstance(value, list) or not set(value) <= statuses:
                errors[name] = _("Give a list of member statuses among: %(choices)s.") % {
                    "choices": ", ".join(sorted(statuses))
                }
        order = self.member_match_order
        identifiers = set(MemberIdentifier.values)
        if not isinstance(order, list) or not order or not set(order) <= identifiers or len(set(order)) != len(order):
            errors["member_match_order"] = _("Give each of %(choices)s at most once, in the order to try.") % {
                "choices": ", ".join(MemberIdentifier.values)
            }
        if errors:
            raise ValidationError(errors)

    # -- what the policy means -------------------------------------------------------------------------------
    def points_value(self, points: int) -> Decimal:
        """Return what `points` are worth at checkout, rounded down to the cent."""
        return (Decimal(points) * self.checkout_value / self.checkout_points).quantize(CENT, rounding=ROUND_DOWN)

    def points_for_value(self, value: Decimal) -> int:
        """Return the most points whose checkout value does not exceed `value`."""
        points = int(Decimal(value) * self.checkout_points / self.checkout_value)
        while points > 0 and self.points_value(points) > value:
            points -= 1
        return max(points, 0)

    def activates_at_for(self, *, earned_at: datetime) -> datetime:
        return earned_at + timedelta(days=self.pending_days)

    def expires_at_for(self, *, earned_at: datetime) -> datetime | None:
        """Return when points earned (made available) at `earned_at` expire, or None when they never do.

        Dates are taken in the project's time zone; a point expires at 23:59:59 of its last day, except in
        "days" mode, where it expires exactly that many days after it was earned.
        """
        mode = self.expiry_mode
        if mode == self.ExpiryMode.DAYS and self.expiry_days:
            return earned_at + timedelta(days=self.expiry_days)
        tz = timezone.get_current_timezone()
        local = timezone.localtime(earned_at, tz)
        if mode == self.ExpiryMode.MONTHS_END and self.expiry_months:
            year, month = _add_months(local.year, local.month, self.expiry_months)
            return _end_of_day(
                local.date().replace(year=year, month=month, day=calendar.monthrange(year, month)[1]), tz
            )
        if mode == self.ExpiryMode.YEARLY_DATE and self.expiry_month and self.expiry_day:
            year = local.year + 1
            day = min(self.expiry_day, calendar.monthrange(year, self.expiry_month)[1])
            return _end_of_day(local.date().replace(year=year, month=self.expiry_month, day=day), tz)
        return None

"""What moves points: the points policy, earning rules, checkouts and refunds of purchases.

The ledger itself (entries, lots, allocations) belongs to members; this app decides how many points a
purchase earns (points.rules), what spending points is worth, when points activate and expire, and what a
refund takes back. Invariants kept here:
- one PointsPolicy row (pk=1), one PurchaseCheckout per purchase (it stores the first answer, so a retried
  checkout returns it again), refunds unique per (purchase, external id);
- the refunded amounts of a purchase never sum above its gross amount (checked under the member lock by
  points.services.checkout.purchase_refund);
- earning rules carry an explicit, unique priority: the order of evaluation never depends on edit times.
"""

import calendar
from datetime import datetime, time, timedelta
from decimal import ROUND_DOWN, Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from members.models import Member, PurchaseChannel

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
        """Return the policy row, creating it with the defaults (and the program's expiry days) if absent."""
        policy = cls.objects.filter(pk=1).first()
        if policy is not None:
            return policy
        from members.models import ProgramSettings

        days = ProgramSettings.objects.filter(pk=1).values_list("points_expiry_days", flat=True).first()
        defaults = {"expiry_mode": cls.ExpiryMode.DAYS, "expiry_days": days} if days else {}
        policy, _created = cls.objects.get_or_create(pk=1, defaults=defaults)
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


class EarningRule(models.Model):
    """One step of the earning pipeline (points.rules): a base rate, a multiplier or a bonus.

    Conditions (stores, channels, tiers, validity window, weekdays, birthday month, member day) apply to
    every kind; the parameters each kind needs are checked by clean().
    """

    class Kind(models.TextChoices):
        BASE_RATE = "base_rate", _("Base rate")
        MULTIPLIER = "multiplier", _("Multiplier")
        BONUS_CATEGORY = "bonus_category", _("Bonus on a category")
        BONUS_SKU = "bonus_sku", _("Bonus on a SKU")
        BONUS_FIRST_PURCHASE = "bonus_first_purchase", _("Bonus on the first purchase")
        BEHAVIOUR = "behaviour", _("Behaviour bonus")

    class Rounding(models.TextChoices):
        FLOOR = "floor", _("Round down")
        ROUND = "round", _("Round half up")
        CEIL = "ceil", _("Round up")

    class BehaviourEvent(models.TextChoices):
        TRY_ON = "try_on", _("Try-on")
        SHARE = "share", _("Share")
        PROFILE_COMPLETED = "profile_completed", _("Profile completed")
        PHOTO_UPLOAD = "photo_upload", _("Photo upload")

    name = models.CharField(_("name"), max_length=100)
    kind = models.CharField(_("kind"), max_length=24, choices=Kind.choices)
    priority = models.PositiveIntegerField(
        _("priority"), unique=True, help_text=_("Lower numbers run first within their stage; each number once.")
    )
    stop_further_rules = models.BooleanField(
        _("stop further rules"), default=False, help_text=_("When this rule grants points, no later rule runs.")
    )
    is_active = models.BooleanField(_("active"), default=True)
    valid_from = models.DateTimeField(_("valid from"), null=True, blank=True)
    valid_until = models.DateTimeField(_("valid until"), null=True, blank=True)

    # Conditions: empty means any.
    stores = models.ManyToManyField("members.Store", verbose_name=_("stores"), blank=True, related_name="+")
    channels = models.JSONField(_("channels"), default=list, blank=True, help_text=_("Empty means every channel."))
    tiers = models.ManyToManyField("members.Tier", verbose_name=_("tiers"), blank=True, related_name="+")
    weekdays = models.JSONField(
        _("weekdays"), default=list, blank=True, help_text=_("0 = Monday … 6 = Sunday; empty means every day.")
    )
    birthday_month_only = models.BooleanField(_("only in the member's birthday month"), default=False)
    member_day = models.PositiveSmallIntegerField(
        _("member day (day of month)"), null=True, blank=True, validators=[MinValueValidator(1), MaxValueValidator(31)]
    )

    # Parameters, by kind.
    amount_per_unit = models.DecimalField(
        _("amount"), max_digits=12, decimal_places=2, null=True, blank=True, help_text=_("e.g. 100.00 ...")
    )
    points_per_unit = models.PositiveIntegerField(
        _("earns points"), null=True, blank=True, help_text=_("... earns 10 points.")
    )
    rounding = models.CharField(_("rounding"), max_length=8, choices=Rounding.choices, default=Rounding.FLOOR)
    multiplier = models.DecimalField(_("multiplier"), max_digits=6, decimal_places=2, null=True, blank=True)
    bonus_points = models.PositiveIntegerField(_("bonus points"), null=True, blank=True)
    category = models.CharField(_("category"), max_length=64, blank=True)
    sku = models.CharField(_("SKU"), max_length=64, blank=True)
    max_points_per_purchase = models.PositiveIntegerField(_("at most points per purchase"), null=True, blank=True)
    behaviour_event = models.CharField(_("behaviour"), max_length=20, choices=BehaviourEvent.choices, blank=True)
    max_times_per_day = models.PositiveIntegerField(_("at most times per day"), null=True, blank=True)
    max_times_lifetime = models.PositiveIntegerField(_("at most times per member"), null=True, blank=True)

    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)
    history = HistoricalRecords(m2m_fields=[stores, tiers])

    class Meta:
        verbose_name = _("earning rule")
        verbose_name_plural = _("earning rules")
        constraints = [
            models.CheckConstraint(
                condition=Q(valid_from__isnull=True) | Q(valid_until__isnull=True) | Q(valid_until__gt=F("valid_from")),
                name="earning_rule_valid_window",
            )
        ]

    def __str__(self):
        return f"{self.priority}. {self.name}"

    PARAMETER_FIELDS = (
        "amount_per_unit",
        "points_per_unit",
        "multiplier",
        "bonus_points",
        "category",
        "sku",
        "max_points_per_purchase",
        "behaviour_event",
        "max_times_per_day",
        "max_times_lifetime",
    )
    _RATE = ("amount_per_unit", "points_per_unit", "max_points_per_purchase")
    USED_PARAMETERS = {
        Kind.BASE_RATE: frozenset(_RATE),
        Kind.MULTIPLIER: frozenset({"multiplier", "max_points_per_purchase"}),
        Kind.BONUS_CATEGORY: frozenset({"category", "bonus_points", *_RATE}),
        Kind.BONUS_SKU: frozenset({"sku", "bonus_points", *_RATE}),
        Kind.BONUS_FIRST_PURCHASE: frozenset({"bonus_points"}),
        Kind.BEHAVIOUR: frozenset({"behaviour_event", "bonus_points", "max_times_per_day", "max_times_lifetime"}),
    }

    def clean(self):
        """Check that the kind's parameters are given and that no other kind's parameters are set."""
        errors = {}
        kind = self.kind
        used = self.USED_PARAMETERS.get(kind, frozenset())
        for name in self.PARAMETER_FIELDS:
            value = getattr(self, name)
            if name not in used and value not in (None, ""):
                errors[name] = _("A “%(kind)s” rule does not use this field; leave it empty.") % {
                    "kind": self.get_kind_display()
                }
        has_rate = self.amount_per_unit is not None or self.points_per_unit is not None
        if kind == self.Kind.BASE_RATE or has_rate:
            if self.amount_per_unit is None or self.amount_per_unit <= 0:
                errors.setdefault("amount_per_unit", _("Give the amount that earns points, e.g. 100.00."))
            if not self.points_per_unit:
                errors.setdefault("points_per_unit", _("Give the points that amount earns, e.g. 10."))
        if kind == self.Kind.MULTIPLIER and (self.multiplier is None or self.multiplier <= 1):
            errors.setdefault("multiplier", _("Give a multiplier greater than 1, e.g. 2 for double points."))
        if kind == self.Kind.BONUS_CATEGORY and not self.category.strip():
            errors.setdefault("category", _("Give the category that earns the bonus."))
        if kind == self.Kind.BONUS_SKU and not self.sku.strip():
            errors.setdefault("sku", _("Give the SKU that earns the bonus."))
        if kind in (self.Kind.BONUS_CATEGORY, self.Kind.BONUS_SKU) and not self.bonus_points and not has_rate:
            errors.setdefault(
                "bonus_points", _("Give bonus points per unit bought, or an amount and the points it earns.")
            )
        if kind in (self.Kind.BONUS_FIRST_PURCHASE, self.Kind.BEHAVIOUR) and not self.bonus_points:
            errors.setdefault("bonus_points", _("Give the bonus points, e.g. 20."))
        if kind == self.Kind.BEHAVIOUR and not self.behaviour_event:
            errors.setdefault("behaviour_event", _("Choose the behaviour that earns the bonus."))
        if not isinstance(self.channels, list) or not set(self.channels) <= set(PurchaseChannel.values):
            errors["channels"] = _("Give a list of channels among: %(choices)s.") % {
                "choices": ", ".join(PurchaseChannel.values)
            }
        weekdays = self.weekdays
        if (
            not isinstance(weekdays, list)
            or any(not isinstance(day, int) or isinstance(day, bool) or not 0 <= day <= 6 for day in weekdays)
            or len(set(weekdays)) != len(weekdays)
        ):
            errors["weekdays"] = _("Give a list of distinct weekdays from 0 (Monday) to 6 (Sunday).")
        if self.valid_from and self.valid_until and self.valid_until <= self.valid_from:
            errors["valid_until"] = _("The end must be after the start.")
        if errors:
            raise ValidationError(errors)


class PurchaseCheckout(models.Model):
    """What one checkout did to a purchase (points spent and earned), stored as its first answer.

    A retry of the checkout (same channel, store and external id) compares its request hash with this row's
    and returns the stored result, or is refused when the body differs.
    """

    purchase = models.OneToOneField(
        "members.Purchase", verbose_name=_("purchase"), on_delete=models.PROTECT, related_name="checkout"
    )
    request_hash = models.CharField(max_length=64)
    points_spent = models.PositiveIntegerField(_("points spent"), default=0)
    points_earned = models.PositiveIntegerField(_("points earned"), default=0)
    earn_is_pending = models.BooleanField(_("pending"), default=False)
    earn_activates_at = models.DateTimeField(_("available from"), null=True, blank=True)
    earn_expires_at = models.DateTimeField(_("expires at"), null=True, blank=True)
    earn_lot = models.ForeignKey("members.PointsLot", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    spend_entry = models.ForeignKey(
        "members.PointsEntry", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    breakdown = models.JSONField(_("breakdown"), default=dict, blank=True)
    balance_after = models.PositiveIntegerField(_("balance after"), null=True, blank=True)
    coupon = models.ForeignKey(
        "coupons.Coupon", verbose_name=_("coupon"), null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    coupon_discount_amount = models.DecimalField(
        _("coupon discount"), max_digits=12, decimal_places=2, default=Decimal("0.00")
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
    points_reversed = models.PositiveIntegerField(_("earned points taken back"), default=0)
    points_pending_cancelled = models.PositiveIntegerField(_("pending points cancelled"), default=0)
    points_forgiven = models.PositiveIntegerField(
        _("earned points not taken back"), default=0, help_text=_("Left to the member by the refund policy.")
    )
    points_debt_recorded = models.PositiveIntegerField(_("points debt recorded"), default=0)
    points_returned = models.PositiveIntegerField(_("spent points returned"), default=0)
    points_value_returned = models.DecimalField(
        _("value of returned points"), max_digits=12, decimal_places=2, default=Decimal("0.00")
    )
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


class PointsGrantJob(models.Model):
    """A bulk grant of points by staff: the same points, with a reason, to a list of members or a tier or tag.

    Runs once as a chunked Celery job (points.services.grants); each member's credit carries the key
    `grant:<job>:<member>`, so a re-run (or a retried chunk) never grants twice. Rows of the list that name
    no member are kept in `row_errors` by row number and written not at all.
    """

    class Audience(models.TextChoices):
        LIST = "list", _("A list of phones or member numbers (CSV)")
        TIER = "tier", _("Every active member of a tier")
        TAG = "tag", _("Every active member with a tag")

    class Status(models.TextChoices):
        PENDING = "pending", _("Waiting")
        RUNNING = "running", _("Running")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")

    audience = models.CharField(_("members"), max_length=8, choices=Audience.choices, default=Audience.LIST)
    member_list = models.TextField(
        _("phones or member numbers"), blank=True, help_text=_("One per row; the first column of each row is read.")
    )
    tier = models.ForeignKey(
        "members.Tier", verbose_name=_("tier"), null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    tag = models.ForeignKey(
        "members.Tag", verbose_name=_("tag"), null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    points = models.PositiveIntegerField(_("points per member"), validators=[MinValueValidator(1)])
    reason = models.CharField(_("reason"), max_length=255)
    status = models.CharField(_("status"), max_length=8, choices=Status.choices, default=Status.PENDING)
    members_total = models.PositiveIntegerField(_("members found"), default=0)
    members_done = models.PositiveIntegerField(_("members processed"), default=0)
    members_granted = models.PositiveIntegerField(_("members granted"), default=0)
    row_errors = models.JSONField(_("row errors"), default=list, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("created by"), on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(_("created at"))
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)

    class Meta:
        verbose_name = _("points grant")
        verbose_name_plural = _("points grants")
        permissions = [("grant_points", _("Can grant points to many members at once"))]
        constraints = [models.CheckConstraint(condition=Q(points__gt=0), name="points_grant_job_points_positive")]

    def __str__(self):
        return f"#{self.pk} +{self.points} ({self.get_audience_display()})"

    def clean(self):
        errors = {}
        if not (self.reason or "").strip():
            errors["reason"] = _("Give the reason for the grant.")
        if self.audience == self.Audience.LIST and not (self.member_list or "").strip():
            errors["member_list"] = _("Give at least one phone or member number.")
        if self.audience == self.Audience.TIER and self.tier_id is None:
            errors["tier"] = _("Choose the tier.")
        if self.audience == self.Audience.TAG and self.tag_id is None:
            errors["tag"] = _("Choose the tag.")
        if errors:
            raise ValidationError(errors)

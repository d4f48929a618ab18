"""Lucky draws: members pay points per spin for a weighted chance at a prize.

Invariants:
- a prize's stock_remaining never goes below 0 nor above stock_total (check constraints); spins take stock by a
  conditional UPDATE (`stock_remaining > 0`), never by read-modify-write;
- one DrawSpin per (member, idempotency key); every spin keeps the weights it was drawn over and the random
  numbers drawn (`secrets.randbelow`), so any result can be re-derived by hand;
- the points of a spin move only through members.services.ledger (its debit entry, and the credit of a points
  prize), in the same transaction as the spin row.
"""

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from members.models.ledger import MAX_POINTS_PER_ENTRY
from members.models.service_owned import ServiceOwnedFieldsMixin


class LuckyDraw(models.Model):
    """A draw members spin for points: its price, window, limits and who may take part."""

    name = models.CharField(_("name"), max_length=100)
    description = models.TextField(_("description"), blank=True)
    points_per_spin = models.PositiveBigIntegerField(
        _("points per spin"), validators=[MinValueValidator(1), MaxValueValidator(MAX_POINTS_PER_ENTRY)]
    )
    starts_at = models.DateTimeField(_("starts at"))
    ends_at = models.DateTimeField(_("ends at"))
    is_active = models.BooleanField(_("active"), default=True)
    daily_spin_limit = models.PositiveIntegerField(
        _("spins per member per day"),
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text=_("Empty means no daily limit. Days are counted in the program's time zone."),
    )
    total_spin_limit = models.PositiveIntegerField(
        _("spins per member in total"),
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text=_("Empty means no limit."),
    )
    tiers = models.ManyToManyField(
        "members.Tier",
        verbose_name=_("tiers"),
        blank=True,
        related_name="+",
        help_text=_("Only members of these tiers may spin; none ticked means every tier."),
    )
    no_prize_weight = models.PositiveIntegerField(
        _("weight of no prize"),
        default=0,
        help_text=_("The share of spins that win nothing, weighed against the prizes' weights."),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)
    history = HistoricalRecords(m2m_fields=[tiers])

    class Meta:
        verbose_name = _("lucky draw")
        verbose_name_plural = _("lucky draws")
        constraints = [
            models.CheckConstraint(condition=Q(ends_at__gt=F("starts_at")), name="lucky_draw_window"),
            models.CheckConstraint(condition=Q(points_per_spin__gt=0), name="lucky_draw_points_positive"),
        ]

    def __str__(self):
        return self.name

    def clean(self):
        if self.starts_at and self.ends_at and self.ends_at <= self.starts_at:
            raise ValidationError({"ends_at": _("The draw must end after it starts.")})


class DrawPrize(ServiceOwnedFieldsMixin, models.Model):
    """One prize of a draw: points, a coupon or a gift collected in store, with its weight and its stock."""

    class Kind(models.TextChoices):
        POINTS = "points", _("Points")
        COUPON = "coupon", _("Coupon")
        GIFT = "gift", _("Gift collected in store")

    draw = models.ForeignKey(LuckyDraw, verbose_name=_("draw"), on_delete=models.CASCADE, related_name="prizes")
    name = models.CharField(_("name"), max_length=100)
    kind = models.CharField(_("kind"), max_length=8, choices=Kind.choices)
    points = models.PositiveBigIntegerField(
        _("points won"),
        null=True,
        blank=True,
        validators=[MaxValueValidator(MAX_POINTS_PER_ENTRY)],
        help_text=_("For a points prize: the points credited."),
    )
    coupon_template = models.ForeignKey(
        "coupons.CouponTemplate",
        verbose_name=_("coupon offer"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text=_("For a coupon prize: the coupon issued to the winner."),
    )
    weight = models.PositiveIntegerField(
        _("weight"),
        validators=[MinValueValidator(1)],
        help_text=_("The chance of this prize is its weight over the sum of the weights still in stock."),
    )
    stock_total = models.PositiveIntegerField(_("stock"), help_text=_("How many of this prize can be won."))
    stock_remaining = models.PositiveIntegerField(_("left in stock"), default=0)
    history = HistoricalRecords()

    # Moved only by points.services.draws (conditional UPDATEs, draw_prize_stock_set under a row lock).
    SERVICE_OWNED_FIELDS = ("stock_total", "stock_remaining")

    class Meta:
        verbose_name = _("draw prize")
        verbose_name_plural = _("draw prizes")
        constraints = [
            models.CheckConstraint(condition=Q(weight__gt=0), name="draw_prize_weight_positive"),
            models.CheckConstraint(
                condition=Q(stock_remaining__lte=F("stock_total")), name="draw_prize_remaining_lte_total"
            ),
            models.CheckConstraint(
                condition=(Q(kind="points", points__gt=0) | ~Q(kind="points"))
                & (Q(kind="coupon", coupon_template__isnull=False) | ~Q(kind="coupon")),
                name="draw_prize_kind_parameters",
            ),
        ]

    def __str__(self):
        return self.name

    def clean(self):
        errors = {}
        if self.kind == self.Kind.POINTS and not self.points:
            errors["points"] = _("Give the points a winner receives.")
        if self.kind == self.Kind.COUPON and self.coupon_template_id is None:
            errors["coupon_template"] = _("Choose the coupon offer a winner receives.")
        if errors:
            raise ValidationError(errors)


class DrawSpin(models.Model):
    """One spin of a member: what they paid, what they won, and how it was drawn (the audit record).

    `weights` holds, for each attempt, the options drawn over ({"prize_id", "weight"}, prize_id null for no
    prize), the total and the random number `secrets.randbelow(total)` returned; the option whose cumulative
    weight range holds the number won. A second attempt happens only when the prize drawn first ran out of stock
    between the read and the conditional UPDATE (the prize then drops out, as if it had been out before).
    """

    class Outcome(models.TextChoices):
        POINTS = "points", _("Points")
        COUPON = "coupon", _("Coupon")
        GIFT = "gift", _("Gift collected in store")
        NONE = "none", _("No prize")

    draw = models.ForeignKey(LuckyDraw, verbose_name=_("draw"), on_delete=models.PROTECT, related_name="spins")
    member = models.ForeignKey(
        "members.Member", verbose_name=_("member"), on_delete=models.PROTECT, related_name="draw_spins"
    )
    prize = models.ForeignKey(
        DrawPrize, verbose_name=_("prize"), null=True, blank=True, on_delete=models.PROTECT, related_name="spins"
    )
    outcome = models.CharField(_("outcome"), max_length=8, choices=Outcome.choices)
    points_spent = models.PositiveBigIntegerField(_("points spent"))
    spend_entry = models.OneToOneField(
        "members.PointsEntry", verbose_name=_("points entry"), on_delete=models.PROTECT, related_name="+"
    )
    prize_entry = models.OneToOneField(
        "members.PointsEntry",
        verbose_name=_("prize points entry"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    coupon = models.OneToOneField(
        "coupons.Coupon", verbose_name=_("coupon"), null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    claim_code = models.CharField(
        _("claim code"), max_length=20, null=True, blank=True, unique=True, help_text=_("Shown in store to collect.")
    )
    collected_at = models.DateTimeField(_("collected at"), null=True, blank=True)
    collected_store = models.ForeignKey(
        "members.Store",
        verbose_name=_("collected at store"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    random_number = models.PositiveBigIntegerField(_("random number"))
    weights = models.JSONField(_("weights drawn over"), default=dict)
    idempotency_key = models.CharField(_("idempotency key"), max_length=100)
    created_at = models.DateTimeField(_("created at"))

    class Meta:
        verbose_name = _("draw spin")
        verbose_name_plural = _("draw spins")
        constraints = [
            models.UniqueConstraint(fields=["member", "idempotency_key"], name="draw_spin_member_key_unique"),
            models.CheckConstraint(
                condition=Q(outcome="none", prize__isnull=True) | (~Q(outcome="none") & Q(prize__isnull=False)),
                name="draw_spin_outcome_prize",
            ),
        ]
        indexes = [models.Index(fields=["member", "draw", "created_at"])]

    def __str__(self):
        return f"#{self.pk} {self.get_outcome_display()}"

"""The points mall: rewards members buy with points (or points and cash), and the orders that record it.

Invariants:
- a reward's stock is taken and given back only by conditional UPDATEs in points.services.mall
  (`stock_remaining` never below 0 nor above `stock_total`, backstopped by check constraints);
- an order is unique per (member, idempotency key), so a retried redemption returns the first order; its
  points left through one `redemption` ledger entry and come back (on cancellation) through one `refund`
  entry; a pickup code is unique and exists exactly while an order is for pickup;
- a partner voucher code is handed to at most one order (one-to-one, taken with SKIP LOCKED);
- a reward with an early-access row opens at that row's time for members of that tier and above.
"""

from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from members.models.ledger import MAX_POINTS_PER_ENTRY
from members.models.service_owned import ServiceOwnedFieldsMixin
from points.images import validate_reward_image

PICKUP_KINDS = frozenset({"physical", "experience"})


class Reward(ServiceOwnedFieldsMixin, models.Model):
    """Something members buy in the mall with points (and optionally cash): a gift, a coupon, stored value,
    a partner's voucher code or an in-store experience."""

    class Kind(models.TextChoices):
        PHYSICAL = "physical", _("Physical gift (picked up in store)")
        COUPON = "coupon", _("Coupon")
        STORED_VALUE = "stored_value", _("Stored value")
        PARTNER_VOUCHER = "partner_voucher", _("Partner voucher (from an uploaded pool of codes)")
        EXPERIENCE = "experience", _("In-store experience")

    name = models.CharField(_("name"), max_length=120)
    description = models.TextField(_("description"), blank=True)
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    image = models.ImageField(
        _("image"),
        upload_to="rewards/",
        blank=True,
        validators=[validate_reward_image],
        help_text=_("JPEG, PNG or WebP, at most 5 MB and 4000 × 4000 pixels."),
    )
    thumbnail = models.ImageField(_("thumbnail"), upload_to="rewards/thumbnails/", blank=True, editable=False)
    points_price = models.PositiveBigIntegerField(
        _("points"), validators=[MinValueValidator(1), MaxValueValidator(MAX_POINTS_PER_ENTRY)]
    )
    cash_price = models.DecimalField(
        _("plus cash"),
        max_digits=12,
        decimal_places=2,
        default=Decimal("0.00"),
        validators=[MinValueValidator(Decimal(0))],
        help_text=_("0 means points only; otherwise the member also pays this amount."),
    )
    stock_total = models.PositiveIntegerField(_("stock (total)"), default=0)
    stock_remaining = models.PositiveIntegerField(_("stock left"), default=0, editable=False)
    per_member_limit = models.PositiveIntegerField(
        _("limit per member"),
        null=True,
        blank=True,
        default=1,
        validators=[MinValueValidator(1)],
        help_text=_("Cancelled orders do not count. Empty means unlimited."),
    )
    tiers = models.ManyToManyField(
        "members.Tier",
        verbose_name=_("tiers"),
        blank=True,
        related_name="+",
        help_text=_("Only members of these tiers may redeem it. Empty means every member."),
    )
    starts_at = models.DateTimeField(
        _("opens at"), null=True, blank=True, help_text=_("Empty means open now; early access may open it sooner.")
    )
    ends_at = models.DateTimeField(_("closes at"), null=True, blank=True)
    is_active = models.BooleanField(_("active"), default=True)
    sort_order = models.PositiveSmallIntegerField(_("order"), default=0)

    # What the reward gives, by kind.
    coupon_template = models.ForeignKey(
        "coupons.CouponTemplate",
        verbose_name=_("coupon offer"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text=_("For coupon rewards: the member receives one coupon of this offer."),
    )
    stored_value_amount = models.DecimalField(
        _("stored value granted"),
        max_digits=12,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal("0.01"))],
        help_text=_("For stored-value rewards."),
    )
    pickup_stores = models.ManyToManyField(
        "members.Store",
        verbose_name=_("pickup stores"),
        blank=True,
        related_name="+",
        help_text=_("For gifts and experiences: where the member may collect it. Empty means any store."),
    )

    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)
    history = HistoricalRecords(m2m_fields=[tiers, pickup_stores], excluded_fields=["stock_remaining", "updated_at"])

    # Moved only by points.services.mall (conditional UPDATEs): never written back by a console save.
    SERVICE_OWNED_FIELDS = ("stock_total", "stock_remaining")

    class Meta:
        verbose_name = _("reward")
        verbose_name_plural = _("rewards")
        constraints = [
            models.CheckConstraint(condition=Q(stock_remaining__gte=0), name="reward_stock_remaining_gte_0"),
            models.CheckConstraint(
                condition=Q(stock_remaining__lte=F("stock_total")), name="reward_stock_remaining_lte_total"
            ),
            models.CheckConstraint(condition=Q(points_price__gt=0), name="reward_points_price_positive"),
            models.CheckConstraint(condition=Q(cash_price__gte=0), name="reward_cash_price_gte_0"),
            models.CheckConstraint(
                condition=Q(starts_at__isnull=True) | Q(ends_at__isnull=True) | Q(ends_at__gt=F("starts_at")),
                name="reward_window_valid",
            ),
            models.CheckConstraint(
                condition=~Q(kind="coupon") | Q(coupon_template__isnull=False), name="reward_coupon_has_template"
            ),
            models.CheckConstraint(
                condition=~Q(kind="stored_value") | Q(stored_value_amount__gt=0),
                name="reward_stored_value_has_amount",
            ),
        ]

    def __str__(self):
        return str(self.name)

    @property
    def is_pickup(self) -> bool:
        return self.kind in PICKUP_KINDS

    @property
    def redeemed_count(self) -> int:
        return self.stock_total - self.stock_remaining

    def clean(self):
        """Check that the kind's target is given and that no other kind's target is set."""
        errors = {}
        kind = self.kind
        if kind == self.Kind.COUPON and self.coupon_template_id is None:
            errors["coupon_template"] = _("Choose the coupon offer this reward gives.")
        if kind != self.Kind.COUPON and self.coupon_template_id is not None:
            errors["coupon_template"] = _("Only coupon rewards give a coupon; leave it empty.")
        if kind == self.Kind.STORED_VALUE and not self.stored_value_amount:
            errors["stored_value_amount"] = _("Give the stored value the reward grants, e.g. 50.00.")
        if kind != self.Kind.STORED_VALUE and self.stored_value_amount is not None:
            errors["stored_value_amount"] = _("Only stored-value rewards grant stored value; leave it empty.")
        if self.starts_at and self.ends_at and self.ends_at <= self.starts_at:
            errors["ends_at"] = _("The end must be after the start.")
        if errors:
            raise ValidationError(errors)


class RewardEarlyAccess(models.Model):
    """An earlier opening of a reward for a tier (and every higher tier)."""

    reward = models.ForeignKey(Reward, verbose_name=_("reward"), on_delete=models.CASCADE, related_name="early_access")
    tier = models.ForeignKey("members.Tier", verbose_name=_("tier"), on_delete=models.PROTECT, related_name="+")
    starts_at = models.DateTimeField(_("opens at"))

    class Meta:
        verbose_name = _("early access")
        verbose_name_plural = _("early access")
        constraints = [models.UniqueConstraint(fields=["reward", "tier"], name="reward_early_access_once_per_tier")]

    def __str__(self):
        return f"{self.tier_id}: {self.starts_at:%Y-%m-%d %H:%M}"

    def clean(self):
        # In the console's inline, the reward may be unsaved yet: read it from the relation, not reward_id.
        reward = self._meta.get_field("reward").get_cached_value(self, None) or (
            self.reward if self.reward_id else None
        )
        if reward is None or self.starts_at is None:
            return
        if reward.starts_at is None:
            raise ValidationError({"starts_at": _("Set when the reward opens to everyone first.")})
        if self.starts_at >= reward.starts_at:
            raise ValidationError({"starts_at": _("Early access must open before the reward opens to everyone.")})


class RewardOrder(models.Model):
    """One redemption of a reward by a member: what it cost, what it gave, and its pickup."""

    class Status(models.TextChoices):
        AWAITING_PICKUP = "awaiting_pickup", _("Awaiting pickup")
        DELIVERED = "delivered", _("Delivered")
        FULFILLED = "fulfilled", _("Picked up")
        CANCELLED = "cancelled", _("Cancelled")

    member = models.ForeignKey(
        "members.Member", verbose_name=_("member"), on_delete=models.PROTECT, related_name="reward_orders"
    )
    reward = models.ForeignKey(Reward, verbose_name=_("reward"), on_delete=models.PROTECT, related_name="orders")
    status = models.CharField(_("status"), max_length=16, choices=Status.choices)
    points = models.PositiveBigIntegerField(_("points"))
    cash_amount = models.DecimalField(_("cash"), max_digits=12, decimal_places=2, default=Decimal("0.00"))
    payment_provider = models.CharField(_("payment provider"), max_length=32, blank=True)
    payment_transaction_id = models.CharField(_("payment transaction id"), max_length=100, blank=True)
    pickup_store = models.ForeignKey(
        "members.Store",
        verbose_name=_("pickup store"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    pickup_code = models.CharField(_("pickup code"), max_length=16, null=True, blank=True, unique=True)
    idempotency_key = models.CharField(_("idempotency key"), max_length=100)
    request_hash = models.CharField(max_length=64)
    points_entry = models.ForeignKey(
        "members.PointsEntry", verbose_name=_("points spent"), on_delete=models.PROTECT, related_name="+"
    )
    refund_entry = models.ForeignKey(
        "members.PointsEntry",
        verbose_name=_("points returned"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    coupon = models.ForeignKey(
        "coupons.Coupon", verbose_name=_("coupon"), null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    stored_value_entry = models.ForeignKey(
        "members.StoredValueEntry",
        verbose_name=_("stored value granted"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    created_at = models.DateTimeField(_("created at"))
    fulfilled_at = models.DateTimeField(_("picked up at"), null=True, blank=True)
    fulfilled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("handed over by"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    fulfilled_store = models.ForeignKey(
        "members.Store",
        verbose_name=_("picked up at store"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    cancelled_at = models.DateTimeField(_("cancelled at"), null=True, blank=True)
    cancelled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("cancelled by"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text=_("Empty when the member cancelled."),
    )
    cancel_reason = models.CharField(_("reason for cancelling"), max_length=255, blank=True)

    class Meta:
        verbose_name = _("reward order")
        verbose_name_plural = _("reward orders")
        permissions = [
            ("fulfil_rewardorder", _("Can hand over reward pickups")),
            ("cancel_rewardorder", _("Can cancel reward orders (returns points and stock)")),
        ]
        constraints = [
            models.UniqueConstraint(fields=["member", "idempotency_key"], name="reward_order_idempotency_key_unique"),
            models.UniqueConstraint(
                fields=["payment_provider", "payment_transaction_id"],
                condition=~Q(payment_transaction_id=""),
                name="reward_order_payment_unique",
            ),
            models.CheckConstraint(condition=Q(cash_amount__gte=0), name="reward_order_cash_gte_0"),
            models.CheckConstraint(
                condition=~Q(status="awaiting_pickup") | Q(pickup_code__isnull=False, pickup_store__isnull=False),
                name="reward_order_pickup_has_code_and_store",
            ),
            models.CheckConstraint(
                condition=~Q(status="fulfilled") | Q(fulfilled_at__isnull=False), name="reward_order_fulfilled_at"
            ),
            models.CheckConstraint(
                condition=~Q(status="cancelled") | Q(cancelled_at__isnull=False, refund_entry__isnull=False),
                name="reward_order_cancelled_returns_points",
            ),
        ]
        indexes = [
            models.Index(fields=["member", "reward", "status"]),
            models.Index(fields=["pickup_store", "status"]),
        ]

    def __str__(self):
        return f"#{self.pk} {self.reward_id}"


class RewardPartnerCode(models.Model):
    """One code of a partner's voucher pool (uploaded by CSV); handed to at most one order."""

    reward = models.ForeignKey(Reward, verbose_name=_("reward"), on_delete=models.PROTECT, related_name="partner_codes")
    code = models.CharField(_("code"), max_length=64, unique=True)
    pin = models.CharField(_("PIN"), max_length=32, blank=True)
    valid_until = models.DateField(_("valid until"), null=True, blank=True)
    row_number = models.PositiveIntegerField(_("row in the file"))
    imported_at = models.DateTimeField(_("imported at"))
    order = models.OneToOneField(
        RewardOrder,
        verbose_name=_("order"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="partner_code",
    )
    given_at = models.DateTimeField(_("given out at"), null=True, blank=True)

    class Meta:
        verbose_name = _("partner voucher code")
        verbose_name_plural = _("partner voucher codes")
        indexes = [models.Index(fields=["reward", "order"])]

    def __str__(self):
        return self.code

"""Dynamic tiers: the tier policy (how a tier score is computed) and the tier history (every move).

A member's tier score is the weighted sum of indicators over the policy's rolling window (spend, purchases,
points earned, active days, distinct stores). Tier.min_score_to_reach moves a member up at once;
Tier.min_score_to_keep is checked at each scheduled review: below it, after the grace period, the member
moves down one tier. Invariants:
- thresholds rise with rank (to reach and to keep), keep <= reach within a tier, and a tier's score to keep
  is at least the next lower tier's score to reach (no overlapping bands) — `tier_thresholds_check`;
- every tier change (evaluation, purchase, override) writes one TierHistory row.
"""

from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

TIER_EVALUATION_TASK_NAME = "members: tier evaluation"


def tier_thresholds_check(*, tiers) -> None:
    """Refuse thresholds that are not monotonic or overlap; each message names the tier.

    Raises ValidationError.
    """
    ordered = sorted(tiers, key=lambda tier: tier.rank)
    for tier in ordered:  # unsaved form values may have any number of decimals; show them as stored
        tier.min_score_to_reach = Decimal(tier.min_score_to_reach or 0).quantize(Decimal("0.01"))
        tier.min_score_to_keep = Decimal(tier.min_score_to_keep or 0).quantize(Decimal("0.01"))
    errors = []
    for tier in ordered:
        if tier.min_score_to_keep > tier.min_score_to_reach:
            errors.append(
                _("%(tier)s: the score to keep (%(keep)s) must not exceed the score to reach (%(reach)s).")
                % {"tier": tier.code, "keep": tier.min_score_to_keep, "reach": tier.min_score_to_reach}
            )
    for lower, higher in zip(ordered, ordered[1:], strict=False):
        names = {"tier": higher.code, "lower": lower.code}
        if higher.min_score_to_reach <= lower.min_score_to_reach:
            errors.append(
                _("%(tier)s: the score to reach (%(value)s) must be higher than %(lower)s's (%(other)s).")
                % {**names, "value": higher.min_score_to_reach, "other": lower.min_score_to_reach}
            )
        if higher.min_score_to_keep <= lower.min_score_to_keep:
            errors.append(
                _("%(tier)s: the score to keep (%(value)s) must be higher than %(lower)s's (%(other)s).")
                % {**names, "value": higher.min_score_to_keep, "other": lower.min_score_to_keep}
            )
        if higher.min_score_to_keep < lower.min_score_to_reach:
            errors.append(
                _(
                    "%(tier)s: the score to keep (%(value)s) overlaps %(lower)s: it must be at least "
                    "%(lower)s's score to reach (%(other)s)."
                )
                % {**names, "value": higher.min_score_to_keep, "other": lower.min_score_to_reach}
            )
    if errors:
        raise ValidationError(errors, code="tier_thresholds")


class TierPolicy(models.Model):
    """The one tier policy row: indicator weights, the rolling window, the review interval, the grace period, and
    how the tiers' discount combines with the rest of a checkout (order with coupons, cap, excluded categories)."""

    class DiscountApplies(models.TextChoices):
        BEFORE_COUPONS = "before_coupons", _("Before coupons (a coupon applies to the member price)")
        AFTER_COUPONS = "after_coupons", _("After coupons (the tier discount applies to what the coupon leaves)")

    window_days = models.PositiveIntegerField(
        _("rolling window (days)"), default=365, validators=[MinValueValidator(1)]
    )
    weight_spend = models.DecimalField(
        _("weight of spend (per currency unit)"), max_digits=10, decimal_places=4, default=Decimal("1.0000"),
        validators=[MinValueValidator(Decimal(0))],
    )  # fmt: skip
    weight_purchases = models.DecimalField(
        _("weight of a purchase"), max_digits=10, decimal_places=4, default=Decimal(0),
        validators=[MinValueValidator(Decimal(0))],
    )  # fmt: skip
    weight_points = models.DecimalField(
        _("weight of a point earned"), max_digits=10, decimal_places=4, default=Decimal(0),
        validators=[MinValueValidator(Decimal(0))],
    )  # fmt: skip
    weight_active_days = models.DecimalField(
        _("weight of an active day"), max_digits=10, decimal_places=4, default=Decimal(0),
        validators=[MinValueValidator(Decimal(0))],
    )  # fmt: skip
    weight_stores = models.DecimalField(
        _("weight of a distinct store"), max_digits=10, decimal_places=4, default=Decimal(0),
        validators=[MinValueValidator(Decimal(0))],
    )  # fmt: skip
    evaluation_interval_hours = models.PositiveIntegerField(
        _("review every (hours)"), default=72, validators=[MinValueValidator(1)],
        help_text=_("How often the scheduled job re-evaluates every member (a django-celery-beat schedule)."),
    )  # fmt: skip
    grace_period_days = models.PositiveIntegerField(
        _("grace period (days)"), default=30,
        help_text=_("How long a member may stay below their tier's score to keep before moving down one tier."),
    )  # fmt: skip
    last_evaluated_at = models.DateTimeField(_("last review"), null=True, blank=True, editable=False)
    # How the tiers' discount (Tier.discount_percent) applies at checkout: points.tier_discount (order, cap, lines).
    discount_applies = models.CharField(
        _("tier discount applies"), max_length=16, choices=DiscountApplies.choices,
        default=DiscountApplies.BEFORE_COUPONS,
        help_text=_(
            "The till's own discount always comes off first. Before coupons: the tier discount comes next, and a "
            "coupon's minimum spend is checked on the amount after it. After coupons: the coupon comes next, and "
            "the tier discount is taken from what is left. Points and stored value pay the rest."
        ),
    )  # fmt: skip
    discount_max_amount = models.DecimalField(
        _("most tier discount per purchase"), max_digits=12, decimal_places=2, null=True, blank=True,
        validators=[MinValueValidator(Decimal(0))],
        help_text=_("The tier discount takes at most this much off one purchase. Empty: no limit."),
    )  # fmt: skip
    discount_excluded_categories = models.JSONField(
        _("categories without tier discount"), default=list, blank=True,
        help_text=_(
            "Item categories the tier discount leaves out, e.g. gift cards or items already on sale (compared "
            "without regard to case). Only purchases that list their items can leave lines out; without items, "
            "the whole amount gets the discount."
        ),
    )  # fmt: skip
    history = HistoricalRecords(excluded_fields=["last_evaluated_at"])

    INDICATORS = ("spend", "purchases", "points", "active_days", "stores")

    class Meta:
        verbose_name = _("tier policy")
        verbose_name_plural = _("tier policy")

    def __str__(self):
        return str(_("Tier policy"))

    def save(self, *args, **kwargs):
        self.pk = 1
        super().save(*args, **kwargs)

    @classmethod
    def load(cls):
        obj, _created = cls.objects.get_or_create(pk=1)
        return obj

    def weights(self) -> dict[str, Decimal]:
        return {name: getattr(self, f"weight_{name}") for name in self.INDICATORS}

    def clean(self):
        errors = {}
        if not any(self.weights().values()):
            errors["__all__"] = ValidationError(_("Give at least one indicator a weight above zero."), code="no_weight")
        categories = self.discount_excluded_categories
        if not isinstance(categories, list) or any(
            not isinstance(item, str) or not item.strip() for item in categories
        ):
            errors["discount_excluded_categories"] = ValidationError(_("Give a list of names."), code="invalid")
        if errors:
            raise ValidationError(errors)

    def discount_excluded_keys(self) -> frozenset[str]:
        """The excluded categories as item categories are compared with them (trimmed, case-folded)."""
        return frozenset(category.strip().casefold() for category in self.discount_excluded_categories or ())


class TierHistory(models.Model):
    """One tier move of a member: old tier, new tier, the score behind it and why. Append-only."""

    class Reason(models.TextChoices):
        UPGRADE = "upgrade", _("Upgrade at a review")
        DOWNGRADE = "downgrade", _("Downgrade at a review")
        PURCHASE_UPGRADE = "purchase_upgrade", _("Upgrade after a purchase")
        OVERRIDE = "override", _("Manual override")
        GRANT = "grant", _("Tier held by a plan or a top-up")

    member = models.ForeignKey(
        "members.Member",
        verbose_name=_("member"),
        on_delete=models.PROTECT,
        related_name="tier_history",
        db_index=False,  # (member, created_at) below serves it
    )
    old_tier = models.ForeignKey(
        "members.Tier", verbose_name=_("old tier"), null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    new_tier = models.ForeignKey(
        "members.Tier", verbose_name=_("new tier"), null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    score = models.DecimalField(_("score"), max_digits=16, decimal_places=2, null=True, blank=True)
    reason = models.CharField(_("reason"), max_length=20, choices=Reason.choices)
    note = models.CharField(_("note"), max_length=255, blank=True, help_text=_("Why, for a manual override."))
    override_until = models.DateTimeField(_("override until"), null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("created by"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,  # the audit log's partial index of staff rows serves it (console 0003)
    )
    created_at = models.DateTimeField(_("created at"))

    class Meta:
        verbose_name = _("tier change")
        verbose_name_plural = _("tier history")
        indexes = [models.Index(fields=["member", "created_at"])]
        permissions = [("override_tier", _("Can set a member's tier by hand"))]

    def __str__(self):
        return f"{self.member_id}: {self.old_tier_id} -> {self.new_tier_id}"

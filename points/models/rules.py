"""Earning rules: the configurable steps of the pipeline in points.rules."""

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from members.models import PurchaseChannel


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
    max_points_per_purchase = models.PositiveIntegerField(
        _("at most points per purchase"),
        null=True,
        blank=True,
        help_text=_(
            "The most points this rule grants on one purchase. Empty: no cap for base rates and multipliers; "
            "category and SKU bonuses are capped by the points policy."
        ),
    )
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

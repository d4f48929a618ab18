from decimal import Decimal

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords


class ProgramSettings(models.Model):
    """The one settings row of the member program (one deployment = one brand)."""

    program_name = models.CharField(_("program name"), max_length=100, default="Loyalty Club")
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("program settings")
        verbose_name_plural = _("program settings")

    def __str__(self):
        return str(self.program_name)

    def save(self, *args, **kwargs):
        self.pk = 1
        super().save(*args, **kwargs)

    @classmethod
    def load(cls):
        obj, _created = cls.objects.get_or_create(pk=1)
        return obj


class Store(models.Model):
    code = models.SlugField(_("code"), max_length=32, unique=True)
    name = models.CharField(_("name"), max_length=120)
    address = models.CharField(_("address"), max_length=255, blank=True)
    phone = models.CharField(_("phone"), max_length=32, blank=True)
    # The free text stores had before opening hours were structured (members/models/stores.py): kept, read-only,
    # so staff can check what they entered against it; members no longer see it.
    previous_opening_hours = models.CharField(_("previous opening hours text"), max_length=255, blank=True)
    latitude = models.DecimalField(
        _("latitude"),
        max_digits=9,
        decimal_places=6,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal(-90)), MaxValueValidator(Decimal(90))],
    )
    longitude = models.DecimalField(
        _("longitude"),
        max_digits=9,
        decimal_places=6,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal(-180)), MaxValueValidator(Decimal(180))],
    )
    is_active = models.BooleanField(_("active"), default=True)
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("store")
        verbose_name_plural = _("stores")
        ordering = ["code"]

    def __str__(self):
        return f"{self.name} ({self.code})"


class StoreApiKey(models.Model):
    """A POS key: public prefix + secret; only a hash of the whole key is stored."""

    store = models.ForeignKey(Store, verbose_name=_("store"), on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(_("name"), max_length=80, blank=True)
    prefix = models.CharField(_("prefix"), max_length=16, unique=True, editable=False)
    key_hash = models.CharField(max_length=64, editable=False)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    last_used_at = models.DateTimeField(_("last used at"), null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True)

    class Meta:
        verbose_name = _("POS API key")
        verbose_name_plural = _("POS API keys")

    def __str__(self):
        return f"{self.store.code}: {self.prefix}…"


class Tier(models.Model):
    code = models.SlugField(_("code"), max_length=16, unique=True)
    name = models.CharField(_("name"), max_length=60)
    rank = models.PositiveSmallIntegerField(_("rank"), unique=True, help_text=_("1 is the entry tier."))
    earn_multiplier = models.DecimalField(
        _("earn multiplier"),
        max_digits=5,
        decimal_places=2,
        default=Decimal("1.00"),
        validators=[MinValueValidator(Decimal(0))],
    )
    # Qualification (issue 4): a tier score over the policy's rolling window, see members/models/tiers.py.
    min_score_to_reach = models.DecimalField(
        _("score to reach"),
        max_digits=14,
        decimal_places=2,
        default=Decimal("0.00"),
        validators=[MinValueValidator(Decimal(0))],
        help_text=_("A member whose tier score reaches this moves up to this tier at once."),
    )
    min_score_to_keep = models.DecimalField(
        _("score to keep"),
        max_digits=14,
        decimal_places=2,
        default=Decimal("0.00"),
        validators=[MinValueValidator(Decimal(0))],
        help_text=_("Below this at a review (after the grace period) the member moves down one tier."),
    )
    # Benefits: each one is applied by the checkout (points.services.checkout) or a job; none is shown only.
    discount_percent = models.DecimalField(
        _("discount (%)"),
        max_digits=5,
        decimal_places=2,
        default=Decimal("0.00"),
        validators=[MinValueValidator(Decimal(0)), MaxValueValidator(Decimal(100))],
        help_text=_(
            "Taken off the purchases of members in this tier, at the till and in the mini program, on its own line. "
            "The tier policy says whether it applies before or after coupons, the most it takes off one purchase "
            "and the item categories it leaves out."
        ),
    )
    birthday_multiplier = models.DecimalField(
        _("birthday points multiplier"),
        max_digits=5,
        decimal_places=2,
        default=Decimal("1.00"),
        validators=[MinValueValidator(Decimal(0))],
        help_text=_(
            "In the member's birthday month, purchases earn the base points times this (3 = three times); it adds "
            "to the earn multiplier and the earning rules, on its own line of the points breakdown. 1 = none."
        ),
    )
    monthly_gift_description = models.CharField(
        _("monthly gift"),
        max_length=200,
        blank=True,
        help_text=_(
            "Shown to members while the tier has an active monthly gift (monthly tier gifts), which grants it."
        ),
    )
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("tier")
        verbose_name_plural = _("tiers")
        ordering = ["rank"]

    def __str__(self):
        return f"{self.code} {self.name}"

    def clean(self):
        from members.models.tiers import tier_thresholds_check

        tier_thresholds_check(tiers=[*Tier.objects.exclude(pk=self.pk), self])

"""Stored value: a money ledger with the points ledger's rigour, and the top-up offers that feed it.

Invariants (kept by members/services/stored_value.py, backstopped by constraints):
- StoredValueEntry is append-only; for every member sum(amount) == Member.stored_value_balance >= 0;
- each entry's idempotency key is unique: a top-up's key derives from (provider, transaction id), so a
  replayed payment writes nothing new;
- amounts are Decimal with 2 places in the settings' currency.
"""

from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from infra.translation import text_shown
from members.models.plans import DurationUnit


class TopUpOfferQuerySet(models.QuerySet):
    def available(self, *, now):
        return self.filter(
            Q(valid_from__isnull=True) | Q(valid_from__lte=now),
            Q(valid_until__isnull=True) | Q(valid_until__gt=now),
            is_active=True,
        )


class TopUpOffer(models.Model):
    """Pay `pay_amount`, get `pay_amount + bonus_amount` of stored value."""

    name = models.CharField(_("name"), max_length=100)
    pay_amount = models.DecimalField(
        _("pay"), max_digits=12, decimal_places=2, validators=[MinValueValidator(Decimal("0.01"))]
    )
    bonus_amount = models.DecimalField(
        _("bonus"), max_digits=12, decimal_places=2, default=Decimal("0.00"), validators=[MinValueValidator(0)]
    )
    is_active = models.BooleanField(_("active"), default=True)
    valid_from = models.DateTimeField(_("valid from"), null=True, blank=True)
    valid_until = models.DateTimeField(_("valid until"), null=True, blank=True)
    sort_order = models.PositiveSmallIntegerField(_("order"), default=0)
    # Optionally the top-up also grants a tier for a period (a MemberPlanSubscription row with source top_up).
    tier = models.ForeignKey(
        "members.Tier", verbose_name=_("tier granted"), null=True, blank=True, on_delete=models.PROTECT,
        related_name="+", help_text=_("Optional: the member holds at least this tier for the period below."),
    )  # fmt: skip
    tier_duration_value = models.PositiveIntegerField(_("tier held for"), null=True, blank=True)
    tier_duration_unit = models.CharField(
        _("unit"), max_length=8, choices=DurationUnit.choices, default=DurationUnit.MONTHS
    )
    history = HistoricalRecords()
    objects = TopUpOfferQuerySet.as_manager()

    class Meta:
        verbose_name = _("top-up offer")
        verbose_name_plural = _("top-up offers")
        constraints = [
            models.CheckConstraint(
                condition=Q(pay_amount__gt=0, bonus_amount__gte=0), name="top_up_offer_amounts_valid"
            ),
            models.CheckConstraint(
                condition=Q(tier__isnull=True) | Q(tier_duration_value__gt=0), name="top_up_offer_tier_has_duration"
            ),
        ]

    def __str__(self):
        return str(self.name)

    def clean(self):
        if self.valid_from and self.valid_until and self.valid_until <= self.valid_from:
            raise ValidationError({"valid_until": _("The end must be after the start.")})
        if self.tier_id and not self.tier_duration_value:
            raise ValidationError({"tier_duration_value": _("Say how long the tier is held.")})


class StoredValueEntry(models.Model):
    """One line of a member's stored-value ledger (signed amount). Append-only: corrections are new entries."""

    class Kind(models.TextChoices):
        TOP_UP = "top_up", _("Top-up")
        BONUS = "bonus", _("Top-up bonus")
        SPEND = "spend", _("Spend")
        REFUND = "refund", _("Refund")
        ADJUSTMENT = "adjustment", _("Adjustment")

    member = models.ForeignKey(
        "members.Member",
        verbose_name=_("member"),
        on_delete=models.PROTECT,
        related_name="stored_value_entries",
        db_index=False,  # (member, created_at) below serves it
    )
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    amount = models.DecimalField(_("amount"), max_digits=12, decimal_places=2)
    balance_after = models.DecimalField(_("balance after"), max_digits=14, decimal_places=2)
    idempotency_key = models.CharField(_("idempotency key"), max_length=160, unique=True)
    offer = models.ForeignKey(
        TopUpOffer, verbose_name=_("offer"), null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    provider = models.CharField(_("payment provider"), max_length=32, blank=True)
    transaction_id = models.CharField(_("payment transaction id"), max_length=100, blank=True)
    purchase = models.ForeignKey(
        "members.Purchase",
        verbose_name=_("purchase"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="stored_value_entries",
    )
    refund_of = models.ForeignKey(
        "self", verbose_name=_("refund of"), null=True, blank=True, on_delete=models.PROTECT, related_name="refunds"
    )
    source = models.CharField(_("source"), max_length=64, blank=True)
    reason = models.CharField(_("reason"), max_length=255, blank=True)
    # As PointsEntry.reason_texts: every language's reason when it is merchant content (a reward's name), else NULL.
    reason_texts = models.JSONField(_("reason in every language"), null=True, blank=True, editable=False)
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

    CREDIT_KINDS = frozenset({"top_up", "bonus", "refund"})

    class Meta:
        verbose_name = _("stored-value entry")
        verbose_name_plural = _("stored-value entries")
        constraints = [
            models.CheckConstraint(condition=~Q(amount=0), name="stored_value_entry_amount_not_zero"),
            models.CheckConstraint(condition=Q(balance_after__gte=0), name="stored_value_entry_balance_gte_0"),
            models.CheckConstraint(
                condition=Q(kind__in=["top_up", "bonus", "refund"], amount__gt=0)
                | Q(kind="spend", amount__lt=0)
                | Q(kind="adjustment"),
                name="stored_value_entry_sign_matches_kind",
            ),
        ]
        indexes = [models.Index(fields=["member", "created_at"])]
        permissions = [("adjust_stored_value", _("Can adjust stored value by hand"))]

    def __str__(self):
        return f"{self.get_kind_display()} {self.amount:+}"

    @property
    def reason_shown(self) -> str:
        """The reason in the reader's (active) language: infra.translation.text_shown."""
        return text_shown(self.reason, self.reason_texts)

    reason_shown.fget.short_description = _("reason")

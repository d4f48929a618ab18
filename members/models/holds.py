"""Holds: points and stored value set aside for a checkout that waits for its payment.

A hold is a row of the ledgers, not a move of a balance: `points_balance` and `stored_value_balance` stay what
the entries say, and `Member.points_held` / `stored_value_held` cache the sum of the member's active holds, kept
by members/services/holds.py under the member lock. What a member can spend is the balance minus what is held
(members.selectors.holds.points_available / stored_value_available); every debit checks that.
Invariants (check_points_ledger and check_stored_value_ledger verify them):
- for every member, sum(points of active holds) == points_held and sum(stored value of active holds) ==
  stored_value_held, both >= 0;
- a hold is active until it is settled (its checkout's purchase spent it) or released (cancelled, expired,
  refunded), once: a closed hold never reopens;
- `reference` is unique: the checkout that placed it, so a retry places nothing twice.
"""

from decimal import Decimal

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class BalanceHold(models.Model):
    """Points and stored value held for one checkout until it is paid, cancelled or expired."""

    class Status(models.TextChoices):
        ACTIVE = "active", _("Held")
        SETTLED = "settled", _("Spent by the purchase")
        RELEASED = "released", _("Released")

    member = models.ForeignKey(
        "members.Member", verbose_name=_("member"), on_delete=models.PROTECT, related_name="balance_holds"
    )
    points = models.PositiveBigIntegerField(_("points held"), default=0)
    stored_value_amount = models.DecimalField(
        _("stored value held"), max_digits=12, decimal_places=2, default=Decimal("0.00")
    )
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.ACTIVE)
    reference = models.CharField(_("held for"), max_length=64)  # unique: see Meta
    created_at = models.DateTimeField(_("created at"))
    expires_at = models.DateTimeField(_("held until"))
    closed_at = models.DateTimeField(_("settled or released at"), null=True, blank=True)

    class Meta:
        verbose_name = _("balance hold")
        verbose_name_plural = _("balance holds")
        constraints = [
            models.UniqueConstraint(fields=["reference"], name="balance_hold_reference_unique"),
            models.CheckConstraint(
                condition=Q(points__gt=0) | Q(stored_value_amount__gt=0), name="balance_hold_holds_something"
            ),
            models.CheckConstraint(condition=Q(stored_value_amount__gte=0), name="balance_hold_amount_gte_0"),
            models.CheckConstraint(
                condition=Q(status="active", closed_at__isnull=True) | Q(~Q(status="active"), closed_at__isnull=False),
                name="balance_hold_closed_when_not_active",
            ),
        ]
        indexes = [
            models.Index(fields=["member"], condition=Q(status="active"), name="balance_hold_active_member"),
        ]

    def __str__(self):
        return f"{self.reference}: {self.points} points, {self.stored_value_amount} ({self.get_status_display()})"

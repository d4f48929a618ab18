"""Multiplier windows: "x2 points for 7 days" for one member, as a campaign reward.

A window multiplies what the member's purchases earn between `starts_at` (inclusive) and `ends_at` (exclusive).
Written only by points.services.multiplier_windows (idempotent by `key`, e.g. `campaign:<recipient id>`); read by
the checkout's earning pipeline (points.rules). `points` does not know campaigns: the window keeps the reason
(the campaign's name in every language) for the breakdown, not a link. Invariants: multiplier above 1 and at most
MAX_WINDOW_MULTIPLIER, a window that ends after it starts, one window per key (database constraints).
"""

from decimal import Decimal

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

# A window multiplies a purchase's base points: x10 already turns HK$1,000 at 10 points per HK$100 into 1,000
# points; anything above is a typing error, and would push ordinary purchases past max_points_per_purchase.
MAX_WINDOW_MULTIPLIER = Decimal(10)


class MultiplierWindow(models.Model):
    member = models.ForeignKey(
        "members.Member", verbose_name=_("member"), on_delete=models.PROTECT, related_name="multiplier_windows"
    )
    multiplier = models.DecimalField(
        _("multiplier"),
        max_digits=4,
        decimal_places=2,
        validators=[MinValueValidator(Decimal("1.01")), MaxValueValidator(MAX_WINDOW_MULTIPLIER)],
    )
    starts_at = models.DateTimeField(_("starts at"))
    ends_at = models.DateTimeField(_("ends at"))
    key = models.CharField(_("idempotency key"), max_length=120, unique=True)
    reason = models.CharField(_("reason"), max_length=255)
    created_at = models.DateTimeField(_("created at"))

    class Meta:
        verbose_name = _("points multiplier window")
        verbose_name_plural = _("points multiplier windows")
        constraints = [
            models.CheckConstraint(
                condition=Q(multiplier__gt=1, multiplier__lte=MAX_WINDOW_MULTIPLIER),
                name="multiplier_window_multiplier_range",
            ),
            models.CheckConstraint(condition=Q(ends_at__gt=F("starts_at")), name="multiplier_window_ends_after_start"),
        ]
        # The checkout's one read: a member's windows not yet ended at the purchase's time.
        indexes = [models.Index(fields=["member", "ends_at"], name="multiplier_window_member_end")]

    def __str__(self):
        return f"x{self.multiplier} {self.member_id} {self.starts_at:%Y-%m-%d}..{self.ends_at:%Y-%m-%d}"

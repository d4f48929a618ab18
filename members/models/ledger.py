from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from infra.translation import text_shown

# Bounds of the ledger. The points columns are 64-bit; these keep every figure far inside them: one entry moves at
# most MAX_POINTS_PER_ENTRY points and a member holds (available plus pending) at most MAX_POINTS_BALANCE, so
# sums over a million members still fit a 64-bit integer. Anything larger is a mistake or an attack, refused
# with points_amount_too_large / points_balance_too_large before it reaches the database.
MAX_POINTS_PER_ENTRY = 1_000_000_000
MAX_POINTS_BALANCE = 1_000_000_000_000


class PointsEntry(models.Model):
    """One line of a member's points ledger. Append-only: a correction is a new entry.

    `pending` entries are memos of points not yet available (their lot is inactive); they do not count
    in the balance. When the lot activates, an `accrual` entry carries the points into the balance.
    """

    class Kind(models.TextChoices):
        PENDING = "pending", _("Pending")
        ACCRUAL = "accrual", _("Accrual")
        REDEMPTION = "redemption", _("Redemption")
        REFUND = "refund", _("Refund")
        ADDITION = "addition", _("Manual addition")
        REMOVAL = "removal", _("Manual removal")
        EXPIRATION = "expiration", _("Expiration")
        TRANSFER_IN = "transfer_in", _("Transfer in")
        TRANSFER_OUT = "transfer_out", _("Transfer out")
        OPENING = "opening", _("Opening balance")

    CREDIT_KINDS = frozenset({"accrual", "refund", "addition", "transfer_in", "opening"})
    DEBIT_KINDS = frozenset({"redemption", "removal", "expiration", "transfer_out", "refund"})

    # The busiest table of all (every purchase, expiry and grant writes here): its indexes are chosen, not
    # defaulted. member lookups use (member, created_at); the rarely-set references get partial indexes.
    member = models.ForeignKey(
        "members.Member",
        verbose_name=_("member"),
        on_delete=models.PROTECT,
        related_name="points_entries",
        db_index=False,
    )
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    delta = models.BigIntegerField(_("points"))
    balance_after = models.PositiveBigIntegerField(_("balance after"))
    debt_after = models.PositiveBigIntegerField(_("debt after"), default=0)
    idempotency_key = models.CharField(_("idempotency key"), max_length=120)  # unique: see Meta
    purchase = models.ForeignKey(
        "members.Purchase",
        verbose_name=_("purchase"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="points_entries",
        db_index=False,
    )
    source = models.CharField(_("source"), max_length=64, blank=True, help_text=_("What caused the entry."))
    reason = models.CharField(_("reason"), max_length=255, blank=True)
    # The reason in every language, {language: text}, when it comes from merchant content (a reward's, draw's,
    # prize's, auction item's or campaign's name as it was then) or a system text with such a name in it; NULL when
    # the reason is one text (typed by staff, or the system's own text kept as its msgid). `reason` then holds the
    # default language's text. Readers show `reason_shown`. NULL costs the writers that leave it out (the till's
    # settle, the expiry, the import's openings: raw SQL and bulk_create) nothing.
    reason_texts = models.JSONField(_("reason in every language"), null=True, blank=True, editable=False)
    breakdown = models.JSONField(_("breakdown"), default=dict, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("created by"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
    )
    created_at = models.DateTimeField(_("created at"))

    class Meta:
        verbose_name = _("points entry")
        verbose_name_plural = _("points entries")
        constraints = [
            models.CheckConstraint(condition=~Q(delta=0), name="points_entry_delta_not_zero"),
            # A constraint rather than unique=True: PostgreSQL then builds no second, pattern-matching index.
            models.UniqueConstraint(fields=["idempotency_key"], name="points_entry_idempotency_key_unique"),
        ]
        indexes = [
            models.Index(fields=["member", "created_at"]),
            # Today's entries, counted live by the dashboard and the points report over the stored daily figures
            # (console.selectors.figures): without it, a scan of the whole ledger on every page.
            models.Index(fields=["created_at"], name="points_entry_created"),
            models.Index(fields=["purchase"], condition=Q(purchase__isnull=False), name="points_entry_purchase"),
            # Entries by staff user are read from the audit log's audit_points_by_staff (created_by, created_at, id,
            # staff rows only: console 0003), which also serves the user foreign key's lookups.
        ]

    def __str__(self):
        return f"{self.get_kind_display()} {self.delta:+d}"

    @property
    def reason_shown(self) -> str:
        """The reason in the reader's (active) language: infra.translation.text_shown."""
        return text_shown(self.reason, self.reason_texts)

    reason_shown.fget.short_description = _("reason")


class PointsLot(models.Model):
    """What one credit has left. Debits draw from active lots, soonest expiry first."""

    member = models.ForeignKey("members.Member", on_delete=models.PROTECT, related_name="points_lots")
    entry = models.OneToOneField(PointsEntry, on_delete=models.PROTECT, related_name="lot")
    points = models.PositiveBigIntegerField(_("points"))
    remaining = models.PositiveBigIntegerField(_("remaining"))
    is_active = models.BooleanField(_("available"), default=True)
    activates_at = models.DateTimeField(_("available from"))
    expires_at = models.DateTimeField(_("expires at"), null=True, blank=True)

    class Meta:
        verbose_name = _("points lot")
        verbose_name_plural = _("points lots")
        constraints = [
            models.CheckConstraint(condition=Q(remaining__lte=F("points")), name="points_lot_remaining_lte_points"),
        ]
        indexes = [
            models.Index(
                fields=["member", "expires_at"], condition=Q(remaining__gt=0), name="points_lot_open_by_member"
            ),
            models.Index(fields=["activates_at"], condition=Q(is_active=False), name="points_lot_pending"),
        ]

    def __str__(self):
        return f"{self.remaining}/{self.points}"


class PointsAllocation(models.Model):
    """How many points a debit entry took from one lot (so refunds and expiry stay exact)."""

    entry = models.ForeignKey(PointsEntry, on_delete=models.PROTECT, related_name="allocations")
    lot = models.ForeignKey(PointsLot, on_delete=models.PROTECT, related_name="allocations")
    points = models.PositiveBigIntegerField()

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(points__gt=0), name="points_allocation_positive")]

    def __str__(self):
        return f"{self.points} from lot {self.lot_id}"


class IdempotencyRecord(models.Model):
    """The first answer to a request with an Idempotency-Key, replayed on a retry."""

    scope = models.CharField(max_length=64)
    key = models.CharField(max_length=100)
    request_hash = models.CharField(max_length=64)
    status_code = models.PositiveSmallIntegerField(null=True)
    response_body = models.JSONField(null=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["scope", "key"], name="idempotency_scope_key_unique")]

    def __str__(self):
        return f"{self.scope}:{self.key}"

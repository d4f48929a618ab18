"""Points auctions for limited editions: members bid points; the leading bid's points are held, not spent.

Invariants:
- at most one leading bid per auction (a partial unique constraint); every bid is placed under the auction's row
  lock, so bids of one auction are serialised;
- a bid holds its points by a `transfer_out` ledger entry while it leads; when outbid (or the auction is cancelled)
  the same points come back by `transfer_in` entries carrying the expiries of the lots they were taken from;
- at close the winner's hold becomes the spend (no second debit): the auction is settled once, by the job that
  closes it under its row lock.
"""

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from members.models.ledger import MAX_POINTS_PER_ENTRY


class Auction(models.Model):
    """A limited edition sold for points to the highest bidder at the end of a window."""

    class Status(models.TextChoices):
        OPEN = "open", _("Open")
        CLOSED = "closed", _("Closed without a winner")
        SETTLED = "settled", _("Settled")
        CANCELLED = "cancelled", _("Cancelled")

    item_name = models.CharField(_("item"), max_length=100)
    description = models.TextField(_("description"), blank=True)
    image = models.ImageField(_("image"), upload_to="auctions/", blank=True)
    starts_at = models.DateTimeField(_("starts at"))
    ends_at = models.DateTimeField(_("ends at"))
    starting_bid = models.PositiveBigIntegerField(
        _("starting bid (points)"), validators=[MinValueValidator(1), MaxValueValidator(MAX_POINTS_PER_ENTRY)]
    )
    min_increment = models.PositiveBigIntegerField(
        _("minimum raise (points)"),
        default=1,
        validators=[MinValueValidator(1), MaxValueValidator(MAX_POINTS_PER_ENTRY)],
    )
    extension_seconds = models.PositiveIntegerField(
        _("anti-sniping extension (seconds)"),
        default=0,
        help_text=_("A bid in the last this many seconds moves the end to this many seconds after the bid; 0: off."),
    )
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.OPEN)
    winner = models.ForeignKey(
        "members.Member",
        verbose_name=_("winner"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="auctions_won",
    )
    winning_bid = models.OneToOneField(
        "points.AuctionBid",
        verbose_name=_("winning bid"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    winning_points = models.PositiveBigIntegerField(_("winning points"), null=True, blank=True)
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
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True)
    cancelled_reason = models.CharField(_("reason for cancelling"), max_length=255, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("points auction")
        verbose_name_plural = _("points auctions")
        constraints = [
            models.CheckConstraint(condition=Q(ends_at__gt=F("starts_at")), name="auction_window"),
            models.CheckConstraint(condition=Q(starting_bid__gt=0), name="auction_starting_bid_positive"),
            models.CheckConstraint(condition=Q(min_increment__gt=0), name="auction_min_increment_positive"),
            models.CheckConstraint(
                condition=~Q(status="settled")
                | Q(winner__isnull=False, winning_bid__isnull=False, claim_code__isnull=False),
                name="auction_settled_has_winner",
            ),
        ]
        indexes = [models.Index(fields=["status", "ends_at"])]

    def __str__(self):
        return self.item_name

    def clean(self):
        if self.starts_at and self.ends_at and self.ends_at <= self.starts_at:
            raise ValidationError({"ends_at": _("The auction must end after it starts.")})


class AuctionBid(models.Model):
    """One bid: its points are held (a `transfer_out` entry) while it leads and released when outbid."""

    class Status(models.TextChoices):
        LEADING = "leading", _("Leading")
        OUTBID = "outbid", _("Outbid")
        WON = "won", _("Won")
        CANCELLED = "cancelled", _("Cancelled")

    auction = models.ForeignKey(Auction, verbose_name=_("auction"), on_delete=models.PROTECT, related_name="bids")
    member = models.ForeignKey(
        "members.Member", verbose_name=_("member"), on_delete=models.PROTECT, related_name="auction_bids"
    )
    points = models.PositiveBigIntegerField(_("points"))
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.LEADING)
    hold_entry = models.OneToOneField(
        "members.PointsEntry", verbose_name=_("hold entry"), on_delete=models.PROTECT, related_name="+"
    )
    release_entries = models.ManyToManyField(
        "members.PointsEntry", verbose_name=_("release entries"), blank=True, related_name="+"
    )
    released_at = models.DateTimeField(_("released at"), null=True, blank=True)
    idempotency_key = models.CharField(_("idempotency key"), max_length=100)
    created_at = models.DateTimeField(_("created at"))

    class Meta:
        verbose_name = _("auction bid")
        verbose_name_plural = _("auction bids")
        constraints = [
            models.UniqueConstraint(fields=["member", "idempotency_key"], name="auction_bid_member_key_unique"),
            models.UniqueConstraint(fields=["auction"], condition=Q(status="leading"), name="auction_bid_one_leader"),
            models.CheckConstraint(condition=Q(points__gt=0), name="auction_bid_points_positive"),
        ]
        indexes = [models.Index(fields=["member", "created_at"])]

    def __str__(self):
        return f"{self.points} ({self.get_status_display()})"

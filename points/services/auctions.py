"""Points auctions: bids hold points while they lead, release them when outbid, and the winner's hold is the spend.

Holding: a bid takes its points with a `transfer_out` ledger entry (source `auction:<id>`), so held points cannot
be spent twice; a release gives them back with `transfer_in` entries, one per expiry date of the lots the hold
drew from, so the points come back with the expiries they had (bidding never extends the life of points). The
winner's hold is not returned: at close it becomes the spend, and the auction records the settlement.

Lock order: the auction row (select_for_update), then the members involved in primary-key order
(members.services.locks.lock_members), then what the ledger locks. Nothing here reads the clock.
"""

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.utils.translation import gettext_lazy as _

from coupons.codes import generate_code
from infra.errors import InvalidInput, NotFound
from infra.translation import translations_of
from members.errors import IdempotencyKeyReused, InvalidAmount
from members.models import PointsAllocation, PointsEntry
from members.services.idempotency import idempotency_key_validate
from members.services.ledger import points_credit, points_debit
from members.services.locks import lock_members
from points.errors import (
    AlreadyLeading,
    AuctionClosed,
    AuctionNotCancellable,
    AuctionNotStarted,
    BidTooLow,
    PointsSpendingNotAllowed,
)
from points.models import Auction, AuctionBid, PointsPolicy
from points.services.draws import claim_code_normalize, ledger_key, mark_collected

CLAIM_CODE_PREFIX = "A"
CLAIM_CODE_ATTEMPTS = 5
CLOSE_BATCH_SIZE = 200


@dataclass(frozen=True)
class BidResult:
    bid: AuctionBid
    is_replay: bool


def auction_minimum_bid(*, auction: Auction, leading_points: int | None) -> int:
    """The lowest bid accepted now: the starting bid, or the leading bid plus the minimum raise."""
    if leading_points is None:
        return auction.starting_bid
    return max(auction.starting_bid, leading_points + auction.min_increment)


def _lock_auction(auction_id: int) -> Auction:
    auction = Auction.objects.select_for_update().filter(pk=auction_id).first()
    if auction is None:
        raise NotFound(_("No such auction."))
    return auction


def _leader(auction: Auction) -> AuctionBid | None:
    return AuctionBid.objects.filter(auction=auction, status=AuctionBid.Status.LEADING).first()


@transaction.atomic
def auction_bid_place(
    *, member_id: int, auction_id: int, points: int, idempotency_key: str, now: datetime
) -> BidResult:
    """Bid points on an auction: hold the bidder's points and release those of the bid it outbids.

    The same idempotency key again returns the first bid (`is_replay`), whatever happened since.
    Raises InvalidInput (bad key), InvalidAmount, NotFound, IdempotencyKeyReused (the key was used for another
    bid), AuctionClosed, AuctionNotStarted, AlreadyLeading, BidTooLow, PointsSpendingNotAllowed,
    InsufficientPoints.
    """
    key = idempotency_key_validate(idempotency_key)
    if not isinstance(points, int) or isinstance(points, bool) or points <= 0:
        raise InvalidAmount.for_field("points")
    auction = _lock_auction(auction_id)
    existing = AuctionBid.objects.filter(member_id=member_id, idempotency_key=key).first()
    if existing is not None:
        if (existing.auction_id, existing.points) != (auction.pk, points):
            raise IdempotencyKeyReused.for_field("Idempotency-Key")
        return BidResult(bid=existing, is_replay=True)
    if auction.status != Auction.Status.OPEN or now >= auction.ends_at:
        raise AuctionClosed()
    if now < auction.starts_at:
        raise AuctionNotStarted()
    leader = _leader(auction)
    if leader is not None and leader.member_id == member_id:
        raise AlreadyLeading()
    minimum = auction_minimum_bid(auction=auction, leading_points=leader.points if leader else None)
    if points < minimum:
        message = _("The lowest bid accepted now is %(minimum)d points.") % {"minimum": minimum}
        raise BidTooLow.for_field("points", message)

    locked = {
        member.pk: member for member in lock_members(member_ids=[member_id, *([leader.member_id] if leader else [])])
    }
    if member_id not in locked:
        raise NotFound()
    if locked[member_id].status not in PointsPolicy.load().spending_statuses:
        raise PointsSpendingNotAllowed()
    hold = points_debit(
        member_id=member_id,
        points=points,
        kind=PointsEntry.Kind.TRANSFER_OUT,
        idempotency_key=ledger_key("auction", auction.pk, "bid", member_id, client_key=key),
        now=now,
        source=f"auction:{auction.pk}",
        reason=translations_of(auction, "item_name"),  # as it is now, shown in each reader's language
        breakdown={"auction_id": auction.pk, "hold": True},
    )
    if leader is not None:
        _release(bid=leader, status=AuctionBid.Status.OUTBID, now=now, item_name=translations_of(auction, "item_name"))
    try:
        with transaction.atomic():
            bid = AuctionBid.objects.create(
                auction=auction,
                member_id=member_id,
                points=points,
                status=AuctionBid.Status.LEADING,
                hold_entry=hold,
                idempotency_key=key,
                created_at=now,
            )
    except IntegrityError as exc:  # the same key used at the same moment for a bid on another auction
        raise IdempotencyKeyReused.for_field("Idempotency-Key") from exc
    if auction.extension_seconds:
        extended = now + timedelta(seconds=auction.extension_seconds)
        if extended > auction.ends_at:
            Auction.objects.filter(pk=auction.pk).update(ends_at=extended)
    return BidResult(bid=bid, is_replay=False)


@transaction.atomic
def auction_bid_place_by_member(
    *, member_id: int, auction_id: int, points: int, idempotency_key: str, now: datetime
) -> BidResult:
    """The member's bid in the mini program: auction_bid_place, then the bid as stored (re-read, its auction loaded
    afresh), as the member's API shows it. Raises auction_bid_place's errors."""
    result = auction_bid_place(
        member_id=member_id, auction_id=auction_id, points=points, idempotency_key=idempotency_key, now=now
    )
    result.bid.refresh_from_db()
    return result


def _release(*, bid: AuctionBid, status: str, now: datetime, item_name: dict[str, str]) -> list[PointsEntry]:
    """Give a bid's held points back, one `transfer_in` per expiry of the lots the hold drew from; their reason is the
    item's name in every language (translations_of).

    The caller holds the auction lock (and the member lock); the keys `auction-bid:<bid>:release:<n>` make a
    second release impossible.
    """
    by_expiry = defaultdict(int)
    for expires_at, points in PointsAllocation.objects.filter(entry_id=bid.hold_entry_id).values_list(
        "lot__expires_at", "points"
    ):
        by_expiry[expires_at] += points
    # Without allocations (a ledger that predates lots) the points come back without an expiry, like a refund.
    groups = sorted(by_expiry.items(), key=lambda item: (item[0] is None, item[0])) or [(None, bid.points)]
    entries = [
        points_credit(
            member_id=bid.member_id,
            points=points,
            kind=PointsEntry.Kind.TRANSFER_IN,
            idempotency_key=f"auction-bid:{bid.pk}:release:{number}",
            now=now,
            expires_at=expires_at,
            source=f"auction:{bid.auction_id}",
            reason=item_name,
            breakdown={"auction_id": bid.auction_id, "bid_id": bid.pk, "released": True},
        )
        for number, (expires_at, points) in enumerate(groups)
    ]
    bid.release_entries.add(*entries)
    AuctionBid.objects.filter(pk=bid.pk).update(status=status, released_at=now)
    return entries


@transaction.atomic
def auction_close(*, auction_id: int, now: datetime) -> Auction | None:
    """Close an auction whose end has passed: the leader wins and their hold becomes the spend.

    Does nothing (returns None) when the auction is not open or not yet over, so a second run never settles
    twice. A winner gets a claim code to collect the item in store; without bids the auction closes empty.
    Raises NotFound.
    """
    auction = _lock_auction(auction_id)
    if auction.status != Auction.Status.OPEN or auction.ends_at > now:
        return None
    leader = _leader(auction)
    if leader is None:
        Auction.objects.filter(pk=auction.pk).update(status=Auction.Status.CLOSED, closed_at=now)
    else:
        AuctionBid.objects.filter(pk=leader.pk).update(status=AuctionBid.Status.WON)
        _settle(auction=auction, leader=leader, now=now)
    auction.refresh_from_db()
    return auction


def _settle(*, auction: Auction, leader: AuctionBid, now: datetime) -> None:
    for _attempt in range(CLAIM_CODE_ATTEMPTS):
        try:
            with transaction.atomic():
                Auction.objects.filter(pk=auction.pk).update(
                    status=Auction.Status.SETTLED,
                    winner_id=leader.member_id,
                    winning_bid=leader,
                    winning_points=leader.points,
                    claim_code=generate_code(prefix=CLAIM_CODE_PREFIX),
                    closed_at=now,
                )
                return
        except IntegrityError:  # a claim code taken (about 1 in 10**14)
            continue
    raise InvalidInput(_("Could not draw a free claim code; please try again."), code="claim_code_exhausted")


def auctions_close_due(*, now: datetime, batch_size: int = CLOSE_BATCH_SIZE) -> int:
    """Close every open auction whose end has passed, one transaction each; return how many were closed."""
    closed = 0
    while True:
        due = list(
            Auction.objects.filter(status=Auction.Status.OPEN, ends_at__lte=now)
            .order_by("ends_at", "pk")
            .values_list("pk", flat=True)[:batch_size]
        )
        results = [auction_close(auction_id=auction_id, now=now) for auction_id in due]
        closed += sum(result is not None for result in results)
        if len(due) < batch_size:
            return closed


@transaction.atomic
def auction_cancel(*, auction_id: int, now: datetime, reason: str = "") -> Auction:
    """Cancel an open auction: the leading bid's points are released, and nobody wins.

    Raises NotFound, AuctionNotCancellable (closed, settled or already cancelled).
    """
    auction = _lock_auction(auction_id)
    if auction.status != Auction.Status.OPEN:
        raise AuctionNotCancellable()
    leader = _leader(auction)
    if leader is not None:
        lock_members(member_ids=[leader.member_id])
        _release(
            bid=leader, status=AuctionBid.Status.CANCELLED, now=now, item_name=translations_of(auction, "item_name")
        )
    Auction.objects.filter(pk=auction.pk).update(
        status=Auction.Status.CANCELLED, closed_at=now, cancelled_reason=(reason or "").strip()[:255]
    )
    auction.refresh_from_db()
    return auction


@transaction.atomic
def auction_item_collect(*, claim_code: str, store_id: int, now: datetime) -> Auction:
    """Hand over an auction's item to its winner: once, by a conditional UPDATE.

    Raises ClaimCodeInvalid, PrizeAlreadyCollected.
    """
    code = claim_code_normalize(claim_code, prefix=CLAIM_CODE_PREFIX)
    auctions = Auction.objects.filter(claim_code=code, status=Auction.Status.SETTLED)
    mark_collected(auctions, store_id=store_id, now=now)
    return auctions.select_related("winner").get()

"""Read queries of points auctions shared by the member API and the console."""

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count, OuterRef, QuerySet, Subquery

from infra.errors import NotFound
from points.models import Auction, AuctionBid


def _with_leader(queryset: QuerySet[Auction]) -> QuerySet[Auction]:
    leading = AuctionBid.objects.filter(auction=OuterRef("pk"), status=AuctionBid.Status.LEADING)
    return queryset.annotate(
        leading_points=Subquery(leading.values("points")[:1]),
        leading_member_id=Subquery(leading.values("member_id")[:1]),
        bid_count=Count("bids"),
    )


def auctions_listed(*, now: datetime) -> QuerySet[Auction]:
    """Auctions open for bids or about to open, soonest ending first."""
    return _with_leader(Auction.objects.filter(status=Auction.Status.OPEN, ends_at__gt=now)).order_by("ends_at", "pk")


def auction_get(*, auction_id: int) -> Auction:
    """One auction with its leading bid's points and its number of bids. Raises NotFound."""
    auction = _with_leader(Auction.objects.filter(pk=auction_id)).first()
    if auction is None:
        raise NotFound()
    return auction


def member_auction_bid_latest(*, auction_id: int, member_id: int) -> AuctionBid | None:
    """The member's latest bid on an auction, if any."""
    return AuctionBid.objects.filter(auction_id=auction_id, member_id=member_id).order_by("-pk").first()


@dataclass(frozen=True)
class AuctionForMember:
    """An auction (auction_get) and the member's own latest bid on it (member_auction_bid_latest), if any."""

    auction: Auction
    your_bid: AuctionBid | None


def auction_for_member(*, auction_id: int, member_id: int) -> AuctionForMember:
    """One auction as a member sees it: auction_get, with the member's own latest bid. Raises NotFound."""
    auction = auction_get(auction_id=auction_id)
    return AuctionForMember(
        auction=auction, your_bid=member_auction_bid_latest(auction_id=auction.pk, member_id=member_id)
    )


def member_auction_bids(*, member_id: int) -> QuerySet[AuctionBid]:
    """A member's own bids, newest first."""
    return AuctionBid.objects.filter(member_id=member_id).select_related("auction").order_by("-pk")

"""Real concurrent bids on PostgreSQL: one leader, every outbid hold released, every ledger exact."""

import random

import pytest
from django.db.models import Sum
from django.utils import timezone

from members.models import Member, PointsEntry
from members.services.ledger import points_credit, points_ledger_drift
from points.errors import AlreadyLeading, BidTooLow
from points.models import AuctionBid
from points.services.auctions import auction_bid_place, auction_close
from tests.concurrency import run_in_threads
from tests.factories import AuctionFactory, MemberFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_forty_concurrent_bids_leave_one_leader_and_release_every_outbid_hold():
    now = timezone.now()
    auction = AuctionFactory(starting_bid=100, min_increment=10)
    members = [MemberFactory() for _ in range(20)]
    for member in members:
        points_credit(member_id=member.pk, points=5000, idempotency_key=f"seed:{member.pk}", now=now)
    # Each member bids twice, with distinct amounts, in a shuffled order.
    calls = [
        (lambda member=member, points=100 + 10 * (2 * i + round_): auction_bid_place(
            member_id=member.pk, auction_id=auction.pk, points=points, idempotency_key=f"k{points}", now=now
        ))
        for i, member in enumerate(members)
        for round_ in (0, 1)
    ]  # fmt: skip
    random.shuffle(calls)

    results = run_in_threads(calls, workers=40)

    placed = [r for r in results if not isinstance(r, Exception)]
    refused = [r for r in results if isinstance(r, BidTooLow | AlreadyLeading)]
    assert len(placed) + len(refused) == 40
    assert placed
    leader = AuctionBid.objects.get(auction=auction, status="leading")
    assert leader.points == max(r.bid.points for r in placed)
    assert AuctionBid.objects.filter(auction=auction).count() == len(placed)
    for outbid in AuctionBid.objects.filter(auction=auction, status="outbid"):
        assert outbid.release_entries.aggregate(total=Sum("delta"))["total"] == outbid.points
    for member in Member.objects.filter(pk__in=[m.pk for m in members]):
        expected = 5000 - (leader.points if member.pk == leader.member_id else 0)
        assert member.points_balance == expected
        assert PointsEntry.objects.filter(member=member).aggregate(total=Sum("delta"))["total"] == expected
    assert points_ledger_drift() == []

    settled = auction_close(auction_id=auction.pk, now=auction.ends_at)
    assert (settled.status, settled.winner_id) == ("settled", leader.member_id)
    assert points_ledger_drift() == []


def test_bids_racing_the_close_either_land_before_it_or_are_refused():
    now = timezone.now()
    auction = AuctionFactory(starting_bid=100, min_increment=10)
    members = [MemberFactory() for _ in range(10)]
    for member in members:
        points_credit(member_id=member.pk, points=5000, idempotency_key=f"seed:{member.pk}", now=now)
    end = auction.ends_at
    auction_bid_place(member_id=members[0].pk, auction_id=auction.pk, points=100, idempotency_key="first", now=now)
    calls = [
        (lambda member=member, i=i: auction_bid_place(
            member_id=member.pk, auction_id=auction.pk, points=110 + 10 * i, idempotency_key="k", now=now
        ))
        for i, member in enumerate(members[1:])
    ]  # fmt: skip
    calls += [lambda: auction_close(auction_id=auction.pk, now=end)] * 3

    run_in_threads(calls, workers=13)

    auction.refresh_from_db()
    assert auction.status == "settled"
    winner_bid = AuctionBid.objects.get(auction=auction, status="won")
    assert AuctionBid.objects.filter(auction=auction, status="leading").count() == 0
    assert auction.winning_bid == winner_bid
    assert points_ledger_drift() == []

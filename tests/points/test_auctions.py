"""Points auctions: the leading bid's points are held, released when outbid, and spent by the winner at close."""

from datetime import timedelta

import pytest

from infra.errors import InvalidInput, NotFound
from members.errors import IdempotencyKeyReused, InsufficientPoints, InvalidAmount
from members.models import Member, PointsEntry
from members.services.ledger import points_credit, points_ledger_drift
from points.errors import (
    AlreadyLeading,
    AuctionClosed,
    AuctionNotCancellable,
    AuctionNotStarted,
    BidTooLow,
    PointsSpendingNotAllowed,
)
from points.models import Auction, AuctionBid
from points.services.auctions import auction_bid_place, auction_cancel, auction_close, auctions_close_due
from tests.factories import AuctionFactory, MemberFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def auction(db):
    """Bids from 1000 points, raised by at least 100."""
    return AuctionFactory()


@pytest.fixture
def alice(give_points):
    member = MemberFactory(name="Alice")
    give_points(member, 5000)
    return member


@pytest.fixture
def bob(give_points):
    member = MemberFactory(name="Bob")
    give_points(member, 5000)
    return member


def bid(member, auction, points, now, key=None):
    return auction_bid_place(
        member_id=member.pk, auction_id=auction.pk, points=points, idempotency_key=key or f"bid-{points}", now=now
    )


def balance(member):
    member.refresh_from_db()
    return member.points_balance


# -- bidding ---------------------------------------------------------------------------------------------------------
def test_a_bid_holds_its_points_with_a_transfer_out_entry(auction, alice, now):
    result = bid(alice, auction, 1000, now)

    placed = result.bid
    assert (placed.status, placed.points, result.is_replay) == ("leading", 1000, False)
    assert (placed.hold_entry.kind, placed.hold_entry.delta, placed.hold_entry.source) == (
        "transfer_out",
        -1000,
        f"auction:{auction.pk}",
    )
    assert balance(alice) == 4000
    assert points_ledger_drift() == []


def test_an_outbid_leader_gets_their_points_back_and_the_new_bid_leads(auction, alice, bob, now):
    first = bid(alice, auction, 1000, now).bid

    second = bid(bob, auction, 1100, now).bid

    first.refresh_from_db()
    assert (first.status, first.released_at) == ("outbid", now)
    assert [(entry.kind, entry.delta) for entry in first.release_entries.all()] == [("transfer_in", 1000)]
    assert second.status == "leading"
    assert (balance(alice), balance(bob)) == (5000, 3900)
    assert AuctionBid.objects.filter(auction=auction, status="leading").get() == second
    assert points_ledger_drift() == []


def test_released_points_keep_the_expiry_of_the_lots_they_were_held_from(auction, bob, now):
    member = MemberFactory()
    soon, later = now + timedelta(days=10), now + timedelta(days=300)
    points_credit(member_id=member.pk, points=600, idempotency_key="soon", now=now, expires_at=soon)
    points_credit(member_id=member.pk, points=900, idempotency_key="later", now=now, expires_at=later)
    points_credit(member_id=member.pk, points=100, idempotency_key="never", now=now)
    held = bid(member, auction, 1500, now).bid

    bid(bob, auction, 1600, now)

    released = held.release_entries.order_by("pk")
    assert [(entry.delta, entry.lot.expires_at) for entry in released] == [(600, soon), (900, later)]
    assert balance(member) == 1600
    assert points_ledger_drift() == []


@pytest.mark.parametrize(("points", "minimum"), [(999, 1000), (1, 1000)])
def test_a_first_bid_below_the_starting_bid_is_too_low(auction, alice, now, points, minimum):
    with pytest.raises(BidTooLow) as error:
        bid(alice, auction, points, now)

    assert error.value.fields == {"points": [f"The lowest bid accepted now is {minimum} points."]}
    assert balance(alice) == 5000
    assert AuctionBid.objects.count() == 0


def test_a_bid_must_beat_the_leader_by_the_minimum_raise(auction, alice, bob, now):
    bid(alice, auction, 1000, now)

    with pytest.raises(BidTooLow) as error:
        bid(bob, auction, 1099, now)

    assert error.value.fields == {"points": ["The lowest bid accepted now is 1100 points."]}
    assert balance(bob) == 5000


def test_the_leader_cannot_outbid_themselves(auction, alice, now):
    bid(alice, auction, 1000, now)

    with pytest.raises(AlreadyLeading):
        bid(alice, auction, 2000, now)

    assert balance(alice) == 4000


def test_an_outbid_member_may_bid_again(auction, alice, bob, now):
    bid(alice, auction, 1000, now)
    bid(bob, auction, 1100, now)

    again = bid(alice, auction, 1200, now).bid

    assert again.status == "leading"
    assert (balance(alice), balance(bob)) == (3800, 5000)
    assert points_ledger_drift() == []


def test_a_bid_the_member_cannot_cover_leaves_the_leader_leading(auction, alice, now, give_points):
    poor = MemberFactory()
    give_points(poor, 1050)
    leader = bid(alice, auction, 1000, now).bid

    with pytest.raises(InsufficientPoints):
        bid(poor, auction, 1100, now)

    leader.refresh_from_db()
    assert leader.status == "leading"
    assert (balance(alice), balance(poor)) == (4000, 1050)


@pytest.mark.parametrize("points", [0, -5, "100", 10.5, True])
def test_a_bid_that_is_not_a_positive_whole_number_is_refused(auction, alice, now, points):
    with pytest.raises(InvalidAmount):
        auction_bid_place(member_id=alice.pk, auction_id=auction.pk, points=points, idempotency_key="k", now=now)


def test_bidding_before_the_start_is_refused(auction, alice, now):
    auction.starts_at = now + timedelta(minutes=5)
    auction.save()

    with pytest.raises(AuctionNotStarted):
        bid(alice, auction, 1000, now)


@pytest.mark.parametrize("status", ["closed", "cancelled"])
def test_bidding_on_an_auction_that_is_not_open_is_refused(auction, alice, now, status):
    Auction.objects.filter(pk=auction.pk).update(status=status)

    with pytest.raises(AuctionClosed):
        bid(alice, auction, 1000, now)


def test_bidding_after_the_end_is_refused_even_before_the_close_job(auction, alice, now):
    with pytest.raises(AuctionClosed):
        bid(alice, auction, 1000, auction.ends_at)


def test_a_member_who_may_not_spend_points_cannot_bid(auction, alice, now):
    Member.objects.filter(pk=alice.pk).update(status=Member.Status.FROZEN)

    with pytest.raises(PointsSpendingNotAllowed):
        bid(alice, auction, 1000, now)


def test_an_unknown_auction_is_not_found(alice, now):
    with pytest.raises(NotFound):
        auction_bid_place(member_id=alice.pk, auction_id=999_999, points=1000, idempotency_key="k", now=now)


def test_a_retry_with_the_same_key_returns_the_first_bid_without_holding_twice(auction, alice, now):
    first = bid(alice, auction, 1000, now, key="k1")

    again = bid(alice, auction, 1000, now, key="k1")

    assert (again.is_replay, again.bid) == (True, first.bid)
    assert balance(alice) == 4000
    assert PointsEntry.objects.filter(member=alice, kind="transfer_out").count() == 1


@pytest.mark.parametrize("other", ["points", "auction"])
def test_the_same_key_for_another_bid_is_refused(auction, alice, now, other):
    bid(alice, auction, 1000, now, key="k1")
    target = AuctionFactory() if other == "auction" else auction

    with pytest.raises(IdempotencyKeyReused):
        bid(alice, target, 1500, now, key="k1")


def test_a_bad_key_is_refused(auction, alice, now):
    with pytest.raises(InvalidInput) as error:
        bid(alice, auction, 1000, now, key=" ")

    assert error.value.code == "idempotency_key_invalid"


def test_a_bid_in_the_last_seconds_extends_the_end_when_anti_sniping_is_on(auction, alice, now):
    auction.extension_seconds = 120
    auction.ends_at = now + timedelta(seconds=30)
    auction.save()

    bid(alice, auction, 1000, now)

    auction.refresh_from_db()
    assert auction.ends_at == now + timedelta(seconds=120)


def test_an_early_bid_does_not_move_the_end(auction, alice, now):
    auction.extension_seconds = 120
    auction.save()
    ends_at = auction.ends_at

    bid(alice, auction, 1000, now)

    auction.refresh_from_db()
    assert auction.ends_at == ends_at


# -- closing ---------------------------------------------------------------------------------------------------------
def test_at_close_the_leader_wins_and_their_hold_is_the_spend(auction, alice, bob, now):
    bid(alice, auction, 1000, now)
    winning = bid(bob, auction, 1300, now).bid
    entries_before = PointsEntry.objects.count()

    closed = auction_close(auction_id=auction.pk, now=auction.ends_at)

    winning.refresh_from_db()
    assert (closed.status, closed.winner, closed.winning_bid, closed.winning_points) == ("settled", bob, winning, 1300)
    assert closed.claim_code.startswith("A")
    assert closed.closed_at == auction.ends_at
    assert winning.status == "won"
    assert PointsEntry.objects.count() == entries_before  # no second debit
    assert (balance(alice), balance(bob)) == (5000, 3700)
    assert points_ledger_drift() == []


def test_closing_twice_settles_once(auction, alice, now):
    bid(alice, auction, 1000, now)
    first = auction_close(auction_id=auction.pk, now=auction.ends_at)

    second = auction_close(auction_id=auction.pk, now=auction.ends_at + timedelta(hours=1))

    assert second is None
    auction.refresh_from_db()
    assert (auction.claim_code, auction.closed_at) == (first.claim_code, first.closed_at)


def test_an_auction_without_bids_closes_without_a_winner(auction, now):
    closed = auction_close(auction_id=auction.pk, now=auction.ends_at)

    assert (closed.status, closed.winner, closed.claim_code) == ("closed", None, None)


def test_an_auction_is_not_closed_before_its_end(auction, alice, now):
    bid(alice, auction, 1000, now)

    assert auction_close(auction_id=auction.pk, now=auction.ends_at - timedelta(seconds=1)) is None
    auction.refresh_from_db()
    assert auction.status == "open"


def test_the_close_job_closes_every_auction_past_its_end_and_only_those(alice, now):
    due = [AuctionFactory(ends_at=now - timedelta(minutes=i + 1), starts_at=now - timedelta(days=1)) for i in range(3)]
    running = AuctionFactory()
    points_credit(member_id=alice.pk, points=10, idempotency_key="x", now=now)

    assert auctions_close_due(now=now, batch_size=2) == 3
    assert auctions_close_due(now=now) == 0

    assert set(Auction.objects.filter(status="closed").values_list("pk", flat=True)) == {a.pk for a in due}
    running.refresh_from_db()
    assert running.status == "open"


def test_the_scheduled_task_closes_due_auctions(auction, alice, now):
    from points.tasks import close_auctions

    bid(alice, auction, 1000, now)
    Auction.objects.filter(pk=auction.pk).update(ends_at=now - timedelta(seconds=1))

    assert close_auctions.delay().get() == 1

    auction.refresh_from_db()
    assert (auction.status, auction.winner) == ("settled", alice)


def test_the_close_job_is_in_the_schedules():
    from points.schedules import SCHEDULES

    assert ("points: close auctions", "points.close_auctions", {"minute": "*", "hour": "*"}) in SCHEDULES


# -- cancelling ------------------------------------------------------------------------------------------------------
def test_cancelling_releases_the_leading_hold_and_nobody_wins(auction, alice, bob, now):
    bid(alice, auction, 1000, now)
    leader = bid(bob, auction, 1100, now).bid

    cancelled = auction_cancel(auction_id=auction.pk, now=now, reason="Item damaged")

    leader.refresh_from_db()
    assert (cancelled.status, cancelled.winner, cancelled.cancelled_reason) == ("cancelled", None, "Item damaged")
    assert leader.status == "cancelled"
    assert (balance(alice), balance(bob)) == (5000, 5000)
    assert points_ledger_drift() == []


@pytest.mark.parametrize("status", ["closed", "cancelled"])
def test_only_an_open_auction_can_be_cancelled(auction, now, status):
    Auction.objects.filter(pk=auction.pk).update(status=status)

    with pytest.raises(AuctionNotCancellable):
        auction_cancel(auction_id=auction.pk, now=now)

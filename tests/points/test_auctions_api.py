"""Points auctions through HTTP with a real member token: listing, one auction, bidding, the member's own bids."""

from datetime import timedelta

import pytest

from points.models import Auction, AuctionBid
from points.services.auctions import auction_close
from tests.factories import AuctionFactory, MemberFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def auction(db):
    return AuctionFactory(item_name="Gold lipstick")


@pytest.fixture
def alice(member, member_client, give_points):
    give_points(member, 5000)
    return member_client(member)


@pytest.fixture
def bob_member(give_points):
    member = MemberFactory()
    give_points(member, 5000)
    return member


@pytest.fixture
def bob(bob_member, member_client):
    return member_client(bob_member)


def place(client, auction, points, key=None):
    return client.post(
        f"/api/v1/auctions/{auction.pk}/bids",
        {"points": points},
        format="json",
        HTTP_IDEMPOTENCY_KEY=key or f"k{points}",
    )


def test_the_list_shows_open_auctions_with_the_leading_points_and_the_lowest_bid_accepted(alice, auction, now):
    AuctionFactory(item_name="Ended", starts_at=now - timedelta(days=2), ends_at=now - timedelta(days=1))
    Auction.objects.filter(pk=AuctionFactory(item_name="Cancelled").pk).update(status="cancelled")
    place(alice, auction, 1000)

    response = alice.get("/api/v1/auctions")

    assert response.status_code == 200
    (listed,) = response.json()
    assert (listed["item_name"], listed["status"], listed["leading_points"], listed["bid_count"]) == (
        "Gold lipstick",
        "open",
        1000,
        1,
    )
    assert (listed["minimum_bid"], listed["image_url"]) == (1100, None)


def test_a_bid_is_held_and_shown_as_the_member_own_leading_bid(alice, member, auction):
    response = place(alice, auction, 1000)

    assert response.status_code == 201, response.json()
    assert (response.json()["points"], response.json()["status"]) == (1000, "leading")
    member.refresh_from_db()
    assert member.points_balance == 4000
    detail = alice.get(f"/api/v1/auctions/{auction.pk}").json()
    assert (detail["is_leading"], detail["your_bid"]["points"], detail["leading_points"]) == (True, 1000, 1000)


def test_an_outbid_member_sees_their_bid_outbid_and_gets_the_points_back(alice, bob, member, auction):
    place(alice, auction, 1000)

    place(bob, auction, 1500)

    detail = alice.get(f"/api/v1/auctions/{auction.pk}").json()
    assert (detail["is_leading"], detail["your_bid"]["status"], detail["leading_points"]) == (False, "outbid", 1500)
    assert detail["minimum_bid"] == 1600
    member.refresh_from_db()
    assert member.points_balance == 5000


def test_the_detail_never_names_the_other_bidders(alice, bob, auction):
    place(alice, auction, 1000)

    detail = bob.get(f"/api/v1/auctions/{auction.pk}").json()

    assert (detail["your_bid"], detail["is_leading"], detail["leading_points"]) == (None, False, 1000)
    assert "member" not in str(detail).lower()


def test_a_retried_bid_gets_the_first_answer_and_holds_once(alice, member, auction):
    first = place(alice, auction, 1000, key="same")

    again = place(alice, auction, 1000, key="same")

    assert (again.status_code, again.json(), again["Idempotent-Replayed"]) == (201, first.json(), "true")
    member.refresh_from_db()
    assert member.points_balance == 4000


@pytest.mark.parametrize(
    ("body", "field"),
    [({"points": 0}, "points"), ({"points": "lots"}, "points"), ({}, "points"), ({"points": 1000, "x": 1}, "x")],
)
def test_a_bad_bid_body_is_refused_with_the_field(alice, auction, body, field):
    response = alice.post(f"/api/v1/auctions/{auction.pk}/bids", body, format="json", HTTP_IDEMPOTENCY_KEY="k")

    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]
    assert AuctionBid.objects.count() == 0


def test_a_bid_without_an_idempotency_key_is_refused(alice, auction):
    response = alice.post(f"/api/v1/auctions/{auction.pk}/bids", {"points": 1000}, format="json")

    assert (response.status_code, response.json()["error"]["code"]) == (400, "idempotency_key_invalid")


@pytest.mark.parametrize(
    ("arrange", "points", "status", "code"),
    [
        ("none", 900, 422, "bid_too_low"),
        ("leading", 2000, 409, "already_leading"),
        ("closed", 1000, 409, "auction_closed"),
        ("not_started", 1000, 409, "auction_not_started"),
        ("none", 9000, 409, "insufficient_points"),
        ("unknown", 1000, 404, "not_found"),
    ],
)
def test_a_bid_that_cannot_be_placed_answers_its_error(alice, auction, now, arrange, points, status, code):
    auction_id = auction.pk
    if arrange == "leading":
        place(alice, auction, 1000)
    elif arrange == "closed":
        Auction.objects.filter(pk=auction.pk).update(status="cancelled")
    elif arrange == "not_started":
        Auction.objects.filter(pk=auction.pk).update(starts_at=now + timedelta(hours=1))
    elif arrange == "unknown":
        auction_id = 999_999
    bids_before = AuctionBid.objects.count()

    response = alice.post(
        f"/api/v1/auctions/{auction_id}/bids", {"points": points}, format="json", HTTP_IDEMPOTENCY_KEY="new"
    )

    assert response.status_code == status, response.json()
    assert response.json()["error"]["code"] == code
    assert AuctionBid.objects.count() == bids_before


def test_the_member_sees_only_their_own_bids_and_the_claim_code_of_an_auction_won(alice, bob, auction):
    place(alice, auction, 1000)
    place(bob, auction, 1100)
    place(alice, auction, 1200)
    closed = auction_close(auction_id=auction.pk, now=auction.ends_at)

    mine = alice.get("/api/v1/me/auctions/bids").json()["results"]
    theirs = bob.get("/api/v1/me/auctions/bids").json()["results"]

    assert [(b["points"], b["status"], b["claim_code"]) for b in mine] == [
        (1200, "won", closed.claim_code),
        (1000, "outbid", None),
    ]
    assert [(b["points"], b["status"], b["claim_code"]) for b in theirs] == [(1100, "outbid", None)]


def test_an_unknown_auction_is_not_found(alice):
    assert alice.get("/api/v1/auctions/999999").status_code == 404


def test_the_auction_endpoints_need_a_member_token(api_client, auction):
    assert api_client.get("/api/v1/auctions").status_code == 401
    assert api_client.get(f"/api/v1/auctions/{auction.pk}").status_code == 401
    assert api_client.post(f"/api/v1/auctions/{auction.pk}/bids", {"points": 1000}).status_code == 401
    assert api_client.get("/api/v1/me/auctions/bids").status_code == 401

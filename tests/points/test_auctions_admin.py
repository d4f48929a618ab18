"""The console for points auctions: bids read-only, terms fixed once bidding starts, cancelling releases holds."""

from datetime import timedelta

import pytest

from members.models import Role
from points.models import Auction
from points.services.auctions import auction_bid_place, auction_close
from tests.console_helpers import make_staff
from tests.factories import AuctionFactory, MemberFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def merchant_admin(client):
    client.force_login(UserFactory(role=Role.MERCHANT_ADMIN))
    return client


@pytest.fixture
def bidders(give_points):
    members = [MemberFactory(), MemberFactory()]
    for member in members:
        give_points(member, 5000)
    return members


def test_an_auction_is_set_up_in_the_console(merchant_admin):
    form = {
        "item_name_en": "Limited palette",
        "description_en": "One of 20",
        "starts_at_0": "2026-12-01",
        "starts_at_1": "10:00:00",
        "ends_at_0": "2026-12-08",
        "ends_at_1": "22:00:00",
        "starting_bid": 3000,
        "min_increment": 100,
        "extension_seconds": 60,
        "bids-TOTAL_FORMS": 0,
        "bids-INITIAL_FORMS": 0,
        "bids-MIN_NUM_FORMS": 0,
        "bids-MAX_NUM_FORMS": 0,
    }

    response = merchant_admin.post("/console/points/auction/add/", form)

    assert response.status_code == 302, response.context["adminform"].form.errors
    auction = Auction.objects.get()
    assert (auction.item_name, auction.status, auction.starting_bid) == ("Limited palette", "open", 3000)


def test_the_auction_page_lists_its_bids_read_only_and_fixes_the_terms(merchant_admin, bidders, now):
    auction = AuctionFactory()
    auction_bid_place(member_id=bidders[0].pk, auction_id=auction.pk, points=1000, idempotency_key="k", now=now)

    response = merchant_admin.get(f"/console/points/auction/{auction.pk}/change/")

    assert response.status_code == 200
    form = response.context["adminform"].form
    assert "starting_bid" not in form.fields
    assert "ends_at" in form.fields
    assert "1000" in response.content.decode()
    listing = merchant_admin.get("/console/points/auction/")
    assert listing.status_code == 200


def test_cancelling_in_the_console_releases_the_leading_hold(merchant_admin, bidders, now):
    auction = AuctionFactory()
    auction_bid_place(member_id=bidders[0].pk, auction_id=auction.pk, points=1000, idempotency_key="a", now=now)
    auction_bid_place(member_id=bidders[1].pk, auction_id=auction.pk, points=1500, idempotency_key="b", now=now)

    response = merchant_admin.post(
        "/console/points/auction/", {"action": "cancel_auctions", "_selected_action": [auction.pk]}, follow=True
    )

    assert response.status_code == 200
    assert "1 auction cancelled" in response.content.decode()
    auction.refresh_from_db()
    assert auction.status == "cancelled"
    for member in bidders:
        member.refresh_from_db()
        assert member.points_balance == 5000


def test_cancelling_a_settled_auction_is_refused_with_a_message(merchant_admin, now):
    auction = AuctionFactory()
    Auction.objects.filter(pk=auction.pk).update(status="closed")

    response = merchant_admin.post(
        "/console/points/auction/", {"action": "cancel_auctions", "_selected_action": [auction.pk]}, follow=True
    )

    assert "Only an open auction can be cancelled." in response.content.decode()
    auction.refresh_from_db()
    assert auction.status == "closed"


def test_a_clerk_cannot_open_the_auctions(client):
    client.force_login(UserFactory(role=Role.CLERK))

    assert client.get("/console/points/auction/").status_code == 403


def test_a_store_manager_sees_the_bids_and_the_winner_of_their_stores_members_only(client, give_points, now):
    staff = make_staff()
    ours = MemberFactory(home_store=staff["manager_a"].store, name="Alice Chan")
    theirs = MemberFactory(home_store=staff["manager_b"].store, name="", phone="+85261112222")
    for member in (ours, theirs):
        give_points(member, 5000)
    auction = AuctionFactory()
    auction_bid_place(member_id=ours.pk, auction_id=auction.pk, points=1000, idempotency_key="ours", now=now)
    auction_bid_place(member_id=theirs.pk, auction_id=auction.pk, points=1500, idempotency_key="theirs", now=now)
    auction_close(auction_id=auction.pk, now=auction.ends_at + timedelta(minutes=5))  # the other store's member won
    client.force_login(staff["manager_a"])

    listing = client.get("/console/points/auction/").content.decode()
    page = client.get(f"/console/points/auction/{auction.pk}/change/").content.decode()
    history = client.get(f"/console/points/auction/{auction.pk}/history/").content.decode()

    for html in (listing, page, history):
        assert "+85261112222" not in html
        assert theirs.member_number not in html
    assert "A member of another store" in listing
    assert "A member of another store" in page
    assert ours.member_number in page  # their own member's bid

    client.force_login(staff["merchant_admin"])
    assert theirs.member_number in client.get("/console/points/auction/").content.decode()

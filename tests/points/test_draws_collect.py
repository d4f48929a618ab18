"""The till hands over prizes won in lucky draws and auctions, once each, against the member's claim code."""

import pytest

from points.errors import ClaimCodeInvalid, PrizeAlreadyCollected
from points.services.auctions import auction_bid_place, auction_close, auction_item_collect
from points.services.draws import draw_gift_collect, draw_spin
from tests.factories import AuctionFactory, DrawPrizeFactory, LuckyDrawFactory, MemberFactory, StoreFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def gift_spin(member, give_points, now):
    draw = LuckyDrawFactory()
    DrawPrizeFactory(draw=draw, name="Tote bag", kind="gift", points=None, stock_total=3)
    give_points(member, 500)
    return draw_spin(member_id=member.pk, draw_id=draw.pk, idempotency_key="k", now=now).spin


@pytest.fixture
def settled_auction(member, give_points, now):
    auction = AuctionFactory(item_name="Gold lipstick")
    give_points(member, 5000)
    auction_bid_place(member_id=member.pk, auction_id=auction.pk, points=1000, idempotency_key="k", now=now)
    return auction_close(auction_id=auction.pk, now=auction.ends_at)


@pytest.fixture
def till(store, pos_client_for):
    return pos_client_for(store)


def collect(till, code):
    return till.post("/api/v1/pos/prizes/collect", {"claim_code": code}, format="json")


def test_a_gift_is_handed_over_once_at_the_till(till, gift_spin, member, store):
    response = collect(till, gift_spin.claim_code)

    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["source"], body["item_name"], body["member_number"]) == (
        "lucky_draw",
        "Tote bag",
        member.member_number,
    )
    gift_spin.refresh_from_db()
    assert gift_spin.collected_store == store
    again = collect(till, gift_spin.claim_code)
    assert (again.status_code, again.json()["error"]["code"]) == (409, "prize_already_collected")


def test_an_auction_item_is_handed_over_once_to_its_winner(till, settled_auction, member):
    response = collect(till, settled_auction.claim_code.lower())

    assert response.status_code == 200, response.json()
    assert (response.json()["source"], response.json()["member_number"]) == ("auction", member.member_number)
    settled_auction.refresh_from_db()
    assert settled_auction.collected_at is not None
    assert collect(till, settled_auction.claim_code).json()["error"]["code"] == "prize_already_collected"


def test_the_member_sees_when_their_gift_was_collected(till, gift_spin, member, member_client):
    collect(till, gift_spin.claim_code)

    (listed,) = member_client(member).get("/api/v1/me/draws/spins").json()["results"]

    assert (listed["claim_code"], listed["collected_at"] is not None) == (gift_spin.claim_code, True)


@pytest.mark.parametrize("code", ["", "D2345", "DXXXXXXXXXXX", "A23456789ABC", "not a code"])
def test_an_unknown_or_mistyped_claim_code_is_refused(till, gift_spin, code):
    response = collect(till, code)

    assert response.status_code in (400, 404)
    assert response.json()["error"]["code"] in ("invalid_input", "claim_code_invalid")
    gift_spin.refresh_from_db()
    assert gift_spin.collected_at is None


def test_a_typo_in_a_real_code_is_caught_by_its_check_character(gift_spin, store, now):
    code = gift_spin.claim_code
    typo = code[:-2] + ("2" if code[-2] != "2" else "3") + code[-1]

    with pytest.raises(ClaimCodeInvalid):
        draw_gift_collect(claim_code=typo, store_id=store.pk, now=now)


def test_a_draw_code_is_not_an_auction_code(gift_spin, store, now):
    with pytest.raises(ClaimCodeInvalid):
        auction_item_collect(claim_code=gift_spin.claim_code, store_id=store.pk, now=now)


def test_collecting_twice_through_the_service_is_refused(gift_spin, now):
    other_store = StoreFactory(code="tst")
    draw_gift_collect(claim_code=gift_spin.claim_code, store_id=other_store.pk, now=now)

    with pytest.raises(PrizeAlreadyCollected):
        draw_gift_collect(claim_code=gift_spin.claim_code, store_id=other_store.pk, now=now)


def test_collecting_needs_a_pos_key(api_client, member_client, gift_spin):
    assert api_client.post("/api/v1/pos/prizes/collect", {"claim_code": gift_spin.claim_code}).status_code == 401
    member_response = member_client(MemberFactory()).post(
        "/api/v1/pos/prizes/collect", {"claim_code": gift_spin.claim_code}
    )
    assert member_response.status_code in (401, 403)


# -- the console's "Hand over a prize" page ------------------------------------------------------------------
COLLECT_URL = "/console/points/rewardorder/prizes/collect/"


def test_a_clerk_hands_over_a_draw_gift_in_the_console_at_their_store(client, gift_spin, store):
    from members.models import Role
    from tests.factories import UserFactory

    client.force_login(UserFactory(role=Role.CLERK, store=store))

    page = client.get("/console/points/rewardorder/")
    handed = client.post(COLLECT_URL, {"claim_code": gift_spin.claim_code.lower()})
    again = client.post(COLLECT_URL, {"claim_code": gift_spin.claim_code})

    assert COLLECT_URL in page.content.decode()
    assert handed.status_code == 302
    gift_spin.refresh_from_db()
    assert (gift_spin.collected_store, gift_spin.collected_at is not None) == (store, True)
    assert again.status_code == 200  # the form again, with the refusal on the code
    assert again.context["form"].errors["claim_code"] == [str(PrizeAlreadyCollected.message)]


def test_a_mistyped_claim_code_is_refused_in_the_console_and_nothing_is_collected(client, gift_spin, store):
    from members.models import Role
    from tests.factories import UserFactory

    client.force_login(UserFactory(role=Role.CLERK, store=store))

    response = client.post(COLLECT_URL, {"claim_code": "D-XXXXXXX"})

    assert response.context["form"].errors["claim_code"]
    gift_spin.refresh_from_db()
    assert gift_spin.collected_at is None


def test_staff_who_may_not_hand_over_pickups_cannot_open_the_page(client, store):
    from django.contrib.auth.models import Permission

    from tests.factories import UserFactory

    user = UserFactory(store=store, is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_rewardorder"))
    client.force_login(user)

    assert client.get(COLLECT_URL).status_code == 403

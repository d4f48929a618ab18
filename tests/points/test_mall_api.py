"""The points mall over HTTP: rewards as a member sees them, redeeming with an Idempotency-Key, the member's own
orders (never another's), cancelling, and pickups at the till with a POS key."""

import io
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from members.services.ledger import points_credit
from points.models import PointsPolicy, RewardEarlyAccess, RewardOrder
from points.services.mall import reward_thumbnail_refresh
from tests.factories import MemberFactory, RewardFactory, StoreFactory, TierFactory

pytestmark = pytest.mark.django_db

REWARDS_URL = "/api/v1/mall/rewards"
ORDERS_URL = "/api/v1/me/mall/orders"
POS_FULFIL_URL = "/api/v1/pos/mall/orders/fulfil"


@pytest.fixture
def store():
    return StoreFactory(code="central", name="Central")


@pytest.fixture
def member(now):
    member = MemberFactory()
    points_credit(member_id=member.pk, points=1000, idempotency_key=f"seed:{member.pk}", now=now)
    return member


@pytest.fixture
def client(member, member_client):
    return member_client(member)


def redeem(client, reward, key="key-1", **body):
    return client.post(f"{REWARDS_URL}/{reward.pk}/redeem", body, format="json", HTTP_IDEMPOTENCY_KEY=key)


# -- listing --------------------------------------------------------------------------------------------------------
def test_the_list_says_what_the_member_can_redeem_and_why_not(client, member, now, django_assert_max_num_queries):
    gold = TierFactory(code="gold", rank=5)
    open_reward = RewardFactory(name="Tote bag", points_price=300, sort_order=1)
    RewardFactory(name="Too dear", points_price=5000, sort_order=2)
    gold_only = RewardFactory(name="Gold lounge", kind="experience", sort_order=3)
    gold_only.tiers.set([gold])
    RewardFactory(name="Sold out", stock_total=0, sort_order=4)
    RewardFactory(name="Later", starts_at=now + timedelta(days=1), sort_order=5)
    RewardFactory(name="Hidden", is_active=False)
    RewardFactory(name="Over", ends_at=now - timedelta(minutes=1))
    PointsPolicy.load()

    with django_assert_max_num_queries(8):  # token, rewards, 3 prefetches, policy, the member's order counts
        response = client.get(REWARDS_URL)

    assert response.status_code == 200
    rows = {row["name"]: (row["can_redeem"], row["reason"]) for row in response.json()}
    assert rows == {
        "Tote bag": (True, None),
        "Too dear": (False, "insufficient_points"),
        "Gold lounge": (False, "reward_tier_required"),
        "Sold out": (False, "out_of_stock"),
        "Later": (False, "reward_not_available"),
    }
    first = response.json()[0]
    assert (first["id"], first["points_price"], first["cash_price"], first["currency"], first["stock_remaining"]) == (
        open_reward.pk,
        300,
        "0.00",
        "HKD",
        10,
    )
    assert (first["image_url"], first["thumbnail_url"], first["opens_at"], first["tiers"]) == (None, None, None, [])


def test_opens_at_shows_the_early_access_of_the_members_tier(member_client, now):
    silver = TierFactory(code="silver", rank=2)
    member = MemberFactory(tier=silver)
    reward = RewardFactory(starts_at=now + timedelta(days=2))
    RewardEarlyAccess.objects.create(reward=reward, tier=silver, starts_at=now + timedelta(days=1))

    row = member_client(member).get(f"{REWARDS_URL}/{reward.pk}").json()

    assert row["opens_at"] == (now + timedelta(days=1)).astimezone().isoformat()
    assert (row["can_redeem"], row["reason"]) == (False, "reward_not_available")


def test_image_and_thumbnail_urls_are_absolute(client):
    data = io.BytesIO()
    Image.new("RGB", (800, 800), "blue").save(data, format="PNG")
    reward = RewardFactory(image=SimpleUploadedFile("gift.png", data.getvalue()))
    reward_thumbnail_refresh(reward_id=reward.pk)

    row = client.get(f"{REWARDS_URL}/{reward.pk}").json()

    assert row["image_url"].startswith("http://testserver/media/rewards/gift")
    assert row["thumbnail_url"] == f"http://testserver/media/rewards/thumbnails/reward-{reward.pk}.webp"


def test_an_inactive_or_unknown_reward_is_not_found(client):
    assert client.get(f"{REWARDS_URL}/{RewardFactory(is_active=False).pk}").status_code == 404
    assert client.get(f"{REWARDS_URL}/999999").json()["error"]["code"] == "not_found"


def test_the_mall_needs_a_member_token(api_client):
    assert api_client.get(REWARDS_URL).status_code == 401


# -- redeeming ------------------------------------------------------------------------------------------------------
def test_redeeming_a_gift_answers_201_with_the_order_and_its_pickup_code(client, member, store):
    reward = RewardFactory(points_price=300)
    reward.pickup_stores.set([store])

    response = redeem(client, reward, pickup_store="central")

    assert response.status_code == 201
    body = response.json()
    order = RewardOrder.objects.get()
    assert (body["id"], body["status"], body["points"], body["pickup_code"]) == (
        order.pk,
        "awaiting_pickup",
        300,
        order.pickup_code,
    )
    assert body["pickup_store"] == {"code": "central", "name": "Central", "address": ""}
    assert body["reward"]["name"] == reward.name


def test_a_retry_with_the_same_key_answers_200_with_the_first_order(client, store):
    reward = RewardFactory()
    first = redeem(client, reward, pickup_store="central")

    again = redeem(client, reward, pickup_store="central")

    assert (again.status_code, again.headers["Idempotent-Replayed"], again.json()["id"]) == (
        200,
        "true",
        first.json()["id"],
    )
    assert RewardOrder.objects.count() == 1


def test_the_same_key_with_another_body_is_refused(client, store):
    reward = RewardFactory()
    redeem(client, reward, pickup_store="central")
    StoreFactory(code="tst")

    response = redeem(client, reward, pickup_store="tst")

    assert (response.status_code, response.json()["error"]["code"]) == (422, "idempotency_key_reused")


def test_redeeming_needs_an_idempotency_key(client, store):
    response = client.post(f"{REWARDS_URL}/{RewardFactory().pk}/redeem", {"pickup_store": "central"}, format="json")

    assert (response.status_code, response.json()["error"]["code"]) == (400, "idempotency_key_invalid")
    assert RewardOrder.objects.count() == 0


@pytest.mark.parametrize(
    ("reward_fields", "body", "status", "code"),
    [
        ({"stock_total": 0}, {"pickup_store": "central"}, 409, "out_of_stock"),
        ({"points_price": 1001}, {"pickup_store": "central"}, 409, "insufficient_points"),
        ({}, {"pickup_store": "nowhere"}, 422, "pickup_store_invalid"),
        ({}, {}, 422, "pickup_store_invalid"),
        ({"cash_price": Decimal(10)}, {"pickup_store": "central"}, 422, "reward_payment_required"),
        ({}, {"pickup_store": "central", "member_id": 1}, 400, "invalid_input"),
    ],
    ids=["out-of-stock", "points", "unknown-store", "no-store", "no-payment", "for-another-member"],
)
def test_a_refused_redemption_answers_its_code_and_writes_nothing(
    client, member, store, reward_fields, body, status, code
):
    reward = RewardFactory(**reward_fields)

    response = redeem(client, reward, **body)

    assert (response.status_code, response.json()["error"]["code"]) == (status, code)
    assert RewardOrder.objects.count() == 0
    member.refresh_from_db()
    assert member.points_balance == 1000


def test_redeeming_above_the_limit_answers_reward_limit_reached(client, store):
    reward = RewardFactory(per_member_limit=1)
    redeem(client, reward, key="a", pickup_store="central")

    response = redeem(client, reward, key="b", pickup_store="central")

    assert (response.status_code, response.json()["error"]["code"]) == (409, "reward_limit_reached")
    assert RewardOrder.objects.count() == 1


def test_points_plus_cash_records_the_payment_wechat_pay_confirms(client, member, store, wechat_pay):
    reward = RewardFactory(cash_price=Decimal("25.50"))
    member.wechat_openid = "o-mall"
    member.save(update_fields=["wechat_openid"])
    wechat_pay.add_order("T-1", total=2550, openid="o-mall")

    response = redeem(client, reward, pickup_store="central", provider="wechat_pay_hk", transaction_id="T-1")

    assert response.status_code == 201
    body = response.json()
    assert (body["cash_amount"], body["payment_provider"], body["payment_transaction_id"]) == (
        "25.50",
        "wechat_pay_hk",
        "T-1",
    )


def test_a_paid_points_plus_cash_redemption_that_is_refused_gives_the_payment_back(client, member, store, wechat_pay):
    # given a points + cash reward sold out between the member's payment and their redemption
    reward = RewardFactory(cash_price=Decimal("25.50"), stock_remaining=0)
    member.wechat_openid = "o-mall"
    member.save(update_fields=["wechat_openid"])
    wechat_pay.add_order("T-1", total=2550, openid="o-mall")

    response = redeem(client, reward, pickup_store="central", provider="wechat_pay_hk", transaction_id="T-1")

    # then no order, and the HK$25.50 goes back through WeChat Pay, the answer saying why
    error = response.json()["error"]
    assert (response.status_code, error["code"]) == (409, "payment_refunded")
    assert error["fields"]["refund_reason"] == ["out_of_stock"]
    assert RewardOrder.objects.count() == 0
    [refund] = wechat_pay.refunds.values()
    assert (refund["out_trade_no"], refund["amount"]["refund"]) == ("T-1", 2550)


@pytest.mark.parametrize(
    ("order", "code"),
    [
        ({"total": 100, "openid": "o-mall"}, "payment_amount_mismatch"),
        ({"total": 2550, "openid": "o-other"}, "payment_not_confirmed"),
        (None, "payment_not_confirmed"),
    ],
)
def test_points_plus_cash_without_a_confirmed_payment_takes_nothing(client, member, store, wechat_pay, order, code):
    reward = RewardFactory(cash_price=Decimal("25.50"), stock_remaining=5)
    member.wechat_openid = "o-mall"
    member.save(update_fields=["wechat_openid"])
    if order:
        wechat_pay.add_order("T-1", **order)

    response = redeem(client, reward, pickup_store="central", provider="wechat_pay_hk", transaction_id="T-1")

    assert (response.status_code, response.json()["error"]["code"]) == (422, code)
    reward.refresh_from_db()
    assert (reward.stock_remaining, RewardOrder.objects.count()) == (5, 0)


def test_a_stored_value_reward_shows_the_amount_granted(client):
    reward = RewardFactory(kind="stored_value", stored_value_amount=Decimal("50.00"))

    body = redeem(client, reward).json()

    assert (body["status"], body["stored_value_amount"], body["pickup_code"], body["pickup_store"]) == (
        "delivered",
        "50.00",
        None,
        None,
    )


# -- the member's orders --------------------------------------------------------------------------------------------
def test_a_member_lists_only_their_own_orders_newest_first(client, member_client, now, store):
    mine = [redeem(client, RewardFactory(), key=f"k{i}", pickup_store="central").json()["id"] for i in range(2)]
    other = MemberFactory()
    points_credit(member_id=other.pk, points=500, idempotency_key="other", now=now)
    redeem(member_client(other), RewardFactory(), pickup_store="central")

    response = client.get(ORDERS_URL)

    assert [row["id"] for row in response.json()["results"]] == mine[::-1]


def test_the_list_filters_by_status(client, store):
    redeem(client, RewardFactory(), pickup_store="central")

    assert client.get(ORDERS_URL, {"status": "fulfilled"}).json()["results"] == []
    assert client.get(ORDERS_URL, {"status": "lost"}).status_code == 400


def test_another_members_order_is_not_found(client, member_client, now, store):
    other = MemberFactory()
    points_credit(member_id=other.pk, points=500, idempotency_key="other", now=now)
    theirs = redeem(member_client(other), RewardFactory(), pickup_store="central").json()["id"]

    assert client.get(f"{ORDERS_URL}/{theirs}").status_code == 404
    assert client.post(f"{ORDERS_URL}/{theirs}/cancel", {}, format="json").status_code == 404
    assert RewardOrder.objects.get(pk=theirs).status == "awaiting_pickup"


def test_a_member_cancels_their_order_awaiting_pickup(client, member, store):
    reward = RewardFactory(points_price=300)
    order_id = redeem(client, reward, pickup_store="central").json()["id"]

    response = client.post(f"{ORDERS_URL}/{order_id}/cancel", {"reason": "too far"}, format="json")

    assert response.status_code == 200
    assert (response.json()["status"], response.json()["cancel_reason"]) == ("cancelled", "too far")
    member.refresh_from_db()
    reward.refresh_from_db()
    assert (member.points_balance, reward.stock_remaining) == (1000, 10)
    again = client.post(f"{ORDERS_URL}/{order_id}/cancel", {}, format="json")
    assert (again.status_code, again.json()["error"]["code"]) == (409, "order_not_cancellable")


# -- pickups at the till ----------------------------------------------------------------------------------------------
def test_the_till_hands_over_a_pickup_of_its_store(client, pos_client_for, store, member):
    order = redeem(client, RewardFactory(name="Tote bag"), pickup_store="central").json()

    response = pos_client_for(store).post(POS_FULFIL_URL, {"pickup_code": order["pickup_code"]}, format="json")

    assert response.status_code == 200
    body = response.json()
    assert (body["order_id"], body["reward_name"], body["member_number"], body["status"]) == (
        order["id"],
        "Tote bag",
        member.member_number,
        "fulfilled",
    )


def test_the_till_of_another_store_is_refused(client, pos_client_for, store):
    order = redeem(client, RewardFactory(), pickup_store="central").json()

    response = pos_client_for(StoreFactory(code="tst")).post(
        POS_FULFIL_URL, {"pickup_code": order["pickup_code"]}, format="json"
    )

    assert (response.status_code, response.json()["error"]["code"]) == (403, "pickup_wrong_store")


def test_an_unknown_pickup_code_is_refused(pos_client_for, store):
    response = pos_client_for(store).post(POS_FULFIL_URL, {"pickup_code": "ABCD2345"}, format="json")

    assert (response.status_code, response.json()["error"]["code"]) == (404, "pickup_code_invalid")


def test_a_member_token_cannot_fulfil(client):
    assert client.post(POS_FULFIL_URL, {"pickup_code": "ABCD2345"}, format="json").status_code in (401, 403)


def test_a_till_retrying_with_its_idempotency_key_hears_picked_up_again(client, pos_client_for, store):
    order = redeem(client, RewardFactory(), pickup_store="central").json()
    till = pos_client_for(store)
    body = {"pickup_code": order["pickup_code"]}

    first = till.post(POS_FULFIL_URL, body, format="json", HTTP_IDEMPOTENCY_KEY="scan-1")
    retry = till.post(POS_FULFIL_URL, body, format="json", HTTP_IDEMPOTENCY_KEY="scan-1")
    rescan = till.post(POS_FULFIL_URL, body, format="json", HTTP_IDEMPOTENCY_KEY="scan-2")

    assert (first.status_code, retry.status_code, retry.headers["Idempotent-Replayed"]) == (200, 200, "true")
    assert retry.json() == first.json()
    assert (rescan.status_code, rescan.json()["error"]["code"]) == (409, "order_not_awaiting_pickup")


def test_redeeming_is_throttled_per_member(client, settings, store):
    settings.MALL_REDEEM_THROTTLE = "2/min"
    reward = RewardFactory(per_member_limit=None)

    statuses = [redeem(client, reward, key=f"k{index}", pickup_store="central").status_code for index in range(3)]

    assert statuses == [201, 201, 429]


def test_pickup_codes_cannot_be_guessed_at_speed(pos_client_for, store, settings):
    settings.PICKUP_CODE_THROTTLE = "2/min"
    till = pos_client_for(store)

    statuses = [till.post(POS_FULFIL_URL, {"pickup_code": "ABCD2345"}, format="json").status_code for _ in range(3)]

    assert statuses == [404, 404, 429]

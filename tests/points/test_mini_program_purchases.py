"""Buying in the mini program: priced by the server, paid through WeChat Pay, recorded only when WeChat Pay
confirms this member paid exactly the amount due; and the member's purchase history.

The real WeChat Pay client talks to a fake WeChat Pay on 127.0.0.1 that checks the client's request
signatures and signs its answers, as the real one does.
"""

import json
from datetime import UTC, datetime

import pytest

from infra.errors import PaymentProviderUnavailable
from infra.wechat_pay import WechatPayClient
from members.models import PaymentMethod, PointsEntry, Purchase
from points.models import PointsPolicy
from tests.factories import MemberFactory, StoreFactory
from tests.fakes import rsa_key_pair

pytestmark = pytest.mark.django_db

OPENID = "o-member-1"


@pytest.fixture
def online_store(policy):
    store = StoreFactory(code="mini-shop", name="Mini program shop")
    PointsPolicy.objects.filter(pk=policy.pk).update(mini_program_store=store)
    return store


@pytest.fixture
def buyer(db):
    return MemberFactory(wechat_openid=OPENID)


@pytest.fixture
def app(member_client, buyer):
    return member_client(buyer)


def cart(**overrides):
    body = {
        "out_trade_no": "WX-1001",
        "gross_amount": "1000.00",
        "items": [{"sku": "A1", "category": "skincare", "quantity": 2, "unit_price": "500.00"}],
    }
    body.update(overrides)
    return body


def error_code(response):
    return response.json()["error"]["code"]


def test_the_preview_prices_the_cart_and_gives_the_amount_to_ask_wechat_pay_for(
    app, buyer, online_store, base_rule, give_points
):
    give_points(buyer, 1000)
    body = cart(points_to_spend=500)
    del body["out_trade_no"]

    response = app.post("/api/v1/me/purchases/preview", body, format="json")

    assert response.status_code == 200, response.json()
    assert (response.json()["points_value"], response.json()["amount_due"]) == ("5.00", "995.00")
    assert response.json()["points_earned"] == 99
    assert not Purchase.objects.exists()


def test_a_purchase_paid_through_wechat_pay_is_recorded_under_the_online_store_and_earns_points(
    app, buyer, online_store, base_rule, wechat_pay
):
    wechat_pay.add_order("WX-1001", total=100000, openid=OPENID)

    response = app.post("/api/v1/me/purchases", cart(), format="json")

    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["channel"], body["points_earned"], body["points_balance"]) == ("mini_program", 100, 100)
    purchase = Purchase.objects.get()
    assert (purchase.store, purchase.external_id, purchase.payment_method) == (
        online_store,
        "WX-1001",
        PaymentMethod.WECHAT_PAY_HK,
    )
    assert purchase.purchased_at == datetime(2026, 11, 25, 2, 15, tzinfo=UTC)  # WeChat Pay's success time


def test_points_spent_in_the_mini_program_lower_the_amount_wechat_pay_must_confirm(
    app, buyer, online_store, base_rule, wechat_pay, give_points
):
    give_points(buyer, 1000)
    wechat_pay.add_order("WX-1001", total=99500, openid=OPENID)

    response = app.post("/api/v1/me/purchases", cart(points_to_spend=500), format="json")

    assert response.status_code == 201, response.json()
    assert (response.json()["points_spent"], response.json()["paid_amount"]) == (500, "995.00")


def test_a_replay_answers_from_the_checkout_without_asking_wechat_pay_again(
    app, buyer, online_store, base_rule, wechat_pay
):
    wechat_pay.add_order("WX-1001", total=100000, openid=OPENID)
    first = app.post("/api/v1/me/purchases", cart(), format="json")
    asked = len(wechat_pay.requests)

    again = app.post("/api/v1/me/purchases", cart(), format="json")
    other = app.post("/api/v1/me/purchases", cart(gross_amount="900.00"), format="json")

    assert (again.status_code, again.json(), again["Idempotent-Replayed"]) == (201, first.json(), "true")
    assert (other.status_code, error_code(other)) == (422, "idempotency_key_reused")
    assert len(wechat_pay.requests) == asked
    assert Purchase.objects.count() == 1


def test_one_payment_earns_once_even_when_another_member_posts_its_order_number(
    app, buyer, online_store, base_rule, wechat_pay, member_client
):
    wechat_pay.add_order("WX-1001", total=100000, openid=OPENID)
    assert app.post("/api/v1/me/purchases", cart(), format="json").status_code == 201
    intruder = member_client(MemberFactory(wechat_openid="o-intruder"))

    response = intruder.post("/api/v1/me/purchases", cart(), format="json")

    assert (response.status_code, error_code(response)) == (422, "idempotency_key_reused")
    assert Purchase.objects.count() == 1


@pytest.mark.parametrize(
    "order",
    [
        pytest.param(None, id="no such order"),
        pytest.param({"total": 100000, "openid": OPENID, "trade_state": "NOTPAY"}, id="not paid"),
        pytest.param({"total": 100000, "openid": OPENID, "trade_state": "CLOSED"}, id="closed"),
        pytest.param({"total": 100000, "openid": "o-someone-else"}, id="paid by someone else"),
        pytest.param({"total": 100000, "openid": OPENID, "currency": "CNY"}, id="another currency"),
    ],
)
def test_a_payment_wechat_pay_does_not_confirm_records_nothing(order, app, buyer, online_store, base_rule, wechat_pay):
    if order:
        wechat_pay.add_order("WX-1001", **order)

    response = app.post("/api/v1/me/purchases", cart(), format="json")

    assert (response.status_code, error_code(response)) == (422, "payment_not_confirmed")
    assert response.json()["error"]["fields"]["out_trade_no"]
    assert not Purchase.objects.exists()
    assert not PointsEntry.objects.exists()


def test_a_cart_that_does_not_match_the_amount_paid_is_refunded_and_nothing_is_written(
    app, buyer, online_store, base_rule, wechat_pay, give_points
):
    give_points(buyer, 1000)
    wechat_pay.add_order("WX-1001", total=100, openid=OPENID)  # paid HK$1 for a HK$1,000 cart

    response = app.post("/api/v1/me/purchases", cart(points_to_spend=500), format="json")

    assert (response.status_code, error_code(response)) == (409, "payment_refunded")
    assert response.json()["error"]["fields"]["refund_reason"] == ["payment_amount_mismatch"]
    assert len(wechat_pay.refunds) == 1
    buyer.refresh_from_db()
    assert (buyer.points_balance, Purchase.objects.count(), PointsEntry.objects.count()) == (1000, 0, 1)


def test_an_answer_altered_on_the_way_fails_its_signature_check(app, buyer, online_store, base_rule, wechat_pay):
    wechat_pay.add_order("WX-1001", total=1, openid=OPENID, trade_state="NOTPAY")
    wechat_pay.tamper = True  # rewrites NOTPAY to SUCCESS after signing

    response = app.post("/api/v1/me/purchases", cart(gross_amount="0.09"), format="json")

    assert (response.status_code, error_code(response)) == (503, "payment_provider_unavailable")
    assert not Purchase.objects.exists()


def test_wechat_pay_busy_or_not_configured_is_worth_a_retry_and_writes_nothing(
    app, buyer, online_store, base_rule, wechat_pay, settings
):
    wechat_pay.add_order("WX-1001", total=100000, openid=OPENID)
    wechat_pay.status_override = 500
    busy = app.post("/api/v1/me/purchases", cart(), format="json")
    wechat_pay.status_override = None
    settings.WECHATPAY_PRIVATE_KEY = ""
    unconfigured = app.post("/api/v1/me/purchases", cart(), format="json")

    assert (busy.status_code, error_code(busy)) == (503, "payment_provider_unavailable")
    assert (unconfigured.status_code, error_code(unconfigured)) == (503, "payment_provider_unavailable")
    assert not Purchase.objects.exists()


def test_wechat_pay_refuses_a_client_whose_key_is_not_the_merchants(wechat_pay, settings):
    stranger_private, _public = rsa_key_pair()
    client = WechatPayClient(private_key_pem=stranger_private)
    wechat_pay.add_order("WX-1001", total=100, openid=OPENID)

    with pytest.raises(PaymentProviderUnavailable) as refused:
        client.payment_by_out_trade_no("WX-1001")

    assert refused.value.code == "payment_provider_unavailable"
    assert WechatPayClient().payment_by_out_trade_no("WX-1001").is_paid


def test_without_an_online_store_the_mini_program_cannot_record_purchases(app, buyer, policy, wechat_pay):
    response = app.post("/api/v1/me/purchases", cart(), format="json")

    assert (response.status_code, error_code(response)) == (409, "mini_program_checkout_disabled")
    assert wechat_pay.requests == []


def test_a_visitor_who_has_not_joined_cannot_buy_and_no_token_gets_401(
    member_client, online_store, wechat_pay, api_client
):
    visitor = member_client(MemberFactory(wechat_openid=OPENID, status="visitor"))

    assert error_code(visitor.post("/api/v1/me/purchases", cart(), format="json")) == "member_not_active"
    assert api_client.post("/api/v1/me/purchases", cart(), format="json").status_code == 401
    assert api_client.get("/api/v1/me/purchases").status_code == 401


def test_the_history_lists_only_the_members_own_purchases_newest_first(
    app, buyer, online_store, base_rule, wechat_pay, store, pos_client_for
):
    wechat_pay.add_order("WX-1001", total=100000, openid=OPENID)
    app.post("/api/v1/me/purchases", cart(), format="json")
    till = pos_client_for(store)
    till.post(
        "/api/v1/pos/purchases",
        {"external_id": "S-1", "gross_amount": "50.00", "payment_method": "cash", "member_number": buyer.member_number},
        format="json",
    )
    other = MemberFactory()
    till.post(
        "/api/v1/pos/purchases",
        {"external_id": "S-2", "gross_amount": "70.00", "payment_method": "cash", "member_number": other.member_number},
        format="json",
    )

    response = app.get("/api/v1/me/purchases")

    assert response.status_code == 200
    rows = response.json()["results"]
    assert [(row["external_id"], row["store_code"]) for row in rows] == [("S-1", "central"), ("WX-1001", "mini-shop")]
    assert rows[1]["points_earned"] == 100


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_one_order_posted_by_many_tabs_at_once_is_recorded_once_and_every_answer_is_the_same(
    member_client, wechat_pay, give_points
):
    from tests.concurrency import run_in_threads

    store = StoreFactory(code="mini-shop")
    PointsPolicy.objects.filter(pk=PointsPolicy.load().pk).update(mini_program_store=store)
    buyer = MemberFactory(wechat_openid=OPENID)
    give_points(buyer, 1000)
    wechat_pay.add_order("WX-1001", total=99500, openid=OPENID)
    clients = [member_client(buyer) for _ in range(8)]

    responses = run_in_threads(
        [lambda client=client: client.post("/api/v1/me/purchases", cart(points_to_spend=500), format="json")
         for client in clients],
        workers=8,
    )  # fmt: skip

    assert {response.status_code for response in responses} == {201}
    assert len({json.dumps(response.json(), sort_keys=True) for response in responses}) == 1
    buyer.refresh_from_db()
    assert (Purchase.objects.count(), buyer.points_balance) == (1, 500)


def test_items_reported_by_the_phone_earn_no_item_bonuses_the_amount_paid_earns_as_usual(
    app, buyer, online_store, base_rule, wechat_pay
):
    from points.models import EarningRule

    EarningRule.objects.create(
        name="Skincare +50", kind=EarningRule.Kind.BONUS_CATEGORY, priority=20, category="skincare", bonus_points=50
    )
    wechat_pay.add_order("WX-1001", total=100000, openid=OPENID)
    body = cart()
    del body["out_trade_no"]

    preview = app.post("/api/v1/me/purchases/preview", body, format="json")
    response = app.post("/api/v1/me/purchases", cart(), format="json")

    assert preview.json()["points_earned"] == response.json()["points_earned"] == 100  # the base rate only
    assert [rule["kind"] for rule in response.json()["breakdown"]["rules"]] == ["base_rate"]
    assert Purchase.objects.get().items.count() == 1  # the items are still recorded

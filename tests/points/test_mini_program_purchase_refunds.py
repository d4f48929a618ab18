"""A mini-program payment made without a checkout order (me/purchases with the member's own WeChat Pay order) is
never kept when its purchase is refused: once WeChat Pay confirms this member paid, a cart the checkout refuses
(points spent at a till meanwhile, the amount no longer due, ...) is refunded through WeChat Pay exactly as a
checkout order's refused payment is, and the member is told why. And what an open checkout order holds is refused
by the points mall and by auctions, as by the till.

The real WeChat Pay client talks to the fake WeChat Pay on 127.0.0.1 (signatures both ways); the till is the POS
API with a real store key.
"""

from decimal import Decimal

import pytest
from django.utils import timezone

from members.errors import InsufficientPoints
from members.models import Member, Notification, PaymentUse, PointsEntry, Purchase
from members.services.ledger import points_ledger_drift
from points.models import CheckoutOrder, PointsPolicy
from points.services.auctions import auction_bid_place
from points.services.checkout_orders import checkout_order_refunds_follow, checkout_orders_expire
from points.services.mall import reward_redeem
from tests.factories import AuctionFactory, MemberFactory, RewardFactory, StoreFactory
from tests.points.conftest import BUYER_OPENID

pytestmark = pytest.mark.django_db

OPENID = BUYER_OPENID  # the buyer fixture's (tests/points/conftest.py)
Status = CheckoutOrder.Status


@pytest.fixture
def app(member_client, buyer, wechat_pay):
    return member_client(buyer)


@pytest.fixture
def till(store, pos_client_for):
    return pos_client_for(store)


def cart(**overrides):
    return {
        "gross_amount": "1000.00",
        "items": [{"sku": "A1", "category": "skincare", "quantity": 2, "unit_price": "500.00"}],
        "points_to_spend": 500,
        **overrides,
    }


def purchase(app, out_trade_no="WX-1001", **overrides):
    return app.post("/api/v1/me/purchases", {**cart(**overrides), "out_trade_no": out_trade_no}, format="json")


def spend_at_till(till, buyer, points):
    body = {
        "external_id": "S-1", "gross_amount": "100.00", "payment_method": "cash",
        "member_number": buyer.member_number, "points_to_spend": points,
    }  # fmt: skip
    return till.post("/api/v1/pos/purchases", body, format="json")


def error(response):
    return response.json()["error"]


def ledger(member):
    member.refresh_from_db()
    return member.points_balance, member.points_held, PointsEntry.objects.filter(member=member).count()


# -- the probe: paid, then refused -----------------------------------------------------------------------------------
def test_a_direct_payment_whose_points_were_spent_at_a_till_meanwhile_is_refunded_and_the_member_told_why(
    app, buyer, online_store, base_rule, till, wechat_pay
):
    preview = app.post("/api/v1/me/purchases/preview", cart(), format="json").json()
    wechat_pay.add_order("WX-1001", total=int(Decimal(preview["amount_due"]) * 100), openid=OPENID)  # paid 995.00
    assert spend_at_till(till, buyer, 500).status_code == 201
    before = ledger(buyer)

    response = purchase(app)

    assert (response.status_code, error(response)["code"]) == (409, "payment_refunded")
    assert error(response)["fields"]["refund_reason"] == ["insufficient_points"]
    assert error(response)["fields"]["out_trade_no"]
    [refund] = wechat_pay.refunds.values()
    assert (refund["out_trade_no"], refund["amount"]["refund"], refund["amount"]["total"]) == ("WX-1001", 99500, 99500)
    assert not Purchase.objects.filter(external_id="WX-1001").exists()
    assert ledger(buyer) == before
    assert points_ledger_drift() == []
    notification = Notification.objects.get(member=buyer, kind=Notification.Kind.CHECKOUT_REFUNDED)
    assert "WX-1001" in notification.body
    assert "HKD 995.00" in notification.body
    assert notification.body.endswith(
        "已退回：付款到達時，訂單要使用的積分、儲值或優惠券已不可用。"
    )  # the why, in zh-hant
    order = CheckoutOrder.objects.get(out_trade_no="WX-1001")
    assert (order.member, order.status, order.paid_amount, order.hold) == (buyer, Status.REFUNDED, Decimal("995"), None)
    assert PaymentUse.objects.get(transaction_id="WX-1001").purpose == PaymentUse.Purpose.REFUNDED

    again = purchase(app)

    assert (again.status_code, again.json()) == (409, response.json())
    assert len(wechat_pay.refunds) == 1
    assert Notification.objects.filter(kind=Notification.Kind.CHECKOUT_REFUNDED).count() == 1
    assert ledger(buyer) == before


def test_a_direct_payment_of_an_amount_no_longer_due_is_refunded(app, buyer, online_store, base_rule, wechat_pay):
    wechat_pay.add_order("WX-1001", total=100, openid=OPENID)  # paid HK$1 for a HK$995 cart
    before = ledger(buyer)

    response = purchase(app)

    assert (response.status_code, error(response)["code"]) == (409, "payment_refunded")
    assert error(response)["fields"]["refund_reason"] == ["payment_amount_mismatch"]
    assert [(r["amount"]["refund"], r["amount"]["total"]) for r in wechat_pay.refunds.values()] == [(100, 100)]
    assert (Purchase.objects.count(), ledger(buyer)) == (0, before)
    # and the member is told the true reason (in their language, Traditional Chinese here)
    notification = Notification.objects.get(member=buyer, kind=Notification.Kind.CHECKOUT_REFUNDED)
    assert notification.body.endswith("已退回：已付金額與應付金額不符。")


def test_the_refund_notice_gives_its_reason_in_the_members_language(app, buyer, online_store, base_rule, wechat_pay):
    Member.objects.filter(pk=buyer.pk).update(locale=Member.Locale.EN)
    wechat_pay.add_order("WX-1001", total=100, openid=OPENID)

    purchase(app)

    notification = Notification.objects.get(member=buyer, kind=Notification.Kind.CHECKOUT_REFUNDED)
    assert (
        notification.body
        == "Your payment of HKD 1.00 for order WX-1001 was refunded: the amount paid was not the amount due."
    )


@pytest.mark.parametrize(
    "order",
    [
        pytest.param(None, id="no such order"),
        pytest.param({"total": 99500, "openid": OPENID, "trade_state": "NOTPAY"}, id="not paid"),
        pytest.param({"total": 99500, "openid": "o-someone-else"}, id="paid by someone else"),
        pytest.param({"total": 99500, "openid": OPENID, "currency": "CNY"}, id="another currency"),
    ],
)
def test_a_payment_wechat_pay_does_not_confirm_is_not_refunded(order, app, buyer, online_store, wechat_pay):
    if order:
        wechat_pay.add_order("WX-1001", **order)

    response = purchase(app)

    assert (response.status_code, error(response)["code"]) == (422, "payment_not_confirmed")
    assert (wechat_pay.refunds, CheckoutOrder.objects.count(), PaymentUse.objects.count()) == ({}, 0, 0)


def test_a_recorded_purchase_posted_again_with_another_body_is_refused_not_refunded(
    app, buyer, online_store, base_rule, wechat_pay
):
    wechat_pay.add_order("WX-1001", total=99500, openid=OPENID)
    assert purchase(app).status_code == 201

    other = purchase(app, gross_amount="900.00")

    assert (other.status_code, error(other)["code"]) == (422, "idempotency_key_reused")
    assert (wechat_pay.refunds, CheckoutOrder.objects.count(), Purchase.objects.count()) == ({}, 0, 1)


def test_a_payment_that_paid_for_something_else_is_refused_not_refunded(app, buyer, online_store, wechat_pay, now):
    from members.services.payments import payment_use_record

    wechat_pay.add_order("WX-1001", total=99500, openid=OPENID)
    payment_use_record(
        provider="wechat_pay_hk", transaction_id="WX-1001", member_id=buyer.pk, purpose="top_up", now=now
    )

    response = purchase(app)

    assert (response.status_code, error(response)["code"]) == (409, "payment_already_used")
    assert (wechat_pay.refunds, CheckoutOrder.objects.count()) == ({}, 0)


# -- WeChat Pay slow to refund: the checkout orders' jobs carry it through --------------------------------------------
def test_a_refund_wechat_pay_cannot_take_at_once_is_asked_again_by_the_job(
    app, buyer, online_store, base_rule, till, wechat_pay
):
    wechat_pay.add_order("WX-1001", total=99500, openid=OPENID)
    spend_at_till(till, buyer, 500)
    wechat_pay.refund_unavailable = True

    response = purchase(app)

    assert (response.status_code, error(response)["code"]) == (409, "payment_refunded")
    assert CheckoutOrder.objects.get().status == Status.REFUND_PENDING
    assert not Notification.objects.filter(kind=Notification.Kind.CHECKOUT_REFUNDED).exists()

    wechat_pay.refund_unavailable = False
    checkout_orders_expire(now=timezone.now())

    assert CheckoutOrder.objects.get().status == Status.REFUNDED
    assert len(wechat_pay.refunds) == 1
    assert Notification.objects.filter(member=buyer, kind=Notification.Kind.CHECKOUT_REFUNDED).count() == 1
    assert purchase(app).json() == response.json()


def test_a_refund_wechat_pay_still_processes_is_followed_to_its_outcome(
    app, buyer, online_store, base_rule, till, wechat_pay
):
    wechat_pay.add_order("WX-1001", total=99500, openid=OPENID)
    spend_at_till(till, buyer, 500)
    wechat_pay.refund_status = "PROCESSING"

    purchase(app)

    assert CheckoutOrder.objects.get().status == Status.REFUND_PROCESSING
    [out_refund_no] = wechat_pay.refunds
    wechat_pay.settle_refund(out_refund_no, "SUCCESS")
    assert checkout_order_refunds_follow(now=timezone.now()) == 1
    assert CheckoutOrder.objects.get().status == Status.REFUNDED
    assert Notification.objects.filter(member=buyer, kind=Notification.Kind.CHECKOUT_REFUNDED).count() == 1


# -- what an open checkout order holds is spent nowhere else -----------------------------------------------------------
def test_points_held_by_an_open_checkout_order_are_refused_by_the_points_mall(app, buyer, online_store, store, now):
    created = app.post("/api/v1/me/checkout-orders", cart(), format="json", HTTP_IDEMPOTENCY_KEY="order-1")
    assert created.status_code == 201, created.json()
    reward = RewardFactory(points_price=100)

    with pytest.raises(InsufficientPoints):
        reward_redeem(
            member_id=buyer.pk, reward_id=reward.pk, idempotency_key="mall-1", now=now, pickup_store_id=store.pk
        )

    assert ledger(buyer)[:2] == (500, 500)


def test_points_held_by_an_open_checkout_order_are_refused_by_an_auction_bid(
    app, buyer, online_store, give_points, now
):
    give_points(buyer, 1000, key="more")  # 1,500 points, 500 of them held by the order: 1,000 to bid with
    created = app.post("/api/v1/me/checkout-orders", cart(), format="json", HTTP_IDEMPOTENCY_KEY="order-1")
    assert created.status_code == 201, created.json()
    auction = AuctionFactory()  # bids from 1,000 points

    with pytest.raises(InsufficientPoints):
        auction_bid_place(member_id=buyer.pk, auction_id=auction.pk, points=1100, idempotency_key="bid-1", now=now)
    placed = auction_bid_place(member_id=buyer.pk, auction_id=auction.pk, points=1000, idempotency_key="bid-2", now=now)

    assert placed.bid.points == 1000


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_refused_payment_posted_by_many_tabs_at_once_is_refunded_once_and_every_answer_is_the_same(
    member_client, wechat_pay, give_points, store, pos_client_for
):
    import json

    from tests.concurrency import run_in_threads

    online = StoreFactory(code="mini-shop")
    PointsPolicy.objects.filter(pk=PointsPolicy.load().pk).update(mini_program_store=online)
    buyer = MemberFactory(wechat_openid=OPENID)
    give_points(buyer, 500)
    wechat_pay.add_order("WX-1001", total=99500, openid=OPENID)
    assert spend_at_till(pos_client_for(store), buyer, 500).status_code == 201
    clients = [member_client(buyer) for _ in range(8)]

    responses = run_in_threads([lambda client=client: purchase(client) for client in clients], workers=8)

    assert {response.status_code for response in responses} == {409}
    assert len({json.dumps(response.json(), sort_keys=True) for response in responses}) == 1
    assert (len(wechat_pay.refunds), CheckoutOrder.objects.get().status, Purchase.objects.count()) == (
        1, Status.REFUNDED, 1,
    )  # fmt: skip
    assert Notification.objects.filter(kind=Notification.Kind.CHECKOUT_REFUNDED).count() == 1

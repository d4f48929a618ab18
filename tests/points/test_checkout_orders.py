"""Mini-program checkout orders: what the cart spends is held before the member pays, settled by the payment,
released by cancellation or expiry; a payment that cannot be honoured is refunded through WeChat Pay.

The real WeChat Pay client talks to the fake WeChat Pay on 127.0.0.1 (signatures both ways); the till is the
POS API with a real store key.
"""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.utils import timezone

from coupons.models import Coupon
from coupons.services import coupon_template_issue_to_member
from members.models import BalanceHold, Notification, PaymentUse, Purchase
from members.services.holds import balance_holds_drift
from members.services.ledger import points_ledger_drift
from members.services.stored_value import stored_value_grant
from points.models import CheckoutOrder
from points.services.checkout_orders import checkout_orders_expire
from tests.coupons.factories import CouponTemplateFactory
from tests.factories import MemberFactory
from tests.points.conftest import BUYER_OPENID

pytestmark = pytest.mark.django_db

OPENID = BUYER_OPENID
Status = CheckoutOrder.Status


@pytest.fixture
def app(member_client, buyer, wechat_pay):
    """The buyer's mini program; WeChat Pay (the fake) opens, closes, reports and refunds its orders."""
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


def create(app, key="order-1", **overrides):
    return app.post("/api/v1/me/checkout-orders", cart(**overrides), format="json", HTTP_IDEMPOTENCY_KEY=key)


def confirm(app, order_id):
    return app.post(f"/api/v1/me/checkout-orders/{order_id}/confirm", {}, format="json")


def pay(wechat_pay, order, cents=None):
    total = cents if cents is not None else int(Decimal(order["amount_due"]) * 100)
    wechat_pay.add_order(order["out_trade_no"], total=total, openid=OPENID)


def spend_at_till(till, buyer, points, external_id="S-1"):
    body = {
        "external_id": external_id, "gross_amount": "100.00", "payment_method": "cash",
        "member_number": buyer.member_number, "points_to_spend": points,
    }  # fmt: skip
    return till.post("/api/v1/pos/purchases", body, format="json")


def error_code(response):
    return response.json()["error"]["code"]


# -- creating an order holds -------------------------------------------------------------------------------------
def test_an_order_holds_the_points_and_answers_the_amount_due_and_the_end_of_the_hold(
    app, buyer, online_store, base_rule, settings
):
    settings.CHECKOUT_ORDER_MINUTES = 15
    before = timezone.now()

    response = create(app)

    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["status"], body["amount_due"], body["points_to_spend"], body["currency"]) == (
        "open", "995.00", 500, "HKD",
    )  # fmt: skip
    order = CheckoutOrder.objects.get()
    assert before + timedelta(minutes=15) <= order.expires_at <= timezone.now() + timedelta(minutes=15)
    assert body["out_trade_no"] == order.out_trade_no
    assert 6 <= len(order.out_trade_no) <= 32
    buyer.refresh_from_db()
    assert (buyer.points_balance, buyer.points_held) == (500, 500)
    assert not Purchase.objects.exists()


def test_an_order_holds_stored_value_and_reserves_its_coupon(app, buyer, online_store, base_rule, now):
    stored_value_grant(member_id=buyer.pk, amount=Decimal("200.00"), idempotency_key="sv", now=now, source="test")
    template = CouponTemplateFactory(amount=Decimal("100.00"))
    coupon = coupon_template_issue_to_member(template_id=template.pk, member_id=buyer.pk, source="manual", now=now)

    response = create(app, points_to_spend=0, stored_value_amount="150.00", coupon_code=coupon.code)

    assert response.status_code == 201, response.json()
    assert (response.json()["amount_due"], response.json()["coupon_code"]) == ("750.00", coupon.code)
    buyer.refresh_from_db()
    assert buyer.stored_value_held == Decimal("150.00")
    coupon.refresh_from_db()
    assert (coupon.status, coupon.reservation_reference) == (Coupon.Status.RESERVED, response.json()["out_trade_no"])


def test_a_cart_that_leaves_nothing_to_pay_is_refused_and_holds_nothing(app, buyer, online_store, base_rule, now):
    stored_value_grant(member_id=buyer.pk, amount=Decimal("2000.00"), idempotency_key="sv", now=now, source="test")

    response = create(app, points_to_spend=0, stored_value_amount="1000.00")

    assert response.status_code == 422
    assert response.json()["error"]["code"] == "nothing_to_pay"
    buyer.refresh_from_db()
    assert (buyer.stored_value_held, CheckoutOrder.objects.count()) == (Decimal("0.00"), 0)


def test_a_retry_with_the_same_key_answers_the_first_order_and_holds_nothing_more(app, buyer, online_store):
    first = create(app)

    again = create(app)
    other = create(app, points_to_spend=100)

    assert (again.status_code, again.json(), again["Idempotent-Replayed"]) == (200, first.json(), "true")
    assert (other.status_code, error_code(other)) == (422, "idempotency_key_reused")
    buyer.refresh_from_db()
    assert (buyer.points_held, CheckoutOrder.objects.count()) == (500, 1)


def test_an_order_without_an_idempotency_key_is_refused(app, online_store):
    response = app.post("/api/v1/me/checkout-orders", cart(), format="json")

    assert (response.status_code, error_code(response)) == (400, "idempotency_key_invalid")


def test_the_member_and_the_till_see_what_is_held(app, buyer, online_store, pos_client_for, store):
    create(app, points_to_spend=300)

    points = app.get("/api/v1/me/points").json()
    summary = pos_client_for(store).get("/api/v1/pos/members/lookup", {"member_number": buyer.member_number}).json()

    assert (points["balance"], points["held"]) == (500, 300)
    assert (summary["points_balance"], summary["points_available"]) == (500, 200)


def test_a_second_order_cannot_hold_points_already_held(app, buyer, online_store):
    create(app)

    second = create(app, key="order-2", points_to_spend=1)

    assert (second.status_code, error_code(second)) == (409, "insufficient_points")


# -- the probe: the till meanwhile ---------------------------------------------------------------------------------
def test_points_held_by_an_order_are_refused_at_the_till_and_the_paid_order_is_recorded(
    app, buyer, online_store, base_rule, till, wechat_pay
):
    order = create(app).json()

    at_till = spend_at_till(till, buyer, 500)
    pay(wechat_pay, order)
    confirmed = confirm(app, order["id"])

    assert (at_till.status_code, error_code(at_till)) == (409, "insufficient_points")
    assert confirmed.status_code == 200, confirmed.json()
    body = confirmed.json()
    assert (body["status"], body["purchase"]["points_spent"], body["purchase"]["paid_amount"]) == (
        "paid", 500, "995.00",
    )  # fmt: skip
    purchase = Purchase.objects.get()
    assert (purchase.external_id, purchase.channel, purchase.store) == (
        order["out_trade_no"],
        "mini_program",
        online_store,
    )
    buyer.refresh_from_db()
    assert (buyer.points_balance, buyer.points_held) == (99, 0)  # 500 spent, 99 earned on HK$995
    assert BalanceHold.objects.get().status == BalanceHold.Status.SETTLED
    assert (points_ledger_drift(), balance_holds_drift()) == ([], [])


def test_a_confirmed_order_answers_its_purchase_again(app, buyer, online_store, base_rule, wechat_pay):
    order = create(app).json()
    pay(wechat_pay, order)
    first = confirm(app, order["id"])

    again = confirm(app, order["id"])
    shown = app.get(f"/api/v1/me/checkout-orders/{order['id']}")

    assert (again.status_code, again["Idempotent-Replayed"]) == (200, "true")
    assert again.json() == first.json() == shown.json()
    assert Purchase.objects.count() == 1


def test_an_order_not_paid_yet_is_not_confirmed_and_keeps_holding(app, buyer, online_store, wechat_pay):
    order = create(app).json()

    response = confirm(app, order["id"])

    assert (response.status_code, error_code(response)) == (422, "payment_not_confirmed")
    buyer.refresh_from_db()
    assert (CheckoutOrder.objects.get().status, buyer.points_held) == (Status.OPEN, 500)


def test_a_coupon_reserved_by_an_order_is_redeemed_by_its_purchase(app, buyer, online_store, wechat_pay, now):
    coupon = coupon_template_issue_to_member(
        template_id=CouponTemplateFactory(amount=Decimal("100.00")).pk, member_id=buyer.pk, source="manual", now=now
    )
    order = create(app, points_to_spend=0, coupon_code=coupon.code).json()
    pay(wechat_pay, order)

    response = confirm(app, order["id"])

    assert (response.status_code, response.json()["purchase"]["coupon_code"]) == (200, coupon.code)
    coupon.refresh_from_db()
    assert coupon.status == Coupon.Status.REDEEMED


def test_another_members_order_is_not_found(app, online_store, member_client):
    order = create(app).json()
    stranger = member_client(MemberFactory())

    assert stranger.get(f"/api/v1/me/checkout-orders/{order['id']}").status_code == 404
    assert confirm(stranger, order["id"]).status_code == 404
    assert stranger.post(f"/api/v1/me/checkout-orders/{order['id']}/cancel", {}, format="json").status_code == 404


# -- cancellation and expiry release --------------------------------------------------------------------------------
def test_cancelling_gives_back_the_points_and_the_coupon_once(app, buyer, online_store, now, wechat_pay):
    coupon = coupon_template_issue_to_member(
        template_id=CouponTemplateFactory(amount=Decimal("10.00")).pk, member_id=buyer.pk, source="manual", now=now
    )
    order = create(app, coupon_code=coupon.code, points_to_spend=400).json()

    first = app.post(f"/api/v1/me/checkout-orders/{order['id']}/cancel", {}, format="json")
    again = app.post(f"/api/v1/me/checkout-orders/{order['id']}/cancel", {}, format="json")

    assert (first.status_code, first.json()["status"], again.json()["status"]) == (200, "cancelled", "cancelled")
    buyer.refresh_from_db()
    coupon.refresh_from_db()
    assert (buyer.points_held, coupon.status) == (0, Coupon.Status.AVAILABLE)
    assert balance_holds_drift() == []


def test_the_expiry_job_releases_orders_whose_time_is_up_and_running_it_again_does_nothing(app, buyer, online_store):
    order = create(app).json()
    order_expires_at = CheckoutOrder.objects.get().expires_at

    assert checkout_orders_expire(now=order_expires_at - timedelta(seconds=1)) == 0
    assert checkout_orders_expire(now=order_expires_at) == 1
    assert checkout_orders_expire(now=order_expires_at) == 0

    buyer.refresh_from_db()
    assert (CheckoutOrder.objects.get(pk=order["id"]).status, buyer.points_held) == (Status.EXPIRED, 0)


def test_the_expiry_job_is_a_periodic_task_registered_at_migrate():
    from django_celery_beat.models import PeriodicTask

    assert PeriodicTask.objects.filter(task="points.expire_checkout_orders").exists()


# -- a payment after the hold expired ---------------------------------------------------------------------------------
def _expire(order, wechat_pay=None):
    """Run the expiry job at the order's end; with `wechat_pay`, while WeChat Pay is down (so the job cannot see the
    payment and only releases the hold)."""
    if wechat_pay is not None:
        wechat_pay.status_override = 503
    checkout_orders_expire(now=CheckoutOrder.objects.get(pk=order["id"]).expires_at)
    if wechat_pay is not None:
        wechat_pay.status_override = None


def test_a_payment_after_the_hold_expired_is_honoured_when_the_points_are_still_there(
    app, buyer, online_store, base_rule, wechat_pay
):
    order = create(app).json()
    pay(wechat_pay, order)
    _expire(order)

    response = confirm(app, order["id"])

    assert (response.status_code, response.json()["status"]) == (200, "paid")
    assert Purchase.objects.count() == 1
    assert wechat_pay.refunds == {}


def test_the_expiry_job_records_an_order_paid_but_never_confirmed(app, buyer, online_store, base_rule, wechat_pay):
    order = create(app).json()
    pay(wechat_pay, order)

    _expire(order)

    assert CheckoutOrder.objects.get().status == Status.PAID
    assert Purchase.objects.get().external_id == order["out_trade_no"]
    buyer.refresh_from_db()
    assert (buyer.points_held, buyer.points_balance) == (0, 99)


def test_an_order_paid_while_wechat_pay_was_down_at_its_expiry_is_recorded_by_a_later_run(
    app, buyer, online_store, base_rule, wechat_pay
):
    order = create(app).json()
    pay(wechat_pay, order)
    _expire(order, wechat_pay)  # released; WeChat Pay could not say it was paid
    assert CheckoutOrder.objects.get().status == Status.EXPIRED

    checkout_orders_expire(now=timezone.now())

    assert CheckoutOrder.objects.get().status == Status.PAID
    assert Purchase.objects.get().external_id == order["out_trade_no"]


def test_an_unpaid_order_released_while_wechat_pay_was_down_is_checked_once_it_answers(
    app, buyer, online_store, wechat_pay
):
    order = create(app).json()
    _expire(order, wechat_pay)
    assert CheckoutOrder.objects.get().payment_checked_at is None  # no answer yet: asked again next run

    checkout_orders_expire(now=timezone.now())

    checked = CheckoutOrder.objects.get()
    assert (checked.status, checked.payment_checked_at is not None) == (Status.EXPIRED, True)


def test_the_expiry_job_leaves_an_unpaid_order_expired(app, buyer, online_store, wechat_pay):
    order = create(app).json()

    _expire(order)

    assert CheckoutOrder.objects.get(pk=order["id"]).status == Status.EXPIRED
    assert (Purchase.objects.count(), wechat_pay.refunds) == (0, {})


def test_an_order_that_fails_to_expire_does_not_hold_up_the_others(app, buyer, online_store, wechat_pay, monkeypatch):
    # given two unpaid orders due, the first of which fails in a way nobody foresaw
    from points.services import checkout_orders

    first, second = create(app, key="order-1").json(), create(app, key="order-2", points_to_spend=0).json()
    expire = checkout_orders.checkout_order_expire

    def failing_for_the_first(*, order_id, now):
        if order_id == first["id"]:
            raise RuntimeError("unforeseen")
        return expire(order_id=order_id, now=now)

    monkeypatch.setattr(checkout_orders, "checkout_order_expire", failing_for_the_first)

    # when the expiry job runs after both are due
    released = checkout_orders_expire(now=CheckoutOrder.objects.get(pk=second["id"]).expires_at)

    # then the second is released, and the first waits for the next run
    assert released == 1
    statuses = dict(CheckoutOrder.objects.values_list("pk", "status"))
    assert (statuses[first["id"]], statuses[second["id"]]) == (Status.OPEN, Status.EXPIRED)


def test_a_payment_after_the_held_points_were_spent_is_refunded_through_wechat_pay_and_the_member_told_why(
    app, buyer, online_store, base_rule, till, wechat_pay
):
    order = create(app).json()
    pay(wechat_pay, order)
    _expire(order, wechat_pay)
    assert spend_at_till(till, buyer, 500).status_code == 201

    response = confirm(app, order["id"])

    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["status"], body["refund_reason"], body["purchase"]) == ("refunded", "insufficient_points", None)
    [refund] = wechat_pay.refunds.values()
    assert (refund["out_trade_no"], refund["amount"]["refund"], refund["amount"]["total"]) == (
        order["out_trade_no"], 99500, 99500,
    )  # fmt: skip
    assert Purchase.objects.filter(external_id=order["out_trade_no"]).count() == 0
    notification = Notification.objects.get(member=buyer, kind=Notification.Kind.CHECKOUT_REFUNDED)
    assert order["out_trade_no"] in notification.body
    assert "HKD 995.00" in notification.body
    use = PaymentUse.objects.get(transaction_id=order["out_trade_no"])
    assert use.purpose == PaymentUse.Purpose.REFUNDED
    # Asked again: the same answer, no second refund nor notification.
    assert confirm(app, order["id"]).json() == body
    assert len(wechat_pay.refunds) == 1
    assert Notification.objects.filter(kind=Notification.Kind.CHECKOUT_REFUNDED).count() == 1


def test_the_refund_notification_is_written_in_the_members_language(app, buyer, online_store, till, wechat_pay):
    buyer.locale = "zh-hant"
    buyer.save(update_fields=["locale"])
    order = create(app).json()
    pay(wechat_pay, order)
    _expire(order, wechat_pay)
    spend_at_till(till, buyer, 500)

    confirm(app, order["id"])

    notification = Notification.objects.get(kind=Notification.Kind.CHECKOUT_REFUNDED)
    assert notification.locale == "zh-hant"


def test_a_payment_of_another_amount_is_refunded(app, buyer, online_store, wechat_pay):
    order = create(app).json()
    pay(wechat_pay, order, cents=100)

    response = confirm(app, order["id"])

    assert (response.json()["status"], response.json()["refund_reason"]) == ("refunded", "payment_amount_mismatch")
    assert [refund["amount"]["refund"] for refund in wechat_pay.refunds.values()] == [100]
    buyer.refresh_from_db()
    assert (buyer.points_balance, buyer.points_held) == (500, 0)


def test_a_refund_wechat_pay_cannot_take_yet_is_pending_and_the_job_asks_again(
    app, buyer, online_store, till, wechat_pay
):
    order = create(app).json()
    pay(wechat_pay, order)
    _expire(order, wechat_pay)
    spend_at_till(till, buyer, 500)
    wechat_pay.refund_unavailable = True

    response = confirm(app, order["id"])

    assert response.json()["status"] == "refund_pending"
    assert not Notification.objects.filter(kind=Notification.Kind.CHECKOUT_REFUNDED).exists()
    wechat_pay.refund_unavailable = False
    checkout_orders_expire(now=timezone.now())
    checkout_orders_expire(now=timezone.now())
    assert CheckoutOrder.objects.get().status == Status.REFUNDED
    assert len(wechat_pay.refunds) == 1
    assert Notification.objects.filter(kind=Notification.Kind.CHECKOUT_REFUNDED).count() == 1


# -- the ledger checks see holds -----------------------------------------------------------------------------------
def test_cancelling_an_order_paid_after_all_records_the_purchase_instead(app, buyer, online_store, wechat_pay):
    order = create(app).json()
    pay(wechat_pay, order)  # the pay sheet failed on the phone, but WeChat Pay took the money

    response = app.post(f"/api/v1/me/checkout-orders/{order['id']}/cancel", {}, format="json")

    assert (response.status_code, response.json()["status"]) == (200, "paid")
    assert Purchase.objects.filter(external_id=order["out_trade_no"]).count() == 1
    buyer.refresh_from_db()
    assert buyer.points_held == 0
    assert not BalanceHold.objects.filter(status=BalanceHold.Status.ACTIVE).exists()


def test_no_cancel_while_wechat_pay_cannot_say_whether_the_order_was_paid(app, buyer, online_store, wechat_pay):
    order = create(app).json()
    wechat_pay.status_override = 503

    response = app.post(f"/api/v1/me/checkout-orders/{order['id']}/cancel", {}, format="json")

    assert (response.status_code, response.json()["error"]["code"]) == (503, "payment_provider_unavailable")
    assert CheckoutOrder.objects.get().status == Status.OPEN


def test_the_ledger_checks_pass_with_orders_open_paid_and_released(app, buyer, online_store, wechat_pay, give_points):
    give_points(buyer, 1000, key="more")
    paid = create(app, key="a").json()
    pay(wechat_pay, paid)
    confirm(app, paid["id"])
    create(app, key="b", points_to_spend=300)
    cancelled = create(app, key="c", points_to_spend=200).json()
    app.post(f"/api/v1/me/checkout-orders/{cancelled['id']}/cancel", {}, format="json")

    call_command("check_points_ledger")
    call_command("check_stored_value_ledger")
    buyer.refresh_from_db()
    assert buyer.points_held == 300


# -- the payment of an order reported through me/purchases -------------------------------------------------------------
def test_posting_an_orders_payment_to_me_purchases_settles_the_order(app, buyer, online_store, base_rule, wechat_pay):
    order = create(app).json()
    pay(wechat_pay, order)

    response = app.post("/api/v1/me/purchases", {**cart(), "out_trade_no": order["out_trade_no"]}, format="json")

    assert response.status_code == 201, response.json()
    assert (response.json()["external_id"], response.json()["points_spent"]) == (order["out_trade_no"], 500)
    assert CheckoutOrder.objects.get().status == Status.PAID
    buyer.refresh_from_db()
    assert buyer.points_held == 0


def test_posting_the_payment_of_an_order_that_cannot_be_honoured_to_me_purchases_refunds_it(
    app, buyer, online_store, till, wechat_pay
):
    order = create(app).json()
    pay(wechat_pay, order)
    _expire(order, wechat_pay)
    spend_at_till(till, buyer, 500)

    response = app.post("/api/v1/me/purchases", {**cart(), "out_trade_no": order["out_trade_no"]}, format="json")

    assert (response.status_code, error_code(response)) == (409, "payment_refunded")
    assert CheckoutOrder.objects.get().status == Status.REFUNDED
    assert len(wechat_pay.refunds) == 1


def test_the_preview_offers_only_points_not_held_and_refuses_more(app, buyer, online_store):
    create(app, points_to_spend=300)
    preview = {k: v for k, v in cart().items() if k != "points_to_spend"}

    offered = app.post("/api/v1/me/purchases/preview", preview, format="json")
    refused = app.post("/api/v1/me/purchases/preview", {**preview, "points_to_spend": 201}, format="json")

    assert offered.json()["max_points_spendable"] == 200
    assert (refused.status_code, error_code(refused)) == (409, "insufficient_points")
    assert "points_to_spend" in refused.json()["error"]["fields"]

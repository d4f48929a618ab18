"""The checkout order's WeChat Pay side: the server opens the payment (JSAPI prepay) and signs what
`wx.requestPayment` takes, closes it on cancel and expiry, hears of payments through WeChat Pay's signed and
encrypted notification, and hands refunds WeChat Pay will not take to staff.

The real WechatPayClient talks to the fake WeChat Pay on 127.0.0.1, whose platform key and the APIv3 key are made
for the test (tests/conftest.py `wechat_pay`).
"""

import base64
import json
import logging
import time
from datetime import datetime
from decimal import Decimal

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from django.utils import timezone
from rest_framework.test import APIClient

from coupons.models import Coupon
from coupons.services import coupon_template_issue_to_member
from members.models import BalanceHold, Notification, Purchase
from members.services.holds import balance_holds_drift
from points.models import CheckoutOrder
from points.services.checkout_orders import checkout_order_refunds_follow, checkout_orders_expire, refund_failed_count
from tests.coupons.factories import CouponTemplateFactory
from tests.factories import MemberFactory
from tests.points.test_checkout_orders import OPENID, cart, confirm, create, error_code, spend_at_till

pytestmark = pytest.mark.django_db

Status = CheckoutOrder.Status
NOTIFY = "/api/v1/wechat-pay/notify"
PREPAY = "/v3/pay/transactions/jsapi"


@pytest.fixture
def app(member_client, buyer, wechat_pay):
    return member_client(buyer)


@pytest.fixture
def till(store, pos_client_for):
    return pos_client_for(store)


def cancel(app, order_id):
    return app.post(f"/api/v1/me/checkout-orders/{order_id}/cancel", {}, format="json")


def closes(wechat_pay, order):
    return wechat_pay.requests_to(f"/v3/pay/transactions/out-trade-no/{order['out_trade_no']}/close")


def notify(wechat_pay, order, *, body=None, headers=None, **options):
    signed_body, signed_headers = wechat_pay.notification(
        order["out_trade_no"], api_v3_key=options.pop("api_v3_key", wechat_pay.api_v3_key), **options
    )
    headers = headers or signed_headers
    extra = {"HTTP_" + name.upper().replace("-", "_"): value for name, value in headers.items()}
    return APIClient().post(NOTIFY, data=body or signed_body, content_type="application/json", **extra)


# -- 1. the server opens the WeChat Pay order -------------------------------------------------------------------
def test_creating_an_order_opens_its_wechat_pay_order_and_answers_what_wx_request_payment_takes(
    app, buyer, online_store, wechat_pay, wechat_pay_merchant_keys, settings
):
    response = create(app)

    assert response.status_code == 201, response.json()
    body, order = response.json(), CheckoutOrder.objects.get()
    [prepay] = [request.json() for request in wechat_pay.requests_to(PREPAY)]
    assert prepay == {
        "appid": "wx-test-app", "mchid": "1900000109", "description": "Mini-program purchase",
        "out_trade_no": order.out_trade_no, "time_expire": order.expires_at.isoformat(timespec="seconds"),
        "notify_url": settings.WECHATPAY_NOTIFY_URL, "amount": {"total": 99500, "currency": "HKD"},
        "payer": {"openid": OPENID},
    }  # fmt: skip
    assert datetime.fromisoformat(prepay["time_expire"]) == order.expires_at.replace(microsecond=0)
    assert order.prepay_id
    assert order.store == online_store
    payment = body["payment"]
    assert (payment["package"], payment["signType"]) == (f"prepay_id={order.prepay_id}", "RSA")
    # paySign is the merchant's SHA256-RSA signature of appid, timeStamp, nonceStr and package, a line each.
    message = f"wx-test-app\n{payment['timeStamp']}\n{payment['nonceStr']}\n{payment['package']}\n".encode()
    merchant_public_key = serialization.load_pem_public_key(wechat_pay_merchant_keys[1].encode())
    merchant_public_key.verify(base64.b64decode(payment["paySign"]), message, padding.PKCS1v15(), hashes.SHA256())
    # Asked again under its key: the same answer, and WeChat Pay is not asked twice.
    assert create(app).json() == body
    assert len(wechat_pay.requests_to(PREPAY)) == 1


def test_an_order_no_longer_open_answers_no_payment_parameters(app, buyer, online_store, wechat_pay):
    order = create(app).json()

    cancelled = cancel(app, order["id"])

    assert (cancelled.json()["status"], cancelled.json()["payment"]) == ("cancelled", None)


@pytest.mark.parametrize(
    ("failure", "status", "code"),
    [("refused", 502, "payment_prepay_refused"), ("unavailable", 503, "payment_provider_unavailable")],
)
def test_when_wechat_pay_will_not_open_the_order_nothing_stays_held(
    app, buyer, online_store, wechat_pay, now, failure, status, code
):
    coupon = coupon_template_issue_to_member(
        template_id=CouponTemplateFactory(amount=Decimal("10.00")).pk, member_id=buyer.pk, source="manual", now=now
    )
    if failure == "refused":
        wechat_pay.prepay_refusal = "PARAM_ERROR"
    else:
        wechat_pay.status_override = 503

    response = create(app, coupon_code=coupon.code)

    assert (response.status_code, error_code(response)) == (status, code)
    buyer.refresh_from_db()
    coupon.refresh_from_db()
    assert (buyer.points_held, coupon.status) == (0, Coupon.Status.AVAILABLE)
    assert CheckoutOrder.objects.get().status == Status.FAILED
    assert not BalanceHold.objects.filter(status=BalanceHold.Status.ACTIVE).exists()
    assert balance_holds_drift() == []
    # Once WeChat Pay answers again, the mini program's retry under the same key opens a new order.
    wechat_pay.prepay_refusal, wechat_pay.status_override = None, None
    retry = create(app, coupon_code=coupon.code)
    assert (retry.status_code, retry.json()["status"], CheckoutOrder.objects.count()) == (201, "open", 2)


def test_a_member_without_a_wechat_account_cannot_open_an_order(member_client, online_store, wechat_pay, give_points):
    member = MemberFactory(wechat_openid=None)
    give_points(member, 500)

    response = member_client(member).post("/api/v1/me/checkout-orders", cart(), format="json", HTTP_IDEMPOTENCY_KEY="k")

    assert (response.status_code, error_code(response)) == (422, "wechat_account_required")
    member.refresh_from_db()
    assert (member.points_held, CheckoutOrder.objects.count(), wechat_pay.requests_to(PREPAY)) == (0, 0, [])


# -- 2. closed on cancel and expiry -------------------------------------------------------------------------------
def test_cancelling_closes_the_wechat_pay_order_so_it_cannot_be_paid(app, buyer, online_store, wechat_pay):
    order = create(app).json()

    response = cancel(app, order["id"])

    assert response.json()["status"] == "cancelled"
    assert len(closes(wechat_pay, order)) == 1
    assert wechat_pay.pay(order["out_trade_no"]) is False
    closed = CheckoutOrder.objects.get()
    # Closed unpaid: the job need not ask about it again.
    assert (closed.wechat_closed_at is not None, closed.payment_checked_at is not None) == (True, True)


def test_the_expiry_job_closes_the_wechat_pay_order_so_an_expired_order_cannot_be_paid(
    app, buyer, online_store, wechat_pay
):
    order = create(app).json()

    checkout_orders_expire(now=CheckoutOrder.objects.get().expires_at)
    checkout_orders_expire(now=timezone.now())

    assert CheckoutOrder.objects.get().status == Status.EXPIRED
    assert len(closes(wechat_pay, order)) == 1
    assert wechat_pay.pay(order["out_trade_no"]) is False
    buyer.refresh_from_db()
    assert buyer.points_held == 0


def test_an_order_paid_just_before_its_expiry_is_confirmed_by_the_job_from_its_hold(
    app, buyer, online_store, base_rule, wechat_pay
):
    order = create(app).json()
    assert wechat_pay.pay(order["out_trade_no"]) is True  # the member paid; the mini program never confirmed

    checkout_orders_expire(now=CheckoutOrder.objects.get().expires_at)

    assert CheckoutOrder.objects.get().status == Status.PAID
    assert BalanceHold.objects.get().status == BalanceHold.Status.SETTLED
    assert Purchase.objects.get().external_id == order["out_trade_no"]


def test_the_fake_refuses_a_payment_after_the_wechat_pay_time_limit(app, buyer, online_store, wechat_pay):
    order = create(app).json()

    assert wechat_pay.pay(order["out_trade_no"], now=CheckoutOrder.objects.get().expires_at) is False


def test_cancel_is_refused_while_wechat_pay_cannot_close_the_order(app, buyer, online_store, wechat_pay):
    order = create(app).json()
    wechat_pay.status_override = 503

    response = cancel(app, order["id"])

    assert (response.status_code, error_code(response)) == (503, "payment_provider_unavailable")
    buyer.refresh_from_db()
    assert (CheckoutOrder.objects.get().status, buyer.points_held) == (Status.OPEN, 500)


# -- 3. WeChat Pay's payment notification -------------------------------------------------------------------------
def test_a_payment_notification_confirms_the_order_once_and_a_replay_gets_the_same_answer(
    app, buyer, online_store, base_rule, wechat_pay
):
    order = create(app).json()
    wechat_pay.pay(order["out_trade_no"])
    body, headers = wechat_pay.notification(order["out_trade_no"], api_v3_key=wechat_pay.api_v3_key)

    first = notify(wechat_pay, order, body=body, headers=headers)
    again = notify(wechat_pay, order, body=body, headers=headers)

    assert (first.status_code, again.status_code, first.content, again.content) == (204, 204, b"", b"")
    assert CheckoutOrder.objects.get().status == Status.PAID
    assert Purchase.objects.filter(external_id=order["out_trade_no"]).count() == 1
    buyer.refresh_from_db()
    assert (buyer.points_held, buyer.points_balance) == (0, 99)
    # The member's own confirm then answers the same purchase.
    assert confirm(app, order["id"]).json()["purchase"]["external_id"] == order["out_trade_no"]


def test_a_notification_before_the_payment_changes_nothing(app, buyer, online_store, wechat_pay):
    order = create(app).json()

    response = notify(wechat_pay, order)

    assert response.status_code == 204
    assert CheckoutOrder.objects.get().status == Status.OPEN


@pytest.mark.parametrize(
    "forgery", ["body changed", "signed too long ago", "another APIv3 key", "no signature", "unknown serial"]
)
def test_a_notification_that_does_not_check_out_is_refused_and_changes_nothing(
    app, buyer, online_store, wechat_pay, forgery
):
    order = create(app).json()
    wechat_pay.pay(order["out_trade_no"])
    queries_before = len(wechat_pay.requests)
    options, body, headers = {}, None, None
    if forgery == "unknown serial":
        # Signed by the platform key all right, but naming a key id we were not configured with (a rotation we
        # have not taken, or someone else's key): refused before anything is read.
        wechat_pay.platform_serial = "PUB_KEY_ID_02"
    if forgery == "signed too long ago":
        options["timestamp"] = int(time.time()) - 301
    elif forgery == "another APIv3 key":
        options["api_v3_key"] = "k" * 32
    signed_body, signed_headers = wechat_pay.notification(
        order["out_trade_no"], api_v3_key=options.pop("api_v3_key", wechat_pay.api_v3_key), **options
    )
    if forgery == "body changed":
        body = json.dumps({**json.loads(signed_body), "event_type": "TRANSACTION.SUCCESS "})
    if forgery == "no signature":
        headers = {"Wechatpay-Timestamp": str(int(time.time()))}

    response = notify(wechat_pay, order, body=body or signed_body, headers=headers or signed_headers)

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "payment_notification_refused"
    assert (CheckoutOrder.objects.get().status, Purchase.objects.count()) == (Status.OPEN, 0)
    assert len(wechat_pay.requests) == queries_before  # WeChat Pay was not even asked


def test_a_notification_while_wechat_pay_cannot_be_asked_is_answered_503_so_it_comes_again(
    app, buyer, online_store, base_rule, wechat_pay
):
    order = create(app).json()
    wechat_pay.pay(order["out_trade_no"])
    body, headers = wechat_pay.notification(order["out_trade_no"], api_v3_key=wechat_pay.api_v3_key)
    wechat_pay.status_override = 503

    response = notify(wechat_pay, order, body=body, headers=headers)

    assert response.status_code == 503
    assert CheckoutOrder.objects.get().status == Status.OPEN
    wechat_pay.status_override = None
    assert notify(wechat_pay, order, body=body, headers=headers).status_code == 204
    assert CheckoutOrder.objects.get().status == Status.PAID


def test_a_confirmation_whose_wechat_pay_answer_names_an_unknown_serial_is_refused_and_changes_nothing(
    app, buyer, online_store, base_rule, wechat_pay
):
    order = create(app).json()
    wechat_pay.pay(order["out_trade_no"])
    wechat_pay.platform_serial = "PUB_KEY_ID_02"

    response = confirm(app, order["id"])

    assert (response.status_code, error_code(response)) == (503, "payment_provider_unavailable")
    assert (CheckoutOrder.objects.get().status, Purchase.objects.count()) == (Status.OPEN, 0)


# -- 4. refunds WeChat Pay will not take ---------------------------------------------------------------------------
def _refund_refused(app, buyer, till, wechat_pay):
    """An order paid after its hold was released and spent at a till: confirming it refunds it."""
    order = create(app).json()
    wechat_pay.pay(order["out_trade_no"])
    wechat_pay.status_override = 503
    checkout_orders_expire(now=CheckoutOrder.objects.get().expires_at)
    wechat_pay.status_override = None
    assert spend_at_till(till, buyer, 500).status_code == 201
    return order


def test_a_refund_wechat_pay_reports_abnormal_goes_to_staff_once_and_is_not_asked_again(
    app, buyer, online_store, till, wechat_pay, caplog
):
    order = _refund_refused(app, buyer, till, wechat_pay)
    wechat_pay.refund_status = "ABNORMAL"

    with caplog.at_level(logging.ERROR, logger="points.services.checkout_orders"):
        response = confirm(app, order["id"])
        checkout_orders_expire(now=timezone.now())
        checkout_orders_expire(now=timezone.now())
        again = confirm(app, order["id"])

    assert (response.json()["status"], again.json()["status"]) == ("refund_failed", "refund_failed")
    assert len(wechat_pay.requests_to(wechat_pay.REFUND_PATH)) == 1
    assert [record.message for record in caplog.records if order["out_trade_no"] in record.message] == [
        f"Refund of checkout order {order['out_trade_no']} (HKD 995.00) failed at WeChat Pay (ABNORMAL): "
        "staff must refund it by hand"
    ]
    assert Purchase.objects.filter(external_id=order["out_trade_no"]).count() == 0


def test_a_refund_refused_too_many_times_stops_being_asked(app, buyer, online_store, till, wechat_pay, settings):
    settings.CHECKOUT_REFUND_MAX_ATTEMPTS = 3
    order = _refund_refused(app, buyer, till, wechat_pay)
    wechat_pay.refund_unavailable = True

    assert confirm(app, order["id"]).json()["status"] == "refund_pending"  # 1
    checkout_orders_expire(now=timezone.now())  # 2
    assert CheckoutOrder.objects.get().status == Status.REFUND_PENDING
    checkout_orders_expire(now=timezone.now())  # 3
    checkout_orders_expire(now=timezone.now())

    refused = CheckoutOrder.objects.get()
    assert (refused.status, refused.refund_attempts) == (Status.REFUND_FAILED, 3)
    assert len(wechat_pay.requests_to(wechat_pay.REFUND_PATH)) == 3


# -- 5. a refund ends as WeChat Pay finally says ---------------------------------------------------------------------
def _refund_processing(app, buyer, till, wechat_pay):
    """An order refunded (its hold was spent meanwhile) whose refund WeChat Pay took but still processes."""
    order = _refund_refused(app, buyer, till, wechat_pay)
    wechat_pay.refund_status = "PROCESSING"
    response = confirm(app, order["id"])
    assert response.json()["status"] == "refunding"
    return order


def refund_notify(wechat_pay, order):
    body, headers = wechat_pay.refund_notification(f"{order['out_trade_no']}-R", api_v3_key=wechat_pay.api_v3_key)
    extra = {"HTTP_" + name.upper().replace("-", "_"): value for name, value in headers.items()}
    return APIClient().post(NOTIFY, data=body, content_type="application/json", **extra)


def refunds_told(buyer):
    return Notification.objects.filter(member=buyer, kind=Notification.Kind.CHECKOUT_REFUNDED).count()


def test_a_refund_wechat_pay_still_processes_is_refunding_and_the_member_is_not_told_yet(
    app, buyer, online_store, till, wechat_pay
):
    order = _refund_processing(app, buyer, till, wechat_pay)

    refunding = CheckoutOrder.objects.get()
    assert (refunding.status, refunding.refund_status, refunding.refunded_at) == (
        Status.REFUND_PROCESSING, "PROCESSING", None,
    )  # fmt: skip
    assert refunding.refund_id == wechat_pay.refunds[f"{order['out_trade_no']}-R"]["refund_id"]
    assert refunds_told(buyer) == 0
    # Still processing: the refund job asks, and nothing moves.
    assert checkout_order_refunds_follow(now=timezone.now()) == 0
    assert CheckoutOrder.objects.get().status == Status.REFUND_PROCESSING
    assert len(wechat_pay.requests_to(f"{wechat_pay.REFUND_PATH}/{order['out_trade_no']}-R")) == 1


def test_the_refund_job_asks_wechat_pay_until_the_refund_succeeded_then_tells_the_member_once(
    app, buyer, online_store, till, wechat_pay
):
    order = _refund_processing(app, buyer, till, wechat_pay)
    wechat_pay.settle_refund(f"{order['out_trade_no']}-R", "SUCCESS")

    assert checkout_order_refunds_follow(now=timezone.now()) == 1
    assert checkout_order_refunds_follow(now=timezone.now()) == 0
    checkout_orders_expire(now=timezone.now())

    refunded = CheckoutOrder.objects.get()
    assert (refunded.status, refunded.refund_status, refunded.refunded_at is not None) == (
        Status.REFUNDED, "SUCCESS", True,
    )  # fmt: skip
    assert refunds_told(buyer) == 1
    assert len(wechat_pay.requests_to(f"{wechat_pay.REFUND_PATH}/{order['out_trade_no']}-R")) == 1
    assert len(wechat_pay.requests_to(wechat_pay.REFUND_PATH)) == 1  # refunded once
    assert confirm(app, order["id"]).json()["status"] == "refunded"


@pytest.mark.parametrize("final", ["ABNORMAL", "CLOSED"])
def test_a_refund_wechat_pay_ends_abnormal_or_closed_is_refund_failed_for_staff_and_the_member_is_not_told(
    app, buyer, online_store, till, wechat_pay, final, caplog
):
    order = _refund_processing(app, buyer, till, wechat_pay)
    wechat_pay.settle_refund(f"{order['out_trade_no']}-R", final)

    with caplog.at_level(logging.ERROR, logger="points.services.checkout_orders"):
        checkout_order_refunds_follow(now=timezone.now())
        checkout_order_refunds_follow(now=timezone.now())

    failed = CheckoutOrder.objects.get()
    assert (failed.status, failed.refund_status) == (Status.REFUND_FAILED, final)
    assert (refund_failed_count(), refunds_told(buyer)) == (1, 0)
    assert [record.message for record in caplog.records if order["out_trade_no"] in record.message] == [
        f"Refund of checkout order {order['out_trade_no']} (HKD 995.00) failed at WeChat Pay ({final}): "
        "staff must refund it by hand"
    ]


@pytest.mark.parametrize("final", ["SUCCESS", "ABNORMAL", "CLOSED"])
def test_wechat_pay_s_refund_notification_ends_the_refund_as_it_says_once(
    app, buyer, online_store, till, wechat_pay, final
):
    order = _refund_processing(app, buyer, till, wechat_pay)
    wechat_pay.settle_refund(f"{order['out_trade_no']}-R", final)

    first, again = refund_notify(wechat_pay, order), refund_notify(wechat_pay, order)

    assert (first.status_code, again.status_code) == (204, 204)
    expected = {"SUCCESS": Status.REFUNDED, "ABNORMAL": Status.REFUND_FAILED, "CLOSED": Status.REFUND_FAILED}[final]
    ended = CheckoutOrder.objects.get()
    assert (ended.status, ended.refund_status) == (expected, final)
    assert refunds_told(buyer) == (1 if final == "SUCCESS" else 0)
    # Nothing left for the refund job to ask.
    assert checkout_order_refunds_follow(now=timezone.now()) == 0
    assert wechat_pay.requests_to(f"{wechat_pay.REFUND_PATH}/{order['out_trade_no']}-R") == []


def test_a_refund_notification_under_an_unknown_serial_is_refused_and_changes_nothing(
    app, buyer, online_store, till, wechat_pay
):
    order = _refund_processing(app, buyer, till, wechat_pay)
    wechat_pay.settle_refund(f"{order['out_trade_no']}-R", "SUCCESS")
    wechat_pay.platform_serial = "PUB_KEY_ID_02"

    response = refund_notify(wechat_pay, order)

    assert (response.status_code, response.json()["error"]["code"]) == (401, "payment_notification_refused")
    assert (CheckoutOrder.objects.get().status, refunds_told(buyer)) == (Status.REFUND_PROCESSING, 0)


def test_a_refund_wechat_pay_finally_took_after_we_gave_up_asking_is_refunded(
    app, buyer, online_store, till, wechat_pay, settings
):
    settings.CHECKOUT_REFUND_MAX_ATTEMPTS = 1
    order = _refund_refused(app, buyer, till, wechat_pay)
    wechat_pay.refund_unavailable = True  # WeChat Pay took the refund, but its answer never came back
    confirm(app, order["id"])
    assert CheckoutOrder.objects.get().status == Status.REFUND_FAILED
    wechat_pay.refunds[f"{order['out_trade_no']}-R"] = {
        "refund_id": "50001", "out_refund_no": f"{order['out_trade_no']}-R",
        "transaction_id": wechat_pay.orders[order["out_trade_no"]]["transaction_id"],
        "out_trade_no": order["out_trade_no"], "status": "SUCCESS",
        "amount": {"refund": 99500, "total": 99500, "currency": "HKD"},
    }  # fmt: skip

    assert refund_notify(wechat_pay, order).status_code == 204

    assert (CheckoutOrder.objects.get().status, refund_failed_count(), refunds_told(buyer)) == (Status.REFUNDED, 0, 1)


def test_the_refund_job_is_a_periodic_task_registered_at_migrate():
    from django_celery_beat.models import PeriodicTask

    assert PeriodicTask.objects.filter(task="points.follow_checkout_refunds").exists()

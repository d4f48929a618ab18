"""Checkout orders under real concurrency on PostgreSQL: one payment records one purchase, a hold is released once,
and a paid order ends recorded or refunded whatever runs beside it."""

import pytest
from django.db import connection
from django.utils import timezone

from members.errors import InsufficientPoints
from members.models import PointsEntry, Purchase
from members.services.holds import balance_holds_drift
from members.services.ledger import points_debit, points_ledger_drift
from points.models import CheckoutOrder
from points.services.checkout_orders import (
    checkout_order_cancel,
    checkout_order_confirm,
    checkout_order_expire,
    checkout_order_notified,
)
from tests.concurrency import run_in_threads

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

Status = CheckoutOrder.Status


@pytest.fixture
def make_order(checkout_order, buyer, wechat_pay):
    """The buyer's checkout order (tests/points/conftest.py); `paid`: WeChat Pay (the fake) has its payment."""

    def make(*, paid=True):
        order = checkout_order()
        if paid:
            wechat_pay.add_order(order.out_trade_no, total=int(order.amount_due * 100), openid=buyer.wechat_openid)
        return order

    return make


def test_eight_confirmations_of_one_order_at_once_record_one_purchase(buyer, wechat_pay, make_order):
    order = make_order()

    results = run_in_threads(
        [lambda: checkout_order_confirm(member_id=buyer.pk, order_id=order.pk, now=timezone.now())] * 8, workers=8
    )

    assert [r for r in results if isinstance(r, Exception)] == []
    assert sorted(r.is_replay for r in results) == [False] + [True] * 7
    assert {r.checkout.purchase.pk for r in results} == {Purchase.objects.get().pk}
    buyer.refresh_from_db()
    assert (buyer.points_balance, buyer.points_held) == (0, 0)
    assert (points_ledger_drift(), balance_holds_drift()) == ([], [])


def test_confirmations_racing_the_expiry_job_and_cancellations_end_paid_or_refunded_never_neither(
    buyer, wechat_pay, make_order
):
    order = make_order()
    later = order.expires_at

    calls = [
        lambda: checkout_order_confirm(member_id=buyer.pk, order_id=order.pk, now=timezone.now()),
        lambda: checkout_order_expire(order_id=order.pk, now=later),
        lambda: checkout_order_cancel(member_id=buyer.pk, order_id=order.pk, now=timezone.now()),
    ] * 4

    results = run_in_threads(calls, workers=12)

    assert [r for r in results if isinstance(r, Exception)] == []
    order.refresh_from_db()
    # A release before the first confirmation leaves the points free, so the payment is still honoured.
    assert order.status == Status.PAID
    assert Purchase.objects.count() == 1
    assert wechat_pay.refunds == {}
    assert (points_ledger_drift(), balance_holds_drift()) == ([], [])


def test_cancelling_one_order_from_eight_threads_releases_its_hold_once(buyer, wechat_pay, make_order):
    order = make_order(paid=False)  # a paid one would be confirmed instead

    results = run_in_threads(
        [lambda: checkout_order_cancel(member_id=buyer.pk, order_id=order.pk, now=timezone.now())] * 8, workers=8
    )

    assert {r.status for r in results} == {Status.CANCELLED}
    buyer.refresh_from_db()
    assert (buyer.points_balance, buyer.points_held) == (500, 0)
    assert balance_holds_drift() == []


def test_a_paid_order_whose_hold_expired_racing_spends_elsewhere_is_recorded_or_refunded_never_neither(
    buyer, wechat_pay, make_order
):
    order = make_order()
    checkout_order_expire(order_id=order.pk, now=order.expires_at)
    confirms = [lambda: checkout_order_confirm(member_id=buyer.pk, order_id=order.pk, now=timezone.now())] * 4
    spends = [
        lambda i=i: points_debit(member_id=buyer.pk, points=500, idempotency_key=f"till-{i}", now=timezone.now())
        for i in range(4)
    ]

    results = run_in_threads([call for pair in zip(confirms, spends, strict=True) for call in pair], workers=8)

    order.refresh_from_db()
    spent_elsewhere = PointsEntry.objects.filter(idempotency_key__startswith="till-").count()
    if order.status == Status.PAID:
        assert (Purchase.objects.count(), spent_elsewhere, len(wechat_pay.refunds)) == (1, 0, 0)
    else:
        assert order.status == Status.REFUNDED
        assert (Purchase.objects.count(), spent_elsewhere, len(wechat_pay.refunds)) == (0, 1, 1)
    assert [r for r in results if isinstance(r, Exception) and not isinstance(r, InsufficientPoints)] == []
    assert (points_ledger_drift(), balance_holds_drift()) == ([], [])


def test_wechat_pay_is_asked_to_open_the_order_only_once_its_holds_are_committed(buyer, wechat_pay, make_order):
    seen = []

    def on_prepay(body):  # in the fake's thread: its own connection sees only what is committed
        try:
            committed = CheckoutOrder.objects.filter(out_trade_no=body["out_trade_no"], hold__isnull=False)
            seen.append(committed.exists())
        finally:
            connection.close()

    wechat_pay.on_prepay = on_prepay

    order = make_order(paid=False)

    assert seen == [True]
    assert CheckoutOrder.objects.get(pk=order.pk).prepay_id


def test_notifications_racing_the_members_confirmations_record_one_purchase(buyer, wechat_pay, make_order):
    order = make_order()
    body, headers = wechat_pay.notification(order.out_trade_no, api_v3_key=wechat_pay.api_v3_key)
    calls = [
        lambda: checkout_order_notified(headers=headers, body=body.encode(), now=timezone.now()),
        lambda: checkout_order_confirm(member_id=buyer.pk, order_id=order.pk, now=timezone.now()),
    ] * 4

    results = run_in_threads(calls, workers=8)

    assert [r for r in results if isinstance(r, Exception)] == []
    order.refresh_from_db()
    assert (order.status, Purchase.objects.count()) == (Status.PAID, 1)
    buyer.refresh_from_db()
    assert (buyer.points_balance, buyer.points_held) == (0, 0)
    assert (points_ledger_drift(), balance_holds_drift()) == ([], [])

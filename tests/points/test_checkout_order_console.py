"""Checkout orders in the console: a read-only list of the staff member's store (status, member, amounts, what is
held, the WeChat Pay order, the refund) under Sales, a badge counting refunds WeChat Pay would not take, and a
manual release of a stuck order behind its permission, audited on the order."""

from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone

from members.models import Notification, Role
from points.admin.checkout_orders import refund_failed_badge
from points.models import CheckoutOrder
from tests.console_helpers import header_trail
from tests.factories import StoreFactory, UserFactory

pytestmark = pytest.mark.django_db

LIST_URL = reverse("admin:points_checkoutorder_changelist")
Status = CheckoutOrder.Status


def release_url(order):
    return reverse("admin:points_checkoutorder_release", args=[order.pk])


@pytest.fixture
def order(checkout_order, wechat_pay):
    return checkout_order()


@pytest.fixture
def manager(online_store):
    return UserFactory(role=Role.STORE_MANAGER, store=online_store)


@pytest.fixture
def other_manager():
    return UserFactory(role=Role.STORE_MANAGER, store=StoreFactory(code="other"))


def test_a_store_manager_sees_the_stores_orders_with_what_they_hold_and_their_wechat_pay_order(client, manager, order):
    client.force_login(manager)

    page = client.get(LIST_URL).content.decode()
    detail = client.get(reverse("admin:points_checkoutorder_change", args=[order.pk]))

    assert order.out_trade_no in page
    assert "500 points (Held)" in page
    assert "Opened, payable until the hold ends" in page
    assert detail.status_code == 200


def test_another_stores_manager_does_not_see_the_order(client, other_manager, order):
    client.force_login(other_manager)

    assert order.out_trade_no not in client.get(LIST_URL).content.decode()
    assert client.get(reverse("admin:points_checkoutorder_change", args=[order.pk]), follow=True).status_code in (
        200,
        404,
    )
    assert client.post(release_url(order), {"reason": "stuck"}).status_code == 404
    assert CheckoutOrder.objects.get().status == Status.OPEN


def test_a_clerk_can_neither_list_nor_release_orders(client, online_store, order):
    client.force_login(UserFactory(role=Role.CLERK, store=online_store))

    assert client.get(LIST_URL).status_code == 403
    assert client.post(release_url(order), {"reason": "stuck"}).status_code == 403
    assert CheckoutOrder.objects.get().status == Status.OPEN


def test_releasing_a_stuck_order_closes_it_at_wechat_pay_and_gives_back_what_it_held_audited(
    client, manager, order, wechat_pay
):
    client.force_login(manager)

    form = client.get(release_url(order))
    response = client.post(release_url(order), {"reason": "Member phoned: app crashed"})

    assert form.status_code == 200
    # the header's trail ends at the order released
    assert header_trail(form.content.decode())[-1][0] == reverse("admin:points_checkoutorder_change", args=[order.pk])
    assert response.status_code == 302
    released = CheckoutOrder.objects.get()
    assert (released.status, released.released_by, released.release_reason) == (
        Status.CANCELLED, manager, "Member phoned: app crashed",
    )  # fmt: skip
    assert wechat_pay.orders[order.out_trade_no]["trade_state"] == "CLOSED"
    released.member.refresh_from_db()
    assert released.member.points_held == 0


def test_a_release_needs_a_reason_and_changes_nothing_without_one(client, manager, order):
    client.force_login(manager)

    response = client.post(release_url(order), {"reason": " "})

    assert response.status_code == 200
    assert CheckoutOrder.objects.get().status == Status.OPEN


def test_an_order_paid_meanwhile_is_recorded_instead_of_released(client, manager, order, wechat_pay):
    wechat_pay.pay(order.out_trade_no)
    client.force_login(manager)

    client.post(release_url(order), {"reason": "stuck"})

    released = CheckoutOrder.objects.get()
    assert (released.status, released.released_by) == (Status.PAID, None)


def test_the_sidebar_lists_the_orders_under_sales_with_a_badge_of_refunds_staff_must_make(
    manager, other_manager, order
):
    from console.navigation import sidebar_navigation

    CheckoutOrder.objects.filter(pk=order.pk).update(status=Status.REFUND_FAILED)
    request = RequestFactory().get("/console/")
    request.user = manager
    other = RequestFactory().get("/console/")
    other.user = other_manager

    sales = next(group for group in sidebar_navigation(request) if str(group["title"]) == "Sales")
    [item] = [item for item in sales["items"] if item["link"] == LIST_URL]

    assert item["badge"] == "points.admin.checkout_orders.refund_failed_badge"
    assert (refund_failed_badge(request), refund_failed_badge(other)) == ("1", "")


# -- a failed refund recorded as refunded by hand ------------------------------------------------------------------
def refunded_by_hand_url(order):
    return reverse("admin:points_checkoutorder_refunded_by_hand", args=[order.pk])


def _refund_failed(order):
    CheckoutOrder.objects.filter(pk=order.pk).update(
        status=Status.REFUND_FAILED, refund_status="ABNORMAL", refund_reason="insufficient_points",
        paid_amount=Decimal("995.00"),
    )  # fmt: skip
    order.refresh_from_db()
    return order


def _may_refund_by_hand(user):
    user.user_permissions.add(Permission.objects.get(codename="refund_checkoutorder", content_type__app_label="points"))
    return type(user).objects.get(pk=user.pk)  # a fresh permission cache


def test_a_failed_refund_recorded_as_refunded_by_hand_keeps_who_when_and_how_and_leaves_the_badge(
    client, manager, order
):
    _refund_failed(order)
    refunder = _may_refund_by_hand(manager)
    client.force_login(refunder)
    request = RequestFactory().get("/console/")
    request.user = refunder
    assert refund_failed_badge(request) == "1"
    assert "Failed (ABNORMAL): refund by hand (insufficient_points)" in client.get(LIST_URL).content.decode()

    form = client.get(refunded_by_hand_url(order))
    before = timezone.now()
    response = client.post(refunded_by_hand_url(order), {"note": "Refunded in the merchant platform, no. 5003"})

    assert (form.status_code, response.status_code) == (200, 302)
    refunded = CheckoutOrder.objects.get()
    assert (refunded.status, refunded.refunded_by, refunded.refund_note) == (
        Status.REFUNDED, manager, "Refunded in the merchant platform, no. 5003",
    )  # fmt: skip
    assert refunded.refunded_at >= before
    assert refund_failed_badge(request) == ""
    assert Notification.objects.filter(member=order.member, kind=Notification.Kind.CHECKOUT_REFUNDED).count() == 1
    assert "Refunded by hand by" in client.get(LIST_URL).content.decode()
    # Recorded twice: refused, nothing more (no second notification).
    again = client.post(refunded_by_hand_url(order), {"note": "again"})
    assert again.status_code == 200
    assert CheckoutOrder.objects.get().refund_note == "Refunded in the merchant platform, no. 5003"
    assert Notification.objects.filter(kind=Notification.Kind.CHECKOUT_REFUNDED).count() == 1


def test_recording_a_refund_by_hand_needs_its_own_permission(client, manager, order):
    _refund_failed(order)
    client.force_login(manager)  # may release orders, not record refunds

    assert client.get(refunded_by_hand_url(order)).status_code == 403
    assert client.post(refunded_by_hand_url(order), {"note": "done"}).status_code == 403
    assert CheckoutOrder.objects.get().status == Status.REFUND_FAILED


def test_another_stores_manager_cannot_record_the_refund_by_hand(client, other_manager, order):
    _refund_failed(order)
    client.force_login(_may_refund_by_hand(other_manager))

    assert client.post(refunded_by_hand_url(order), {"note": "done"}).status_code == 404
    assert CheckoutOrder.objects.get().status == Status.REFUND_FAILED


@pytest.mark.parametrize("case", ["no note", "not refund_failed"])
def test_a_refund_by_hand_needs_a_note_and_a_failed_refund_and_changes_nothing_otherwise(client, manager, order, case):
    if case == "no note":
        _refund_failed(order)
    client.force_login(_may_refund_by_hand(manager))

    response = client.post(refunded_by_hand_url(order), {"note": " " if case == "no note" else "done"})

    assert response.status_code == 200
    expected = Status.REFUND_FAILED if case == "no note" else Status.OPEN
    assert (CheckoutOrder.objects.get().status, CheckoutOrder.objects.get().refunded_by) == (expected, None)
    assert not Notification.objects.filter(kind=Notification.Kind.CHECKOUT_REFUNDED).exists()

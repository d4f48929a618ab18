"""Notifications and the outbox in the console: read-only, filterable, scoped to the staff member's store."""

import pytest

from members.models import Notification, OutboxMessage, Role
from members.services.notifications import notify
from tests.factories import MemberFactory, StoreFactory, UserFactory

pytestmark = pytest.mark.django_db
NOTIFICATIONS = "/console/members/notification/"
OUTBOX = "/console/members/outboxmessage/"


@pytest.fixture
def stores():
    return StoreFactory(code="central"), StoreFactory(code="tst")


@pytest.fixture
def notifications(stores, now):
    """One points reminder for a member of each store (both consent to SMS) and a coupon reminder in Central."""
    central = MemberFactory(home_store=stores[0], consent_sms=True)
    tst = MemberFactory(home_store=stores[1], consent_sms=True)
    points = {"points": 10, "days": 30, "expires_on": "2026-12-31"}
    return [
        notify(member_id=central.pk, kind="points_expiring", params=points, dedupe_key="central-points", now=now),
        notify(member_id=tst.pk, kind="points_expiring", params=points, dedupe_key="tst-points", now=now),
        notify(
            member_id=central.pk,
            kind="coupon_expiring",
            params={"coupon": "HK$20 off", "expires_on": "2026-12-31"},
            dedupe_key="central-coupon",
            now=now,
        ),
    ]


def listed(response):
    return sorted(obj.pk for obj in response.context["cl"].result_list)


def login(client, store=None):
    client.force_login(UserFactory(role=Role.MERCHANT_ADMIN, store=store))
    return client


def test_merchant_admin_lists_every_notification_and_filters_by_kind(client, notifications):
    login(client)

    everything = client.get(NOTIFICATIONS)
    coupons = client.get(NOTIFICATIONS, {"kind__exact": "coupon_expiring"})

    assert everything.status_code == 200
    assert listed(everything) == sorted(n.pk for n in notifications)
    assert listed(coupons) == [notifications[2].pk]


def test_store_staff_list_only_their_store_members_notifications_and_outbox(client, stores, notifications):
    login(client, store=stores[0])

    inbox = client.get(NOTIFICATIONS)
    outbox = client.get(OUTBOX)

    assert listed(inbox) == [notifications[0].pk, notifications[2].pk]
    expected = OutboxMessage.objects.filter(notification__member__home_store=stores[0]).values_list("pk", flat=True)
    assert listed(outbox) == sorted(expected)
    assert len(listed(outbox)) == 2


def test_store_staff_cannot_open_another_stores_notification(client, stores, notifications):
    login(client, store=stores[0])

    response = client.get(f"{NOTIFICATIONS}{notifications[1].pk}/change/")

    assert response.status_code == 302  # the admin's "does not exist" redirect to the index


def test_outbox_filters_by_status_and_channel(client, notifications):
    login(client)
    OutboxMessage.objects.filter(notification=notifications[0]).update(status="sent")

    sent = client.get(OUTBOX, {"status__exact": "sent"})
    sms = client.get(OUTBOX, {"channel__exact": "sms"})
    email = client.get(OUTBOX, {"channel__exact": "email"})

    first = OutboxMessage.objects.get(notification=notifications[0])
    assert listed(sent) == [first.pk]
    assert len(listed(sms)) == 3
    assert listed(email) == []


def test_a_notification_opens_read_only_with_its_outbox_messages(client, notifications):
    login(client)

    response = client.get(f"{NOTIFICATIONS}{notifications[0].pk}/change/")

    assert response.status_code == 200
    assert response.context["has_change_permission"] is False
    assert notifications[0].title.encode() in response.content


@pytest.mark.parametrize("url", [f"{NOTIFICATIONS}add/", f"{OUTBOX}add/"])
def test_nobody_adds_notifications_or_outbox_messages_in_the_console(client, url):
    login(client)

    assert client.get(url).status_code == 403


def test_nobody_deletes_a_notification_in_the_console(client, notifications):
    login(client)

    response = client.post(f"{NOTIFICATIONS}{notifications[0].pk}/delete/", {"post": "yes"})

    assert response.status_code == 403
    assert Notification.objects.count() == 3

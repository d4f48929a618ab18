"""The member inbox over the API: own notifications only, newest first in cursor pages, marking read."""

from datetime import timedelta

import pytest

from members.models import Member, Notification
from members.services.notifications import notification_mark_read, notify
from tests.factories import MemberFactory, StoreFactory

pytestmark = pytest.mark.django_db
INBOX = "/api/v1/me/inbox"
READ = "/api/v1/me/inbox/read"
PARAMS = {"coupon": "HK$20 off", "expires_on": "2026-12-31"}


def send(member, key, now):
    return notify(member_id=member.pk, kind=Notification.Kind.COUPON_EXPIRING, params=PARAMS, dedupe_key=key, now=now)


@pytest.fixture
def amy(now):
    """A member with three notifications (the oldest read) and a neighbour with one of their own."""
    member = MemberFactory(locale="en")
    first, *_rest = [send(member, f"amy{i}", now + timedelta(minutes=i)) for i in range(3)]
    notification_mark_read(member_id=member.pk, ids=[first.pk], now=now)
    send(MemberFactory(), "ben", now)
    return member


def test_inbox_lists_the_members_own_notifications_newest_first_with_the_unread_count(member_client, amy, now):
    response = member_client(amy).get(INBOX)

    assert response.status_code == 200
    body = response.json()
    assert (body["unread_count"], body["next"], body["previous"]) == (2, None, None)
    mine = list(Notification.objects.filter(member=amy).order_by("-pk"))
    assert [item["id"] for item in body["results"]] == [n.pk for n in mine]
    newest = body["results"][0]
    assert newest == {
        "id": mine[0].pk,
        "kind": "coupon_expiring",
        "title": "Your coupon expires soon",
        "body": "Your coupon “HK$20 off” expires on 2026-12-31. Use it before then.",
        "params": PARAMS,
        "is_read": False,
        "read_at": None,
        "created_at": newest["created_at"],
    }
    assert [item["is_read"] for item in body["results"]] == [False, False, True]


def test_inbox_pages_follow_the_cursor_to_the_oldest(member_client, amy):
    client = member_client(amy)

    first = client.get(INBOX, {"page_size": 2}).json()
    second = client.get(first["next"]).json()

    assert len(first["results"]) == 2
    assert len(second["results"]) == 1
    assert second["next"] is None
    assert second["unread_count"] == 2
    ids = [item["id"] for item in first["results"] + second["results"]]
    assert ids == sorted(ids, reverse=True)


def test_a_visitor_has_an_inbox_too(member_client, now):
    visitor = MemberFactory(status=Member.Status.VISITOR, phone=None)
    send(visitor, "v", now)

    response = member_client(visitor).get(INBOX)

    assert (response.status_code, response.json()["unread_count"]) == (200, 1)


def test_inbox_with_a_bad_cursor_is_not_found(member_client, amy):
    response = member_client(amy).get(INBOX, {"cursor": "not-a-cursor"})

    assert (response.status_code, response.json()["error"]["code"]) == (404, "not_found")


def test_inbox_without_a_token_is_refused(api_client):
    response = api_client.get(INBOX)

    assert (response.status_code, response.json()["error"]["code"]) == (401, "not_authenticated")


def test_inbox_refuses_a_pos_key(pos_client_for):
    response = pos_client_for(StoreFactory()).get(INBOX)

    assert (response.status_code, response.json()["error"]["code"]) == (401, "authentication_failed")


def test_marking_ids_read_changes_only_the_members_own(member_client, amy):
    unread = list(Notification.objects.filter(member=amy, read_at__isnull=True).order_by("pk"))
    neighbours = Notification.objects.get(dedupe_key="ben")

    response = member_client(amy).post(READ, {"ids": [unread[0].pk, neighbours.pk]}, format="json")

    assert response.status_code == 200
    assert response.json() == {"marked": 1, "unread_count": 1}
    neighbours.refresh_from_db()
    assert neighbours.read_at is None


def test_marking_all_read_empties_the_unread_count(member_client, amy):
    client = member_client(amy)

    response = client.post(READ, {"all": True}, format="json")
    again = client.post(READ, {"all": True}, format="json")

    assert response.json() == {"marked": 2, "unread_count": 0}
    assert again.json() == {"marked": 0, "unread_count": 0}
    assert Notification.objects.filter(dedupe_key="ben", read_at__isnull=True).exists()


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({}, "non_field_errors"),
        ({"all": False}, "non_field_errors"),
        ({"ids": [1], "all": True}, "non_field_errors"),
        ({"ids": []}, "ids"),
        # An error of one id is named by its index (infra.api_errors.error_fields), as the schema declares.
        ({"ids": ["one"]}, "ids.0"),
        ({"ids": [0]}, "ids.0"),
        ({"ids": list(range(1, 502))}, "ids"),
        ({"all": "maybe"}, "all"),
        ({"all": True, "everything": True}, "everything"),
    ],
)
def test_marking_read_with_bad_input_is_refused_and_changes_nothing(member_client, amy, payload, field):
    response = member_client(amy).post(READ, payload, format="json")

    assert (response.status_code, response.json()["error"]["code"]) == (400, "invalid_input")
    assert list(response.json()["error"]["fields"]) == [field]
    assert Notification.objects.filter(read_at__isnull=True).count() == 3


def test_marking_read_without_a_token_is_refused(api_client):
    response = api_client.post(READ, {"all": True}, format="json")

    assert (response.status_code, response.json()["error"]["code"]) == (401, "not_authenticated")

"""Member notifications: written once per dedupe key, in the member's language, with outbox rows for consents."""

from datetime import timedelta

import pytest
from django.utils import timezone

from infra.errors import InvalidInput, NotFound
from members.models import Notification, OutboxMessage
from members.services.notifications import (
    MESSAGES,
    NotificationDraft,
    notification_mark_read,
    notify,
    notify_many,
)
from tests.concurrency import run_in_threads
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db
POINTS = Notification.Kind.POINTS_EXPIRING
PARAMS = {"points": 120, "days": 30, "expires_on": "2026-12-31"}


def outbox(notification):
    return sorted(notification.outbox_messages.values_list("channel", "status", "attempts", "next_attempt_at"))


def test_notify_writes_the_inbox_message_in_english_with_its_parameters(now):
    member = MemberFactory(locale="en")

    notification = notify(member_id=member.pk, kind=POINTS, params=PARAMS, dedupe_key="k1", now=now)

    assert (notification.member_id, notification.kind, notification.locale) == (member.pk, POINTS, "en")
    assert notification.title == "Your points expire soon"
    assert notification.body == "120 of your points will expire in the next 30 days, the first on 2026-12-31."
    assert notification.params == PARAMS
    assert (notification.read_at, notification.created_at) == (None, now)


def test_notify_renders_in_the_members_language(now):
    member = MemberFactory(locale="zh-hant")

    notification = notify(member_id=member.pk, kind=POINTS, params=PARAMS, dedupe_key="k1", now=now)

    assert notification.locale == "zh-hant"
    assert notification.params == PARAMS
    assert notification.title != "Your points expire soon"  # the catalogue's Traditional Chinese
    assert "120" in notification.body


def test_every_kind_has_a_message_and_each_message_renders_with_its_parameters(now):
    assert set(MESSAGES) == set(Notification.Kind.values)
    member = MemberFactory(locale="en")
    for kind, message in MESSAGES.items():
        params = dict.fromkeys(message.params, "X")
        notification = notify(member_id=member.pk, kind=kind, params=params, dedupe_key=f"every:{kind}", now=now)
        assert notification.title
        assert "%(" not in notification.body


@pytest.mark.parametrize(
    ("consents", "expected"),
    [
        ({}, []),
        ({"consent_sms": True}, ["sms"]),
        ({"consent_wechat": True, "consent_sms": True, "consent_email": True}, ["email", "sms", "wechat_subscribe"]),
        ({"consent_email": True, "email": ""}, []),  # consent but no address
        ({"consent_wechat": True, "wechat_openid": None}, []),
        ({"consent_marketing": True}, []),
    ],
)
def test_outbox_messages_are_written_for_the_channels_the_member_consented_to(now, consents, expected):
    fields = {"email": "amy@example.com", "wechat_openid": "openid-1", **consents}
    member = MemberFactory(**fields)

    notification = notify(member_id=member.pk, kind=POINTS, params=PARAMS, dedupe_key="k1", now=now)

    assert outbox(notification) == [(channel, "pending", 0, now) for channel in expected]


def test_notify_twice_with_one_key_writes_once_and_returns_the_first(now):
    member = MemberFactory(consent_sms=True)
    first = notify(member_id=member.pk, kind=POINTS, params=PARAMS, dedupe_key="k1", now=now)

    second = notify(
        member_id=member.pk, kind=POINTS, params={**PARAMS, "points": 5}, dedupe_key="k1", now=now + timedelta(hours=1)
    )

    assert second.pk == first.pk
    assert second.params == PARAMS
    assert Notification.objects.count() == 1
    assert OutboxMessage.objects.count() == 1


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"kind": "birthday_party"}, "kind"),
        ({"params": {"points": 1}}, "params"),
        ({"params": ["points"]}, "params"),
        ({"dedupe_key": ""}, "dedupe_key"),
        ({"dedupe_key": "k" * 151}, "dedupe_key"),
    ],
)
def test_notify_with_bad_input_is_refused_and_writes_nothing(now, kwargs, field):
    member = MemberFactory(consent_sms=True)
    call = {"member_id": member.pk, "kind": POINTS, "params": PARAMS, "dedupe_key": "k1", "now": now, **kwargs}

    with pytest.raises(InvalidInput) as error:
        notify(**call)

    assert list(error.value.fields) == [field]
    assert (Notification.objects.count(), OutboxMessage.objects.count()) == (0, 0)


def test_notify_with_a_key_used_for_another_member_is_refused(now):
    amy, ben = MemberFactory(), MemberFactory()
    notify(member_id=amy.pk, kind=POINTS, params=PARAMS, dedupe_key="k1", now=now)

    with pytest.raises(InvalidInput) as error:
        notify(member_id=ben.pk, kind=POINTS, params=PARAMS, dedupe_key="k1", now=now)

    assert list(error.value.fields) == ["dedupe_key"]
    assert list(Notification.objects.values_list("member_id", flat=True)) == [amy.pk]


def test_notify_an_unknown_member_is_not_found(now):
    with pytest.raises(NotFound):
        notify(member_id=999999, kind=POINTS, params=PARAMS, dedupe_key="k1", now=now)

    assert Notification.objects.count() == 0


def test_notify_many_writes_what_is_new_once_and_skips_unknown_members(now):
    members = MemberFactory.create_batch(3, consent_sms=True)
    notify(member_id=members[0].pk, kind=POINTS, params=PARAMS, dedupe_key="m0", now=now)
    drafts = [
        NotificationDraft(member_id=members[0].pk, params=PARAMS, dedupe_key="m0"),  # written before
        NotificationDraft(member_id=members[1].pk, params=PARAMS, dedupe_key="m1"),
        NotificationDraft(member_id=members[1].pk, params=PARAMS, dedupe_key="m1"),  # twice in the batch
        NotificationDraft(member_id=members[2].pk, params=PARAMS, dedupe_key="m2"),
        NotificationDraft(member_id=999999, params=PARAMS, dedupe_key="gone"),
    ]

    written = notify_many(kind=POINTS, drafts=drafts, now=now)
    again = notify_many(kind=POINTS, drafts=drafts, now=now)

    assert (written, again) == (2, 0)
    assert sorted(Notification.objects.values_list("dedupe_key", "member_id")) == [
        ("m0", members[0].pk),
        ("m1", members[1].pk),
        ("m2", members[2].pk),
    ]
    assert OutboxMessage.objects.filter(channel="sms").count() == 3


def test_notify_many_costs_the_same_few_queries_for_many_members(now, django_assert_max_num_queries):
    members = MemberFactory.create_batch(40, consent_sms=True, consent_email=True, email="x@example.com")
    drafts = [NotificationDraft(member_id=m.pk, params=PARAMS, dedupe_key=f"k{m.pk}") for m in members]

    with django_assert_max_num_queries(8):
        written = notify_many(kind=POINTS, drafts=drafts, now=now)

    assert written == 40
    assert OutboxMessage.objects.count() == 80


def test_notify_many_refuses_a_batch_with_one_bad_draft_before_writing_any(now):
    member = MemberFactory()
    drafts = [
        NotificationDraft(member_id=member.pk, params=PARAMS, dedupe_key="good"),
        NotificationDraft(member_id=member.pk, params={}, dedupe_key="bad"),
    ]

    with pytest.raises(InvalidInput):
        notify_many(kind=POINTS, drafts=drafts, now=now)

    assert Notification.objects.count() == 0


# -- marking read ----------------------------------------------------------------------------------------------
@pytest.fixture
def inbox(now):
    """Two members with three and one notifications; the first member's first one already read."""
    amy, ben = MemberFactory(), MemberFactory()
    mine = [notify(member_id=amy.pk, kind=POINTS, params=PARAMS, dedupe_key=f"amy{i}", now=now) for i in range(3)]
    theirs = notify(member_id=ben.pk, kind=POINTS, params=PARAMS, dedupe_key="ben", now=now)
    notification_mark_read(member_id=amy.pk, ids=[mine[0].pk], now=now)
    return amy, mine, theirs


def read_at(notification):
    notification.refresh_from_db()
    return notification.read_at


def test_mark_read_by_ids_changes_only_the_members_own_unread_notifications(inbox, now):
    amy, mine, theirs = inbox
    later = now + timedelta(minutes=5)

    marked = notification_mark_read(member_id=amy.pk, ids=[mine[0].pk, mine[1].pk, theirs.pk, 999999], now=later)

    assert marked == 1
    assert [read_at(n) for n in mine] == [now, later, None]
    assert read_at(theirs) is None


def test_mark_all_read_changes_every_unread_notification_of_the_member_only(inbox, now):
    amy, mine, theirs = inbox
    later = now + timedelta(minutes=5)

    marked = notification_mark_read(member_id=amy.pk, read_all=True, now=later)

    assert marked == 2
    assert [read_at(n) for n in mine] == [now, later, later]
    assert read_at(theirs) is None


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({}, "non_field_errors"),
        ({"ids": [1], "read_all": True}, "non_field_errors"),
        ({"ids": []}, "ids"),
        ({"ids": list(range(1, 502))}, "ids"),
    ],
)
def test_mark_read_with_bad_input_is_refused_and_changes_nothing(inbox, now, kwargs, field):
    amy, _mine, _theirs = inbox

    with pytest.raises(InvalidInput) as error:
        notification_mark_read(member_id=amy.pk, now=now, **kwargs)

    assert list(error.value.fields) == [field]
    assert Notification.objects.filter(read_at__isnull=True).count() == 3


# -- concurrency -----------------------------------------------------------------------------------------------
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_overlapping_runs_notify_each_member_once_with_one_outbox_message_per_channel():
    now = timezone.now()
    members = [MemberFactory(consent_sms=True, consent_wechat=True, wechat_openid=f"openid-{i}") for i in range(50)]
    drafts = [NotificationDraft(member_id=m.pk, params=PARAMS, dedupe_key=f"run:{m.pk}") for m in members]

    results = run_in_threads([lambda: notify_many(kind=POINTS, drafts=drafts, now=now) for _ in range(10)], workers=10)

    assert [r for r in results if isinstance(r, Exception)] == []
    assert Notification.objects.count() == 50
    assert OutboxMessage.objects.filter(channel="sms").count() == 50
    assert OutboxMessage.objects.filter(channel="wechat_subscribe").count() == 50

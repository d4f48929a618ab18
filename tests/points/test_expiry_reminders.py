"""The points expiry reminder: one notification per member for the points due in the policy's reminder days."""

from datetime import timedelta

import pytest
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from members.models import Member, Notification, OutboxMessage, Role
from members.services.ledger import points_credit, points_debit
from points import tasks
from points.models import PointsPolicy
from points.services.expiry_reminders import points_expiry_remind
from tests.factories import MemberFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def now():
    # Mid-morning in Hong Kong, so "the local date" of an expiry a whole number of days ahead is unambiguous.
    return timezone.localtime().replace(hour=10, minute=0, second=0, microsecond=0)


def credit(member, points, now, *, key, expires_in_days=None, activates_in_days=None):
    return points_credit(
        member_id=member.pk,
        points=points,
        idempotency_key=key,
        now=now,
        expires_at=None if expires_in_days is None else now + timedelta(days=expires_in_days),
        activates_at=None if activates_in_days is None else now + timedelta(days=activates_in_days),
    )


def reminders():
    return list(
        Notification.objects.filter(kind="points_expiring")
        .order_by("member_id", "pk")
        .values_list("member_id", "dedupe_key", "params")
    )


def day(now, days):
    return (now + timedelta(days=days)).date().isoformat()


def test_a_member_is_told_the_sum_of_the_points_due_in_the_next_30_days(now):
    member = MemberFactory(locale="en")
    credit(member, 100, now, key="soon", expires_in_days=10)
    credit(member, 50, now, key="later", expires_in_days=30)
    credit(member, 70, now, key="beyond", expires_in_days=31)
    credit(member, 20, now, key="forever")
    credit(member, 40, now, key="pending", expires_in_days=20, activates_in_days=1)
    points_debit(member_id=member.pk, points=30, idempotency_key="spend", now=now)  # from "soon" (first to expire)

    written = points_expiry_remind(now=now)

    assert written == 1
    params = {"points": 120, "days": 30, "expires_on": day(now, 10)}
    assert reminders() == [(member.pk, f"points_expiring:{member.pk}:{day(now, 10)}", params)]
    notification = Notification.objects.get()
    assert notification.title == "Your points expire soon"
    assert notification.body == f"120 of your points will expire in the next 30 days, the first on {day(now, 10)}."


def test_points_already_expired_or_spent_bring_no_reminder(now):
    member = MemberFactory()
    credit(member, 100, now - timedelta(days=40), key="gone", expires_in_days=40)  # expires exactly now
    credit(member, 10, now, key="spent", expires_in_days=5)
    points_debit(member_id=member.pk, points=110, idempotency_key="spend", now=now)

    assert points_expiry_remind(now=now) == 0
    assert reminders() == []


def test_running_again_the_same_day_or_the_next_day_notifies_nobody_twice(now):
    members = MemberFactory.create_batch(3, consent_sms=True)
    for index, member in enumerate(members):
        credit(member, 10 * (index + 1), now, key=f"lot{index}", expires_in_days=5 + index)

    first = points_expiry_remind(now=now)
    again = points_expiry_remind(now=now)
    next_day = points_expiry_remind(now=now + timedelta(days=1))

    assert (first, again, next_day) == (3, 0, 0)
    assert len(reminders()) == 3
    assert OutboxMessage.objects.filter(channel="sms").count() == 3


def test_when_the_first_date_has_passed_the_next_expiry_brings_a_new_reminder(now):
    member = MemberFactory()
    credit(member, 100, now, key="first", expires_in_days=3)
    credit(member, 50, now, key="second", expires_in_days=20)
    points_expiry_remind(now=now)

    written = points_expiry_remind(now=now + timedelta(days=4))

    assert written == 1
    assert [params for _member, _key, params in reminders()] == [
        {"points": 150, "days": 30, "expires_on": day(now, 3)},
        {"points": 50, "days": 30, "expires_on": day(now, 20)},
    ]


def test_the_window_follows_the_policys_reminder_days(now):
    PointsPolicy.objects.filter(pk=PointsPolicy.load().pk).update(reminder_days=7)
    near, far = MemberFactory(), MemberFactory()
    credit(near, 10, now, key="near", expires_in_days=7)
    credit(far, 10, now, key="far", expires_in_days=8)

    points_expiry_remind(now=now)

    assert [(member_id, params["days"]) for member_id, _key, params in reminders()] == [(near.pk, 7)]


def test_no_reminder_when_the_policy_turns_reminders_off(now):
    PointsPolicy.objects.filter(pk=PointsPolicy.load().pk).update(reminder_days=0)
    credit(MemberFactory(), 10, now, key="lot", expires_in_days=1)

    assert points_expiry_remind(now=now) == 0
    assert reminders() == []


@pytest.mark.parametrize("status", [Member.Status.FROZEN, Member.Status.CLOSED])
def test_frozen_and_closed_members_are_not_reminded(now, status):
    member = MemberFactory()
    credit(member, 10, now, key="lot", expires_in_days=1)
    Member.objects.filter(pk=member.pk).update(status=status)

    assert points_expiry_remind(now=now) == 0


def test_members_are_walked_in_chunks_and_each_is_notified_once(now):
    members = MemberFactory.create_batch(5)
    for index, member in enumerate(members):
        credit(member, 10, now, key=f"a{index}", expires_in_days=3)
        credit(member, 5, now, key=f"b{index}", expires_in_days=4)

    written = points_expiry_remind(now=now, chunk_size=2)

    assert written == 5
    assert [(member_id, params["points"]) for member_id, _key, params in reminders()] == [
        (member.pk, 15) for member in members
    ]


def test_the_task_runs_the_reminder_and_the_daily_schedule_is_registered():
    credit(MemberFactory(), 10, timezone.now(), key="lot", expires_in_days=2)

    assert tasks.remind_expiring_points.delay().get() == 1
    schedule = PeriodicTask.objects.get(task="points.remind_expiring_points")
    assert (schedule.crontab.minute, schedule.crontab.hour, schedule.enabled) == ("0", "10", True)


POLICY_FORM = {
    "checkout_points": 500,
    "checkout_value": "5.00",
    "max_points_share_percent": "100",
    "pending_days": 0,
    "multiplier_stacking": "add",
    "max_points_per_purchase": 1_000_000,
    "items_tolerance": "1.00",
    "item_bonus_cap": 1000,
    "earning_statuses": ["active"],
    "spending_statuses": ["active"],
    "expiry_mode": "never",
    "refund_policy": "record_debt",
    "member_match_order": "card_code, member_number, phone",
}


@pytest.mark.parametrize(("value", "saved"), [("0", 0), ("14", 14), ("367", 30), ("-1", 30), ("", 30)])
def test_the_policy_page_edits_the_reminder_days(client, value, saved):
    client.force_login(UserFactory(role=Role.MERCHANT_ADMIN))
    policy = PointsPolicy.load()

    response = client.post(f"/console/points/pointspolicy/{policy.pk}/change/", {**POLICY_FORM, "reminder_days": value})

    policy.refresh_from_db()
    assert policy.reminder_days == saved
    if saved == int(value or -1):
        assert response.status_code == 302
    else:
        assert list(response.context["adminform"].form.errors) == ["reminder_days"]

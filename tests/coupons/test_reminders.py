"""The coupon expiry reminder: one notification per available coupon, its template's reminder days ahead."""

from datetime import timedelta

import pytest
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from coupons import tasks
from coupons.schedules import REMIND_TASK_NAME
from coupons.services import coupons_void
from coupons.services.reminders import coupons_expiry_remind
from members.models import Member, Notification, OutboxMessage
from tests.coupons.factories import CouponTemplateFactory
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def now():
    # Mid-morning in Hong Kong, so "the local date" of an end a whole number of days ahead is unambiguous.
    return timezone.localtime().replace(hour=10, minute=0, second=0, microsecond=0)


@pytest.fixture
def expiring(issue, now):
    """Issue a coupon of a fresh template (any template fields) that ends `days` from now."""

    def make(member, *, days, **template_fields):
        template = CouponTemplateFactory(valid_days=30, **template_fields)
        return issue(template, member, at=now + timedelta(days=days - 30))

    return make


def reminders():
    return list(
        Notification.objects.filter(kind="coupon_expiring")
        .order_by("pk")
        .values_list("member_id", "dedupe_key", "params")
    )


def test_the_holder_of_a_coupon_ending_within_3_days_is_reminded_of_it(expiring, now):
    member = MemberFactory(locale="en")
    coupon = expiring(member, days=3, name="HK$20 off")
    expiring(member, days=4, name="Later")

    written = coupons_expiry_remind(now=now)

    expires_on = (now + timedelta(days=3)).date().isoformat()
    assert written == 1
    params = {"coupon": "HK$20 off", "coupon_id": coupon.pk, "expires_on": expires_on}
    assert reminders() == [(member.pk, f"coupon_expiring:{coupon.pk}", params)]
    notification = Notification.objects.get(kind="coupon_expiring")
    assert notification.title == "Your coupon expires soon"
    assert notification.body == f"Your coupon “HK$20 off” expires on {expires_on}. Use it before then."


def test_each_template_sets_how_many_days_ahead_and_zero_turns_reminders_off(expiring, now):
    week, off, default = MemberFactory(), MemberFactory(), MemberFactory()
    expiring(week, days=6, reminder_days=7)
    expiring(off, days=1, reminder_days=0)
    expiring(default, days=5)

    written = coupons_expiry_remind(now=now)

    assert written == 1
    assert [member_id for member_id, _key, _params in reminders()] == [week.pk]


def test_used_void_and_expired_coupons_bring_no_reminder(expiring, now, issue):
    member = MemberFactory()
    voided = expiring(member, days=2)
    coupons_void(coupon_ids=[voided.pk], now=now)
    expiring(member, days=0)  # ends now: past, not within the coming days
    expiring(member, days=-1)
    issue(CouponTemplateFactory(valid_days=None), member)  # never ends

    assert coupons_expiry_remind(now=now) == 0


def test_running_again_notifies_nobody_twice(expiring, now):
    members = MemberFactory.create_batch(3, consent_wechat=True)
    for index, member in enumerate(members):
        Member.objects.filter(pk=member.pk).update(wechat_openid=f"openid-{index}")
        expiring(member, days=2)

    first = coupons_expiry_remind(now=now)
    again = coupons_expiry_remind(now=now)
    next_day = coupons_expiry_remind(now=now + timedelta(days=1))

    assert (first, again, next_day) == (3, 0, 0)
    assert len(reminders()) == 3
    assert OutboxMessage.objects.filter(channel="wechat_subscribe", notification__kind="coupon_expiring").count() == 3


def test_two_coupons_of_a_member_bring_two_reminders(expiring, now):
    member = MemberFactory()
    expiring(member, days=1, name="A")
    expiring(member, days=2, name="B")

    assert coupons_expiry_remind(now=now) == 2
    assert [params["coupon"] for _member, _key, params in reminders()] == ["A", "B"]


@pytest.mark.parametrize("status", [Member.Status.FROZEN, Member.Status.CLOSED])
def test_frozen_and_closed_members_are_not_reminded(expiring, now, status):
    member = MemberFactory()
    expiring(member, days=1)
    Member.objects.filter(pk=member.pk).update(status=status)

    assert coupons_expiry_remind(now=now) == 0


def test_coupons_are_walked_in_chunks_and_each_is_reminded_once(expiring, now):
    members = MemberFactory.create_batch(5)
    for member in members:
        expiring(member, days=1)
        expiring(member, days=2, reminder_days=5)

    assert coupons_expiry_remind(now=now, chunk_size=2) == 10
    assert Notification.objects.filter(kind="coupon_expiring").values("dedupe_key").distinct().count() == 10


def test_the_task_runs_the_reminder_and_the_daily_schedule_is_registered(issue):
    template = CouponTemplateFactory(valid_days=2)
    issue(template, MemberFactory(), at=timezone.now())

    assert tasks.coupons_remind_expiring_task.delay().get() == 1
    schedule = PeriodicTask.objects.get(name=REMIND_TASK_NAME)
    assert (schedule.task, schedule.crontab.minute, schedule.crontab.hour) == (
        "coupons.tasks.coupons_remind_expiring_task",
        "0",
        "10",
    )

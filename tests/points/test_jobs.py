"""Scheduled jobs: pending release and expiry are chunked and idempotent; beat schedules are registered once."""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django_celery_beat.models import CrontabSchedule, PeriodicTask

from members.models import PointsAllocation, PointsEntry, PointsLot
from members.services.ledger import points_credit, points_debit, points_ledger_drift
from points import tasks
from points.schedules import SCHEDULES, schedules_ensure
from points.services.expiry import points_expire_due, points_release_pending
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db


def balances(member):
    member.refresh_from_db()
    return member.points_balance, member.points_pending


def test_release_makes_due_pending_points_available_and_a_second_run_does_nothing(now):
    members = MemberFactory.create_batch(3)
    for index, member in enumerate(members):
        points_credit(
            member_id=member.pk, points=10 * (index + 1), idempotency_key=f"p{index}", now=now,
            activates_at=now + timedelta(days=index),
        )  # fmt: skip

    first = points_release_pending(now=now + timedelta(days=1), chunk_size=1)
    second = points_release_pending(now=now + timedelta(days=1), chunk_size=1)

    assert (first, second) == (1, 0)  # the lot activating on day 0 at `now` was never pending
    assert [balances(member) for member in members] == [(10, 0), (20, 0), (0, 30)]
    assert points_ledger_drift() == []


def test_expiry_writes_one_entry_per_due_lot_and_a_second_run_does_nothing(now):
    member = MemberFactory()
    points_credit(member_id=member.pk, points=100, idempotency_key="a", now=now, expires_at=now + timedelta(days=1))
    points_credit(member_id=member.pk, points=50, idempotency_key="b", now=now, expires_at=now + timedelta(days=2))
    points_credit(member_id=member.pk, points=7, idempotency_key="c", now=now)  # never expires
    points_debit(member_id=member.pk, points=30, idempotency_key="spend", now=now)  # from lot a (soonest)

    first = points_expire_due(now=now + timedelta(days=1), chunk_size=1)
    second = points_expire_due(now=now + timedelta(days=1), chunk_size=1)

    expirations = PointsEntry.objects.filter(kind="expiration")
    assert (first, second) == (1, 0)
    assert list(expirations.values_list("delta", flat=True)) == [-70]
    assert balances(member) == (57, 0)
    assert points_ledger_drift() == []


def test_an_expired_lot_is_never_touched_twice(now):
    member = MemberFactory()
    entry = points_credit(member_id=member.pk, points=40, idempotency_key="a", now=now, expires_at=now)
    lot = PointsLot.objects.get(entry=entry)

    points_expire_due(now=now, chunk_size=1)
    points_expire_due(now=now + timedelta(days=1), chunk_size=1)

    assert list(PointsEntry.objects.filter(kind="expiration").values_list("delta", flat=True)) == [-40]
    assert PointsAllocation.objects.filter(lot=lot).count() == 1
    assert balances(member) == (0, 0)


def test_a_lot_not_yet_due_does_not_expire(now):
    member = MemberFactory()
    points_credit(member_id=member.pk, points=40, idempotency_key="a", now=now, expires_at=now + timedelta(seconds=1))

    points_expire_due(now=now, chunk_size=1)

    assert not PointsEntry.objects.filter(kind="expiration").exists()
    assert balances(member) == (40, 0)


def test_pending_points_expire_only_after_they_are_released(now):
    member = MemberFactory()
    points_credit(
        member_id=member.pk, points=40, idempotency_key="a", now=now, activates_at=now + timedelta(days=1),
        expires_at=now + timedelta(days=2),
    )  # fmt: skip

    assert points_expire_due(now=now + timedelta(days=3)) == 0
    assert points_release_pending(now=now + timedelta(days=3)) == 1
    assert points_expire_due(now=now + timedelta(days=3)) == 1
    assert balances(member) == (0, 0)
    assert points_ledger_drift() == []


def test_the_tasks_call_the_jobs(now):
    member = MemberFactory()
    points_credit(member_id=member.pk, points=5, idempotency_key="a", now=now, expires_at=now - timedelta(seconds=1))

    assert tasks.expire_points.delay().get() == 1
    assert tasks.release_pending_points.delay().get() == 0


def test_schedules_are_registered_once_and_console_edits_are_kept():
    # post_migrate already registered them when the test database was built.
    assert set(PeriodicTask.objects.values_list("task", flat=True)) >= {task for _name, task, _cron in SCHEDULES}
    task = PeriodicTask.objects.get(task="points.expire_points")
    task.crontab = CrontabSchedule.objects.create(minute="30", hour="3")
    task.save()

    created = schedules_ensure()
    output = StringIO()
    call_command("setup_schedules", stdout=output)

    assert created == []
    assert "0 schedule(s) created" in output.getvalue()
    assert PeriodicTask.objects.filter(task="points.expire_points").count() == 1
    assert PeriodicTask.objects.get(task="points.expire_points").crontab.hour == "3"


def test_setup_schedules_recreates_a_deleted_schedule():
    PeriodicTask.objects.filter(task="points.release_pending_points").delete()

    created = schedules_ensure()

    assert created == ["points: release pending points"]
    task = PeriodicTask.objects.get(task="points.release_pending_points")
    assert (task.crontab.minute, task.crontab.hour, str(task.crontab.timezone)) == ("5", "*", "Asia/Hong_Kong")

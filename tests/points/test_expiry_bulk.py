"""Set-based expiry: points_expire_due_lots and the job that walks members in chunks."""

from datetime import timedelta

import pytest

from members.models import Member, PointsAllocation, PointsEntry, PointsLot
from members.services.ledger import points_credit, points_debit, points_expire_due_lots, points_ledger_drift
from points.services.expiry import points_expire_due
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def earned(now):
    """A member with lots of 100 (expired 2 days ago), 50 (expired 1 day ago) and 30 (expires tomorrow)."""
    member = MemberFactory()
    for key, points, days in (("a", 100, -2), ("b", 50, -1), ("c", 30, 1)):
        points_credit(
            member_id=member.pk,
            points=points,
            idempotency_key=f"{key}:{member.pk}",
            now=now - timedelta(days=30),
            expires_at=now + timedelta(days=days),
        )
    return member


def test_expiry_writes_one_entry_per_due_lot_with_running_balances(earned, now):
    lots = points_expire_due_lots(now=now, member_ids=[earned.pk])

    entries = list(PointsEntry.objects.filter(member=earned, kind="expiration").order_by("pk"))
    assert lots == 2
    assert [(entry.delta, entry.balance_after, entry.debt_after) for entry in entries] == [(-100, 80, 0), (-50, 30, 0)]
    lot_ids = list(PointsLot.objects.filter(member=earned).order_by("pk").values_list("pk", flat=True))
    assert [entry.idempotency_key for entry in entries] == [f"expire:{lot_ids[0]}", f"expire:{lot_ids[1]}"]
    assert [entry.breakdown for entry in entries] == [{"lot_id": lot_ids[0]}, {"lot_id": lot_ids[1]}]
    assert list(PointsLot.objects.filter(member=earned).order_by("pk").values_list("remaining", flat=True)) == [
        0,
        0,
        30,
    ]
    assert Member.objects.get(pk=earned.pk).points_balance == 30
    assert points_ledger_drift(member_ids=[earned.pk]) == []


def test_expiry_allocates_each_entry_to_its_lot(earned, now):
    points_expire_due_lots(now=now, member_ids=[earned.pk])

    lot_ids = list(PointsLot.objects.filter(member=earned).order_by("pk").values_list("pk", flat=True))
    allocations = PointsAllocation.objects.filter(entry__member=earned, entry__kind="expiration").order_by("pk")
    assert [(a.lot_id, a.points, a.entry.idempotency_key) for a in allocations] == [
        (lot_ids[0], 100, f"expire:{lot_ids[0]}"),
        (lot_ids[1], 50, f"expire:{lot_ids[1]}"),
    ]


def test_expiry_takes_only_what_a_partly_spent_lot_has_left(earned, now):
    points_debit(member_id=earned.pk, points=120, idempotency_key="spend", now=now - timedelta(days=3))

    points_expire_due_lots(now=now, member_ids=[earned.pk])

    assert list(PointsEntry.objects.filter(member=earned, kind="expiration").values_list("delta", flat=True)) == [-30]
    assert Member.objects.get(pk=earned.pk).points_balance == 30
    assert points_ledger_drift(member_ids=[earned.pk]) == []


def test_a_second_run_expires_nothing(earned, now):
    points_expire_due_lots(now=now, member_ids=[earned.pk])

    again = points_expire_due_lots(now=now + timedelta(hours=1), member_ids=[earned.pk])

    assert again == 0
    assert PointsEntry.objects.filter(member=earned, kind="expiration").count() == 2
    assert Member.objects.get(pk=earned.pk).points_balance == 30


def test_expiry_after_a_repaid_debt_takes_only_the_lots_remainder(now):
    member = MemberFactory()
    points_credit(member_id=member.pk, points=100, idempotency_key="a", now=now, expires_at=now + timedelta(days=1))
    points_debit(member_id=member.pk, points=150, idempotency_key="b", now=now, allow_debt=True)
    points_credit(member_id=member.pk, points=80, idempotency_key="c", now=now, expires_at=now + timedelta(days=1))

    points_expire_due_lots(now=now + timedelta(days=2), member_ids=[member.pk])

    member.refresh_from_db()
    assert (member.points_balance, member.points_debt) == (0, 0)
    assert PointsEntry.objects.filter(member=member, kind="expiration").count() == 1
    assert PointsEntry.objects.get(member=member, kind="expiration").delta == -30
    assert points_ledger_drift(member_ids=[member.pk]) == []


def test_expiry_leaves_an_outstanding_debt_as_it_is(now):
    member = MemberFactory()
    points_credit(member_id=member.pk, points=40, idempotency_key="a", now=now, expires_at=now + timedelta(days=1))
    points_debit(member_id=member.pk, points=50, idempotency_key="b", now=now, allow_debt=True)

    lots = points_expire_due_lots(now=now + timedelta(days=2), member_ids=[member.pk])

    member.refresh_from_db()
    assert lots == 0
    assert (member.points_balance, member.points_debt) == (0, 10)
    assert points_ledger_drift(member_ids=[member.pk]) == []


def test_pending_lots_are_never_expired(now):
    member = MemberFactory()
    points_credit(
        member_id=member.pk,
        points=70,
        idempotency_key="p",
        now=now - timedelta(days=10),
        activates_at=now + timedelta(days=1),
        expires_at=now - timedelta(days=1),
    )

    lots = points_expire_due_lots(now=now, member_ids=[member.pk])

    member.refresh_from_db()
    assert lots == 0
    assert PointsLot.objects.get(member=member).remaining == 70
    assert (member.points_balance, member.points_pending) == (0, 70)


def _members_with_expired_lots(count, now):
    members = [MemberFactory() for _ in range(count)]
    for member in members:
        for points in (10, 20):
            points_credit(
                member_id=member.pk,
                points=points,
                idempotency_key=f"{points}:{member.pk}",
                now=now - timedelta(days=5),
                expires_at=now - timedelta(days=1),
            )
    return [member.pk for member in members]


def test_the_job_expires_every_member_in_chunks_and_only_once(now):
    member_ids = _members_with_expired_lots(5, now)

    first = points_expire_due(now=now, chunk_size=2)
    second = points_expire_due(now=now, chunk_size=2)

    assert (first, second) == (3, 0)  # chunk tasks sent: 5 members in chunks of 2, then nothing left due
    assert set(Member.objects.filter(pk__in=member_ids).values_list("points_balance", flat=True)) == {0}
    assert PointsEntry.objects.filter(kind="expiration").count() == 10
    assert points_ledger_drift(member_ids=member_ids) == []


def test_the_job_fans_out_one_chunk_task_per_range_of_members(monkeypatch, now):
    from points import tasks

    member_ids = _members_with_expired_lots(5, now)
    ran = []
    chunk = tasks.points_expire_chunk

    def spy(**kwargs):
        lots = chunk(**kwargs)
        ran.append((kwargs["first_id"], kwargs["last_id"], lots))
        return lots

    monkeypatch.setattr(tasks, "points_expire_chunk", spy)

    points_expire_due(now=now, chunk_size=2)

    first, second, third, fourth, fifth = member_ids
    assert ran == [(first, second, 4), (third, fourth, 4), (fifth, fifth, 2)]


def test_a_chunk_task_run_twice_expires_nothing_the_second_time(now):
    from points.tasks import expire_points_chunk

    member_ids = _members_with_expired_lots(2, now)
    kwargs = {"first_id": member_ids[0], "last_id": member_ids[-1], "now": now.isoformat()}

    assert (expire_points_chunk.delay(**kwargs).get(), expire_points_chunk.delay(**kwargs).get()) == (4, 0)
    assert points_ledger_drift(member_ids=member_ids) == []


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_run_whose_chunk_fails_keeps_the_committed_chunks_and_the_next_run_expires_the_rest(monkeypatch, now):
    from points.services import expiry

    member_ids = _members_with_expired_lots(12, now)
    expire = expiry.points_expire_due_lots
    failed = []

    def fail_one_chunk(**kwargs):
        if member_ids[4] in kwargs["member_ids"] and not failed:
            failed.append(True)
            raise RuntimeError("the connection dropped")
        return expire(**kwargs)

    monkeypatch.setattr(expiry, "points_expire_due_lots", fail_one_chunk)

    with pytest.raises(RuntimeError, match="the connection dropped"):
        points_expire_due(now=now, chunk_size=2)
    left = PointsLot.objects.filter(member_id__in=member_ids, remaining__gt=0).count()
    points_expire_due(now=now, chunk_size=2)

    assert left == 24 - 8  # the two chunks before the failed one committed; the rest waits for the next run
    assert PointsEntry.objects.filter(kind="expiration").count() == 24
    assert PointsLot.objects.filter(member_id__in=member_ids, remaining__gt=0).count() == 0
    assert points_ledger_drift(member_ids=member_ids) == []

"""The points ledger core: credit, debit, adjust, debt and idempotency, checked against the invariant."""

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from members.errors import IdempotencyKeyReused, InsufficientPoints, InvalidAmount, ReasonRequired
from members.models import Member, PointsAllocation, PointsEntry, PointsLot
from members.services.ledger import (
    points_activate_lot,
    points_adjust,
    points_credit,
    points_debit,
    points_ledger_drift,
)
from tests.factories import MemberFactory, UserFactory

pytestmark = pytest.mark.django_db


def balance(member):
    member.refresh_from_db()
    return member.points_balance, member.points_debt


def test_credit_adds_an_entry_a_lot_and_the_balance(now):
    member = MemberFactory()

    entry = points_credit(member_id=member.pk, points=120, idempotency_key="k1", now=now)

    assert balance(member) == (120, 0)
    assert (entry.kind, entry.delta, entry.balance_after) == ("accrual", 120, 120)
    assert entry.lot.remaining == 120
    assert points_ledger_drift() == []


def test_credit_replayed_with_the_same_key_writes_nothing_more(now):
    member = MemberFactory()
    first = points_credit(member_id=member.pk, points=50, idempotency_key="same", now=now)

    second = points_credit(member_id=member.pk, points=50, idempotency_key="same", now=now)

    assert second.pk == first.pk
    assert balance(member) == (50, 0)
    assert PointsEntry.objects.count() == 1


def test_a_key_reused_for_a_different_amount_is_refused(now):
    member = MemberFactory()
    points_credit(member_id=member.pk, points=50, idempotency_key="same", now=now)

    with pytest.raises(IdempotencyKeyReused):
        points_credit(member_id=member.pk, points=60, idempotency_key="same", now=now)
    assert balance(member) == (50, 0)


@pytest.mark.parametrize("points", [0, -5, 1.5, True])
def test_zero_negative_or_fractional_amounts_are_refused(now, points):
    member = MemberFactory()

    with pytest.raises(InvalidAmount):
        points_credit(member_id=member.pk, points=points, idempotency_key="bad", now=now)
    assert PointsEntry.objects.count() == 0


def test_debit_draws_from_the_soonest_expiring_lot_first(now):
    member = MemberFactory()
    late = points_credit(
        member_id=member.pk, points=100, idempotency_key="late", now=now, expires_at=now + timedelta(days=300)
    )
    never = points_credit(member_id=member.pk, points=100, idempotency_key="never", now=now)
    soon = points_credit(
        member_id=member.pk, points=100, idempotency_key="soon", now=now, expires_at=now + timedelta(days=30)
    )

    debit = points_debit(member_id=member.pk, points=150, idempotency_key="spend", now=now)

    drawn = {a.lot.entry_id: a.points for a in PointsAllocation.objects.filter(entry=debit)}
    assert drawn == {soon.pk: 100, late.pk: 50}
    assert PointsLot.objects.get(entry=never).remaining == 100
    assert balance(member) == (150, 0)
    assert points_ledger_drift() == []


def test_debit_beyond_the_balance_is_refused_and_writes_nothing(now):
    member = MemberFactory()
    points_credit(member_id=member.pk, points=100, idempotency_key="c", now=now)

    with pytest.raises(InsufficientPoints):
        points_debit(member_id=member.pk, points=101, idempotency_key="d", now=now)
    assert balance(member) == (100, 0)
    assert PointsEntry.objects.count() == 1


def test_a_claw_back_beyond_the_balance_records_debt_that_later_earnings_repay_first(now):
    member = MemberFactory()
    points_credit(member_id=member.pk, points=30, idempotency_key="c1", now=now)

    points_debit(member_id=member.pk, points=100, kind="refund", allow_debt=True, idempotency_key="r", now=now)
    assert balance(member) == (0, 70)

    entry = points_credit(member_id=member.pk, points=100, idempotency_key="c2", now=now)

    assert balance(member) == (30, 0)
    assert (entry.balance_after, entry.debt_after, entry.lot.remaining) == (30, 0, 30)
    assert points_ledger_drift() == []


def test_pending_points_count_only_once_activated(now):
    member = MemberFactory()
    pending = points_credit(
        member_id=member.pk, points=80, idempotency_key="p", now=now, activates_at=now + timedelta(days=7)
    )
    member.refresh_from_db()
    assert (member.points_balance, member.points_pending) == (0, 80)
    assert pending.kind == "pending"

    accrual = points_activate_lot(lot_id=pending.lot.pk, now=now + timedelta(days=7))
    again = points_activate_lot(lot_id=pending.lot.pk, now=now + timedelta(days=8))

    member.refresh_from_db()
    assert (member.points_balance, member.points_pending) == (80, 0)
    assert (accrual.kind, accrual.delta) == ("accrual", 80)
    assert again is None
    assert points_ledger_drift() == []


def test_manual_adjustment_needs_a_reason(now):
    member = MemberFactory()
    staff = UserFactory()

    with pytest.raises(ReasonRequired):
        points_adjust(member_id=member.pk, points=10, reason="  ", created_by=staff, idempotency_key="a", now=now)
    assert PointsEntry.objects.count() == 0


def test_manual_adjustment_records_who_and_why(now):
    member = MemberFactory()
    staff = UserFactory()

    added = points_adjust(
        member_id=member.pk, points=40, reason="goodwill", created_by=staff, idempotency_key="a1", now=now
    )
    removed = points_adjust(
        member_id=member.pk, points=-15, reason="correction", created_by=staff, idempotency_key="a2", now=now
    )

    assert (added.kind, added.delta, added.created_by, added.reason) == ("addition", 40, staff, "goodwill")
    assert (removed.kind, removed.delta, removed.created_by) == ("removal", -15, staff)
    assert balance(member) == (25, 0)


def test_check_command_reports_drift_of_a_tampered_cache(now):
    member = MemberFactory()
    points_credit(member_id=member.pk, points=10, idempotency_key="c", now=now)
    call_command("check_points_ledger")

    Member.objects.filter(pk=member.pk).update(points_balance=11)

    with pytest.raises(CommandError, match="1 member"):
        call_command("check_points_ledger")

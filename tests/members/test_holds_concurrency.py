"""Holds and debits of one member at the same moment on PostgreSQL: the member lock keeps holds honest."""

from datetime import timedelta

import pytest
from django.utils import timezone

from members.errors import InsufficientPoints
from members.models import BalanceHold, PointsEntry
from members.services.holds import balance_hold_close, balance_hold_place, balance_holds_drift
from members.services.ledger import points_credit, points_debit, points_ledger_drift
from tests.concurrency import run_in_threads
from tests.factories import MemberFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_holds_and_debits_racing_for_one_balance_never_take_more_than_it_has():
    member = MemberFactory()
    now = timezone.now()
    points_credit(member_id=member.pk, points=100, idempotency_key="seed", now=now)
    holds = [
        lambda i=i: balance_hold_place(
            member_id=member.pk,
            points=30,
            stored_value_amount=0,
            reference=f"h{i}",
            expires_at=now + timedelta(minutes=15),
            now=now,
        )  # fmt: skip
        for i in range(10)
    ]
    debits = [
        lambda i=i: points_debit(member_id=member.pk, points=30, idempotency_key=f"d{i}", now=now) for i in range(10)
    ]

    results = run_in_threads([call for pair in zip(holds, debits, strict=True) for call in pair], workers=20)

    assert len([r for r in results if isinstance(r, InsufficientPoints)]) == 17
    member.refresh_from_db()
    debited = PointsEntry.objects.filter(member=member, delta=-30).count()
    held = BalanceHold.objects.filter(member=member, status=BalanceHold.Status.ACTIVE).count()
    assert debited + held == 3
    assert (member.points_balance, member.points_held) == (100 - 30 * debited, 30 * held)
    assert points_ledger_drift() == []
    assert balance_holds_drift() == []


def test_releasing_one_hold_from_eight_threads_gives_it_back_once():
    member = MemberFactory()
    now = timezone.now()
    points_credit(member_id=member.pk, points=100, idempotency_key="seed", now=now)
    hold = balance_hold_place(
        member_id=member.pk, points=60, stored_value_amount=0, reference="h", expires_at=now, now=now
    )

    results = run_in_threads([lambda: balance_hold_close(hold_id=hold.pk, now=now)] * 8, workers=8)

    assert sorted(results) == [False] * 7 + [True]
    member.refresh_from_db()
    assert member.points_held == 0
    assert balance_holds_drift() == []

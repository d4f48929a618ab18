"""Real concurrent writers on PostgreSQL: the member row lock keeps the ledger exact."""

import pytest
from django.utils import timezone

from members.errors import InsufficientPoints
from members.models import PointsEntry
from members.services.ledger import points_credit, points_debit, points_ledger_drift
from tests.concurrency import run_in_threads
from tests.factories import MemberFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_twenty_threads_crediting_and_debiting_one_member_keep_the_invariant():
    member = MemberFactory()
    now = timezone.now()
    points_credit(member_id=member.pk, points=1000, idempotency_key="seed", now=now)
    credits = [
        lambda i=i: points_credit(member_id=member.pk, points=7, idempotency_key=f"c{i}", now=now) for i in range(100)
    ]
    debits = [
        lambda i=i: points_debit(member_id=member.pk, points=13, idempotency_key=f"d{i}", now=now) for i in range(100)
    ]
    calls = [call for pair in zip(credits, debits, strict=True) for call in pair]

    results = run_in_threads(calls, workers=20)

    assert [r for r in results if isinstance(r, Exception)] == []
    member.refresh_from_db()
    assert member.points_balance == 1000 + 100 * 7 - 100 * 13
    assert PointsEntry.objects.filter(member=member).count() == 201
    assert points_ledger_drift() == []


def test_concurrent_debits_never_overdraw_the_balance():
    member = MemberFactory()
    now = timezone.now()
    points_credit(member_id=member.pk, points=100, idempotency_key="seed", now=now)

    results = run_in_threads(
        [lambda i=i: points_debit(member_id=member.pk, points=30, idempotency_key=f"d{i}", now=now) for i in range(20)],
        workers=20,
    )

    refused = [r for r in results if isinstance(r, InsufficientPoints)]
    assert len(refused) == 17
    member.refresh_from_db()
    assert member.points_balance == 10
    assert points_ledger_drift() == []


def test_a_retry_storm_with_one_idempotency_key_writes_one_entry():
    member = MemberFactory()
    now = timezone.now()

    results = run_in_threads(
        [lambda: points_credit(member_id=member.pk, points=25, idempotency_key="once", now=now)] * 20, workers=20
    )

    assert {r.pk for r in results} == {PointsEntry.objects.get(idempotency_key="once").pk}
    member.refresh_from_db()
    assert member.points_balance == 25

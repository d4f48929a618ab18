"""Holds on points and stored value: set aside for a checkout, counted by every debit, released once."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command

from members.errors import IdempotencyKeyReused, InsufficientPoints, InsufficientStoredValue
from members.models import BalanceHold, Member
from members.selectors.holds import points_available, stored_value_available
from members.services.holds import balance_hold_close, balance_hold_place, balance_holds_drift
from members.services.ledger import points_adjust, points_credit, points_debit, points_ledger_drift
from members.services.stored_value import stored_value_adjust, stored_value_grant, stored_value_spend
from tests.factories import MemberFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def member(now):
    member = MemberFactory()
    points_credit(member_id=member.pk, points=500, idempotency_key="seed", now=now)
    stored_value_grant(member_id=member.pk, amount=Decimal("100.00"), idempotency_key="sv-seed", now=now, source="test")
    return member


def _hold(member, now, *, points=400, amount=Decimal("80.00"), reference="order:1"):
    return balance_hold_place(
        member_id=member.pk, points=points, stored_value_amount=amount, reference=reference,
        expires_at=now + timedelta(minutes=15), now=now,
    )  # fmt: skip


def test_a_hold_sets_points_and_stored_value_aside_without_moving_the_balances(member, now):
    _hold(member, now)

    member.refresh_from_db()
    assert (member.points_balance, member.points_held, points_available(member)) == (500, 400, 100)
    assert (member.stored_value_balance, member.stored_value_held) == (Decimal("100.00"), Decimal("80.00"))
    assert stored_value_available(member) == Decimal("20.00")
    assert points_ledger_drift() == []
    assert balance_holds_drift() == []


def test_a_debit_may_take_only_what_is_not_held(member, now):
    _hold(member, now)

    with pytest.raises(InsufficientPoints):
        points_debit(member_id=member.pk, points=101, idempotency_key="mall", now=now)
    points_debit(member_id=member.pk, points=100, idempotency_key="mall", now=now)

    member.refresh_from_db()
    assert (member.points_balance, member.points_held) == (400, 400)


def test_a_removal_by_staff_may_take_only_what_is_not_held(member, now):
    _hold(member, now)

    with pytest.raises(InsufficientPoints):
        points_adjust(
            member_id=member.pk, points=-101, reason="typo", created_by=UserFactory(), idempotency_key="adj", now=now
        )


def test_a_claw_back_that_may_record_a_debt_ignores_holds(member, now):
    _hold(member, now)

    points_debit(member_id=member.pk, points=450, idempotency_key="refund", now=now, allow_debt=True)

    member.refresh_from_db()
    assert (member.points_balance, member.points_held, points_available(member)) == (50, 400, 0)


def test_a_stored_value_payment_or_removal_may_take_only_what_is_not_held(member, now):
    _hold(member, now)

    with pytest.raises(InsufficientStoredValue):
        stored_value_spend(member_id=member.pk, amount=Decimal("20.01"), idempotency_key="sv", now=now)
    with pytest.raises(InsufficientStoredValue):
        stored_value_adjust(
            member_id=member.pk, amount=Decimal("-20.01"), reason="typo", created_by=UserFactory(),
            idempotency_key="sv-adj", now=now,
        )  # fmt: skip
    stored_value_spend(member_id=member.pk, amount=Decimal("20.00"), idempotency_key="sv", now=now)


def test_a_hold_takes_only_what_is_available(member, now):
    _hold(member, now)

    with pytest.raises(InsufficientPoints):
        _hold(member, now, points=101, amount=Decimal(0), reference="order:2")
    with pytest.raises(InsufficientStoredValue):
        _hold(member, now, points=0, amount=Decimal("20.01"), reference="order:2")


def test_placing_a_hold_again_under_its_reference_returns_it_and_another_hold_under_it_is_refused(member, now):
    first = _hold(member, now)

    assert _hold(member, now) == first
    with pytest.raises(IdempotencyKeyReused):
        _hold(member, now, points=1)
    member.refresh_from_db()
    assert member.points_held == 400


@pytest.mark.parametrize("settled", [False, True])
def test_closing_a_hold_gives_it_back_once(member, now, settled):
    hold = _hold(member, now)

    assert balance_hold_close(hold_id=hold.pk, now=now, settled=settled) is True
    assert balance_hold_close(hold_id=hold.pk, now=now) is False

    member.refresh_from_db()
    assert (member.points_held, member.stored_value_held) == (0, Decimal("0.00"))
    hold.refresh_from_db()
    assert hold.status == (BalanceHold.Status.SETTLED if settled else BalanceHold.Status.RELEASED)
    assert hold.closed_at == now


def test_the_ledger_checks_report_a_held_cache_that_disagrees_with_the_active_holds(member, now):
    _hold(member, now)
    Member.objects.filter(pk=member.pk).update(points_held=399)

    with pytest.raises(CommandError, match="1 member"):
        call_command("check_points_ledger")
    call_command("check_stored_value_ledger")
    Member.objects.filter(pk=member.pk).update(points_held=400, stored_value_held=Decimal("79.00"))
    call_command("check_points_ledger")
    with pytest.raises(CommandError, match="1 member"):
        call_command("check_stored_value_ledger")

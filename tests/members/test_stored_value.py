"""Stored value services: top-ups with a bonus, payment replays, spends, refunds, adjustments; nothing written
on refusal."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction

from members.models import Member, StoredValueEntry
from members.selectors.stored_value import stored_value_outstanding
from members.services.stored_value import (
    stored_value_adjust,
    stored_value_drift,
    stored_value_refund,
    stored_value_spend,
    stored_value_top_up,
)
from tests.factories import MemberFactory, TopUpOfferFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def offer():
    return TopUpOfferFactory(pay_amount=Decimal("1000.00"), bonus_amount=Decimal("100.00"))


def topped_up(member, offer, now, transaction_id="wx-1"):
    return stored_value_top_up(
        member_id=member.pk, offer_id=offer.pk, provider="wechat_pay_hk", transaction_id=transaction_id, now=now
    )


def entries(member):
    return list(
        StoredValueEntry.objects.filter(member=member).order_by("pk").values_list("kind", "amount", "balance_after")
    )


def test_top_up_credits_what_was_paid_plus_the_offer_bonus(offer, now):
    member = MemberFactory()

    result = topped_up(member, offer, now)

    member.refresh_from_db()
    assert (result.balance, result.is_replay, member.stored_value_balance) == (
        Decimal("1100.00"),
        False,
        Decimal("1100.00"),
    )
    assert entries(member) == [
        ("top_up", Decimal("1000.00"), Decimal("1000.00")),
        ("bonus", Decimal("100.00"), Decimal("1100.00")),
    ]
    assert (result.top_up.provider, result.top_up.transaction_id, result.top_up.offer) == (
        "wechat_pay_hk",
        "wx-1",
        offer,
    )


def test_a_replayed_payment_writes_nothing_new_and_returns_the_first_top_up(offer, now):
    member = MemberFactory()
    first = topped_up(member, offer, now)

    replay = topped_up(member, offer, now + timedelta(minutes=5))

    member.refresh_from_db()
    assert (replay.is_replay, replay.top_up.pk, replay.bonus.pk) == (True, first.top_up.pk, first.bonus.pk)
    assert (StoredValueEntry.objects.count(), member.stored_value_balance) == (2, Decimal("1100.00"))


def test_a_payment_id_used_by_another_member_is_refused(offer, now):
    topped_up(MemberFactory(), offer, now)
    other = MemberFactory()

    with pytest.raises(Exception) as error:  # noqa: PT011 - the code is asserted below
        topped_up(other, offer, now)

    assert (error.value.code, error.value.status) == ("payment_already_used", 409)
    other.refresh_from_db()
    assert (other.stored_value_balance, StoredValueEntry.objects.filter(member=other).count()) == (0, 0)


@pytest.mark.parametrize(
    "offer_fields",
    [{"is_active": False}, {"valid_until": "past"}, {"valid_from": "future"}],
)
def test_an_unavailable_offer_is_refused(now, offer_fields):
    fields = {
        key: (now - timedelta(days=1) if value == "past" else now + timedelta(days=1) if value == "future" else value)
        for key, value in offer_fields.items()
    }
    offer = TopUpOfferFactory(**fields)
    member = MemberFactory()

    with pytest.raises(Exception) as error:  # noqa: PT011
        topped_up(member, offer, now)

    assert error.value.code == "top_up_offer_unavailable"
    assert StoredValueEntry.objects.count() == 0


def test_a_visitor_cannot_top_up(offer, now):
    visitor = MemberFactory(status=Member.Status.VISITOR, phone=None)

    with pytest.raises(Exception) as error:  # noqa: PT011
        topped_up(visitor, offer, now)

    assert error.value.code == "member_not_active"


def test_spend_takes_from_the_balance(offer, now):
    member = MemberFactory()
    topped_up(member, offer, now)

    entry = stored_value_spend(member_id=member.pk, amount=Decimal("250.50"), idempotency_key="pos:1", now=now)

    member.refresh_from_db()
    assert (entry.kind, entry.amount, entry.balance_after) == ("spend", Decimal("-250.50"), Decimal("849.50"))
    assert member.stored_value_balance == Decimal("849.50")


def test_a_spend_retried_with_its_key_is_written_once(offer, now):
    member = MemberFactory()
    topped_up(member, offer, now)
    first = stored_value_spend(member_id=member.pk, amount="100", idempotency_key="pos:1", now=now)

    again = stored_value_spend(member_id=member.pk, amount="100.00", idempotency_key="pos:1", now=now)

    member.refresh_from_db()
    assert (again.pk, member.stored_value_balance) == (first.pk, Decimal("1000.00"))


def test_spend_above_the_balance_is_refused_and_writes_nothing(offer, now):
    member = MemberFactory()
    topped_up(member, offer, now)

    with pytest.raises(Exception) as error:  # noqa: PT011
        stored_value_spend(member_id=member.pk, amount=Decimal("1100.01"), idempotency_key="pos:1", now=now)

    assert (error.value.code, error.value.status) == ("insufficient_stored_value", 409)
    member.refresh_from_db()
    assert (member.stored_value_balance, StoredValueEntry.objects.count()) == (Decimal("1100.00"), 2)


@pytest.mark.parametrize("amount", [Decimal("-5.00"), Decimal(0), "0.001", "1.005", "NaN", "abc", 12.5, True])
def test_negative_zero_or_malformed_amounts_are_refused_and_write_nothing(offer, now, amount):
    member = MemberFactory()
    topped_up(member, offer, now)

    with pytest.raises(Exception) as error:  # noqa: PT011
        stored_value_spend(member_id=member.pk, amount=amount, idempotency_key="pos:x", now=now)

    assert (error.value.code, error.value.fields) == (
        "invalid_amount", {"amount": ["The amount must be positive, with at most 2 decimal places."]},
    )  # fmt: skip
    assert StoredValueEntry.objects.count() == 2


def test_refunds_give_back_up_to_what_was_spent(offer, now):
    member = MemberFactory()
    topped_up(member, offer, now)
    spend = stored_value_spend(member_id=member.pk, amount=Decimal("300.00"), idempotency_key="pos:1", now=now)

    stored_value_refund(spend_entry_id=spend.pk, amount=Decimal("200.00"), idempotency_key="refund:1", now=now)
    with pytest.raises(Exception) as error:  # noqa: PT011
        stored_value_refund(spend_entry_id=spend.pk, amount=Decimal("100.01"), idempotency_key="refund:2", now=now)
    stored_value_refund(spend_entry_id=spend.pk, amount=Decimal("100.00"), idempotency_key="refund:3", now=now)

    assert error.value.code == "refund_exceeds_spend"
    member.refresh_from_db()
    assert member.stored_value_balance == Decimal("1100.00")
    assert [kind for kind, _amount, _after in entries(member)] == ["top_up", "bonus", "spend", "refund", "refund"]


def test_a_manual_adjustment_needs_a_reason_and_keeps_the_staff_user(offer, now):
    member = MemberFactory()
    staff = UserFactory()

    with pytest.raises(Exception) as error:  # noqa: PT011
        stored_value_adjust(
            member_id=member.pk, amount="50", reason=" ", created_by=staff, idempotency_key="a1", now=now
        )
    entry = stored_value_adjust(
        member_id=member.pk, amount="50", reason="Goodwill", created_by=staff, idempotency_key="a2", now=now
    )

    assert error.value.code == "reason_required"
    assert (entry.kind, entry.amount, entry.reason, entry.created_by) == (
        "adjustment",
        Decimal("50.00"),
        "Goodwill",
        staff,
    )


def test_the_database_refuses_a_negative_cached_balance():
    member = MemberFactory()

    with pytest.raises(IntegrityError), transaction.atomic():
        Member.objects.filter(pk=member.pk).update(stored_value_balance=Decimal("-0.01"))


def test_balances_equal_the_sum_of_entries_and_the_outstanding_total_is_their_sum(offer, now):
    first, second, _empty = MemberFactory(), MemberFactory(), MemberFactory()
    topped_up(first, offer, now, "wx-1")
    topped_up(second, offer, now, "wx-2")
    stored_value_spend(member_id=second.pk, amount="1100", idempotency_key="pos:all", now=now)
    stored_value_spend(member_id=first.pk, amount="0.25", idempotency_key="pos:1", now=now)

    assert stored_value_drift() == []
    outstanding = stored_value_outstanding()
    assert (outstanding.total, outstanding.members) == (Decimal("1099.75"), 1)

"""Real concurrent writers on PostgreSQL: the member row lock keeps the stored-value ledger exact."""

from decimal import Decimal

import pytest
from django.db.models import Sum
from django.utils import timezone

from members.errors import InsufficientStoredValue
from members.models import StoredValueEntry
from members.services.stored_value import stored_value_drift, stored_value_spend, stored_value_top_up
from tests.factories import MemberFactory, TopUpOfferFactory
from tests.members.test_ledger_concurrency import run_in_threads

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_concurrent_top_ups_and_spends_keep_balance_equal_to_entries_and_never_negative():
    # given a member with HK$100 and an offer "pay HK$10, get HK$1"
    member = MemberFactory()
    now = timezone.now()
    offer = TopUpOfferFactory(pay_amount=Decimal("10.00"), bonus_amount=Decimal("1.00"))
    seed = TopUpOfferFactory(pay_amount=Decimal("100.00"), bonus_amount=Decimal("0.00"))
    stored_value_top_up(member_id=member.pk, offer_id=seed.pk, provider="fps", transaction_id="seed", now=now)
    top_ups = [
        lambda i=i: stored_value_top_up(
            member_id=member.pk, offer_id=offer.pk, provider="payme", transaction_id=f"t{i}", now=now
        )
        for i in range(40)
    ]
    spends = [
        lambda i=i: stored_value_spend(member_id=member.pk, amount=Decimal("25.00"), idempotency_key=f"s{i}", now=now)
        for i in range(40)
    ]

    # when 20 threads run them interleaved
    results = run_in_threads([call for pair in zip(spends, top_ups, strict=True) for call in pair], workers=20)

    # then
    unexpected = [r for r in results if isinstance(r, Exception) and not isinstance(r, InsufficientStoredValue)]
    assert unexpected == []
    refused = sum(isinstance(r, InsufficientStoredValue) for r in results)
    member.refresh_from_db()
    assert member.stored_value_balance == Decimal("100.00") + 40 * Decimal("11.00") - (40 - refused) * Decimal("25.00")
    assert StoredValueEntry.objects.filter(member=member).count() == 1 + 80 + (40 - refused)
    assert StoredValueEntry.objects.aggregate(total=Sum("amount"))["total"] == member.stored_value_balance
    assert not StoredValueEntry.objects.filter(balance_after__lt=0).exists()
    assert stored_value_drift() == []


def test_concurrent_spends_never_overdraw():
    member = MemberFactory()
    now = timezone.now()
    offer = TopUpOfferFactory(pay_amount=Decimal("100.00"), bonus_amount=Decimal("0.00"))
    stored_value_top_up(member_id=member.pk, offer_id=offer.pk, provider="fps", transaction_id="seed", now=now)

    results = run_in_threads(
        [
            lambda i=i: stored_value_spend(member_id=member.pk, amount="30", idempotency_key=f"s{i}", now=now)
            for i in range(20)
        ],
        workers=20,
    )

    assert sum(isinstance(r, InsufficientStoredValue) for r in results) == 17
    member.refresh_from_db()
    assert member.stored_value_balance == Decimal("10.00")
    assert stored_value_drift() == []


def test_a_payment_replayed_by_twenty_threads_is_recorded_once():
    member = MemberFactory()
    now = timezone.now()
    offer = TopUpOfferFactory(pay_amount=Decimal("1000.00"), bonus_amount=Decimal("100.00"))

    results = run_in_threads(
        [lambda: stored_value_top_up(member_id=member.pk, offer_id=offer.pk, provider="alipay_hk",
                                     transaction_id="pay-1", now=now)] * 20,
        workers=20,
    )  # fmt: skip

    assert [r for r in results if isinstance(r, Exception)] == []
    assert sum(not r.is_replay for r in results) == 1
    member.refresh_from_db()
    assert (member.stored_value_balance, StoredValueEntry.objects.count()) == (Decimal("1100.00"), 2)

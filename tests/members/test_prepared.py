"""A prepared read returns what its queryset would, in one query, with SQL compiled once per process."""

from datetime import date
from decimal import Decimal

import pytest
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.db.transaction import TransactionManagementError

from infra.prepared import PreparedRead
from members.models import Member, Purchase
from tests.factories import MemberFactory, PurchaseFactory, StoreFactory, TierFactory

pytestmark = pytest.mark.django_db

MEMBER_WITH_TIER = PreparedRead(
    lambda number: (
        Member.objects.select_related("tier", "home_store")
        .annotate(has_purchases=Exists(Purchase.objects.filter(member=OuterRef("pk"))))
        .filter(member_number=number)
    ),
    number=str,
)


@pytest.fixture
def member():
    member = MemberFactory(
        tier=TierFactory(code="V2", earn_multiplier=Decimal("1.50")),
        home_store=StoreFactory(code="central"),
        birthday=date(1990, 2, 28),
        total_spend=Decimal("1234.50"),
    )
    PurchaseFactory(member=member, store=member.home_store)
    return member


def test_it_reads_what_the_queryset_reads(member, django_assert_num_queries):
    expected = Member.objects.select_related("tier", "home_store").get(pk=member.pk)

    with django_assert_num_queries(1):
        found = MEMBER_WITH_TIER.one(number=member.member_number)
        tier, home_store = found.tier, found.home_store  # select_related: no further query

    assert found == expected
    assert {name: getattr(found, name) for name in ("phone", "birthday", "total_spend", "joined_at", "status")} == {
        name: getattr(expected, name) for name in ("phone", "birthday", "total_spend", "joined_at", "status")
    }
    assert (tier.code, tier.earn_multiplier, home_store.code) == ("V2", Decimal("1.50"), "central")
    assert found.has_purchases is True
    assert (found._state.adding, found._state.db) == (False, "default")  # as loaded from the database


def test_each_call_uses_its_own_parameters(member):
    other = MemberFactory()

    assert MEMBER_WITH_TIER.one(number=other.member_number) == other
    assert MEMBER_WITH_TIER.one(number=member.member_number) == member
    assert MEMBER_WITH_TIER.one(number="0000000000") is None
    assert MEMBER_WITH_TIER.all(number="0000000000") == []


def test_integer_parameters_used_twice_fill_both_places(member):
    read = PreparedRead(lambda member_id: Member.objects.filter(pk__gte=member_id, pk__lte=member_id), member_id=int)

    assert read.one(member_id=member.pk) == member


def test_parameters_are_taken_as_their_declared_type(member):
    read = PreparedRead(lambda member_id: Member.objects.filter(pk=member_id), member_id=int)

    assert read.one(member_id=str(member.pk)) == member
    assert read.one(member_id=None) is None
    with pytest.raises(ValueError, match="seven"):
        read.one(member_id="seven")


def test_a_parameter_the_compiler_transforms_cannot_be_prepared(member):
    read = PreparedRead(lambda name: Member.objects.filter(name__icontains=name), name=str)

    with pytest.raises(ValueError, match="did not reach the SQL unchanged"):
        read.one(name="Chan")


def test_only_integers_and_text_can_be_parameters():
    with pytest.raises(TypeError):
        PreparedRead(lambda born: Member.objects.filter(birthday=born), born=date)


@pytest.mark.django_db(transaction=True)
def test_a_locking_read_needs_a_transaction(member):
    read = PreparedRead(lambda member_id: Member.objects.select_for_update().filter(pk=member_id), member_id=int)

    with pytest.raises(TransactionManagementError):
        read.one(member_id=member.pk)
    with transaction.atomic():
        assert read.one(member_id=member.pk) == member

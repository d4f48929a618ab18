"""A prepared read returns what its queryset would, in one query, with SQL compiled once per process; the till's
prepared reads each give what their plain querysets give; what it cannot do is refused when a read is declared."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.db.transaction import TransactionManagementError
from django.utils import timezone

from infra.prepared import PreparedRead
from members.models import Member, Purchase
from members.services import tokens
from points import selectors as points_selectors
from points.models import MultiplierWindow, PointsPolicy
from points.services import checkout
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


# -- what it cannot do ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "build",
    [
        lambda number: Member.objects.filter(member_number=number).values("pk", "name"),
        lambda number: Member.objects.filter(member_number=number).values_list("pk", flat=True),
        lambda number: Member.objects.filter(member_number=number).prefetch_related("tags"),
        lambda number: Member.objects.filter(member_number=number).union(Member.objects.filter(phone=number)),
    ],
    ids=["values", "values_list", "prefetch_related", "union"],
)
def test_a_read_that_would_not_give_plain_instances_is_refused_when_declared(build):
    with pytest.raises(TypeError, match="cannot be prepared"):
        PreparedRead(build, number=str)


# -- the till's prepared reads, each against its plain queryset ---------------------------------------------------
def loaded(instance) -> dict:
    """Everything an instance holds: its field and annotation values, its related instances (select_related) as
    the same, and its state as loaded from the database."""
    values = {name: value for name, value in vars(instance).items() if name != "_state"}
    related = {
        name: loaded(other) if other is not None else None for name, other in instance._state.fields_cache.items()
    }
    return {**values, "_related": related, "_state": (instance._state.adding, instance._state.db)}


def both(read: PreparedRead, **params) -> tuple[list, list]:
    return [loaded(row) for row in read.all(**params)], [loaded(row) for row in read._build(**params)]


def test_the_pos_key_read_gives_what_its_queryset_gives():
    key, raw = tokens.store_api_key_create(store_id=StoreFactory().pk, name="till 1")

    prepared, plain = both(tokens._LIVE_KEY, prefix=key.prefix)

    assert prepared == plain
    assert plain[0]["_related"]["store"]["id"] == key.store_id


def test_the_policy_read_gives_what_its_queryset_gives():
    PointsPolicy.load()
    TierFactory(code="V1")

    prepared, plain = both(points_selectors._POLICY_WITH_FINGERPRINT)

    assert prepared == plain
    assert plain[0]["fingerprint_7"] == 1  # one tier


def test_the_purchase_by_external_id_read_gives_what_its_queryset_gives():
    purchase = PurchaseFactory(member=MemberFactory(), external_id="T-42", channel="pos")
    PurchaseFactory(external_id="T-42", channel="mini_program", store=purchase.store)

    prepared, plain = both(
        checkout._PURCHASE_BY_EXTERNAL_ID, channel="pos", store_id=purchase.store_id, external_id="T-42"
    )

    assert prepared == plain
    assert [row["id"] for row in plain] == [purchase.pk]


def named_by(member, column: str):
    """The value a till's key gives for the member in this column (points.selectors.pos_member_keys)."""
    return member.pk if column == "pk" else getattr(member, column)


@pytest.mark.parametrize("column", ["pk", "member_number", "phone"])
@pytest.mark.parametrize("store_is_active", [True, False])
def test_the_member_locked_at_store_read_gives_what_its_queryset_gives(member, store_is_active, column):
    store = StoreFactory(code="till", is_active=store_is_active)
    MemberFactory()  # another member, not read

    prepared, plain = both(checkout._MEMBER_LOCKED_AT_STORE[column], value=named_by(member, column), store_id=store.pk)

    assert prepared == plain
    assert (plain[0]["id"], plain[0]["store_is_active"], plain[0]["_related"]["tier"]["code"]) == (
        member.pk,
        store_is_active,
        "V2",
    )


@pytest.mark.parametrize("column", ["pk", "member_number", "phone"])
@pytest.mark.parametrize("window_ends_in_days", [None, 3])
def test_the_member_read_of_every_scan_gives_what_its_queryset_gives(member, window_ends_in_days, column):
    # the till's preview reads the member with the tier and whether a multiplier window may apply
    if window_ends_in_days is not None:
        now = timezone.now()
        MultiplierWindow.objects.create(
            member=member, multiplier=Decimal("2"), starts_at=now, ends_at=now + timedelta(days=window_ends_in_days),
            key=f"test:{member.pk}", reason="test", created_at=now,
        )  # fmt: skip

    prepared, plain = both(checkout._MEMBER_WITH_TIER[column], value=named_by(member, column))

    assert prepared == plain
    assert plain[0]["may_have_window"] is (window_ends_in_days is not None)
    assert plain[0]["_related"]["tier"]["code"] == "V2"

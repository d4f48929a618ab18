"""The console at a chain's size: lists counted by the planner's estimate when large (infra.paginator), and member
searches that an index serves (exact identifiers brand-wide, prefixes in the store scope). bench/console.py times
them at 1,000,000 members; these tests pin the behaviour on SQLite and PostgreSQL."""

import time
from datetime import UTC, datetime

import pytest
from django.db import connection
from django.urls import reverse

from infra.paginator import EstimatedCountPaginator
from members.console import member_partial_lookup_q
from members.formats import card_code_for
from members.models import Member, PointsEntry, Role
from members.services.ledger import points_credit
from tests.factories import MemberFactory, StoreFactory, UserFactory

pytestmark = pytest.mark.django_db

MEMBERS_URL = reverse("admin:members_member_changelist")
ENTRIES_URL = reverse("admin:members_pointsentry_changelist")
postgres_only = pytest.mark.skipif("connection.vendor != 'postgresql'")


@pytest.fixture
def world():
    store_a, store_b = StoreFactory(code="a", name="Store A"), StoreFactory(code="b", name="Store B")
    return {
        "alice": MemberFactory(name="Alice Chan", phone="+85291234567", home_store=store_a),
        "bella": MemberFactory(name="Bella Wong", phone="+85261234568", home_store=store_b),
        "admin": UserFactory(role=Role.MERCHANT_ADMIN),
        "manager_a": UserFactory(role=Role.STORE_MANAGER, store=store_a),
        "store_a": store_a,
    }


def found(client, user, term, url=MEMBERS_URL):
    client.force_login(user)
    response = client.get(url, {"q": term})
    assert response.status_code == 200
    return list(response.context["cl"].result_list)


def analyse(model):
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {model._meta.db_table}")


# -- the paginator -------------------------------------------------------------------------------------------------


def test_a_small_list_is_counted_exactly(world):
    paginator = EstimatedCountPaginator(Member.objects.order_by("pk"), 100)

    assert paginator.count == 2
    assert paginator.is_estimated is False


def test_sqlite_counts_exactly_however_large_the_list(world, monkeypatch):
    if connection.vendor == "postgresql":
        pytest.skip("SQLite's behaviour")
    monkeypatch.setattr(EstimatedCountPaginator, "exact_below", 1)

    paginator = EstimatedCountPaginator(Member.objects.order_by("pk"), 100)

    assert (paginator.count, paginator.is_estimated) == (2, False)


@postgres_only
def test_an_unfiltered_large_list_reads_the_tables_estimate(world, monkeypatch):
    MemberFactory.create_batch(28, home_store=world["store_a"])
    analyse(Member)
    monkeypatch.setattr(EstimatedCountPaginator, "exact_below", 10)
    queries = []

    def record(execute, sql, params, many, context):
        queries.append(sql)
        return execute(sql, params, many, context)

    paginator = EstimatedCountPaginator(Member.objects.order_by("-pk"), 100)
    with connection.execute_wrapper(record):
        count = paginator.count

    assert paginator.is_estimated is True
    assert count == 30  # rows per page at the ANALYZE times the pages now: exact right after it
    assert not any("count(" in sql.lower() for sql in queries)  # no row was counted
    assert any("pg_class" in sql for sql in queries)


@postgres_only
def test_a_filtered_large_list_reads_the_planners_estimate(world, monkeypatch):
    MemberFactory.create_batch(28, home_store=world["store_a"])
    analyse(Member)
    monkeypatch.setattr(EstimatedCountPaginator, "exact_below", 10)

    paginator = EstimatedCountPaginator(Member.objects.filter(home_store=world["store_a"]).order_by("-pk"), 100)

    assert paginator.is_estimated is False  # not asked yet
    assert 20 <= paginator.count <= 30
    assert paginator.is_estimated is True


@postgres_only
def test_a_filtered_list_the_planner_deems_small_is_counted_exactly(world, monkeypatch):
    MemberFactory.create_batch(28, home_store=world["store_a"])
    analyse(Member)
    monkeypatch.setattr(EstimatedCountPaginator, "exact_below", 10)

    paginator = EstimatedCountPaginator(Member.objects.filter(pk=world["bella"].pk).order_by("-pk"), 100)

    assert (paginator.count, paginator.is_estimated) == (1, False)


@postgres_only
def test_the_member_list_says_about_when_estimated(client, world, monkeypatch):
    MemberFactory.create_batch(28, home_store=world["store_a"])
    analyse(Member)
    monkeypatch.setattr(EstimatedCountPaginator, "exact_below", 10)
    client.force_login(world["admin"])

    page = client.get(MEMBERS_URL).content.decode()

    assert "about 30" in page
    assert len(client.get(MEMBERS_URL).context["cl"].result_list) == 30  # the rows shown are the real ones


def test_the_member_list_gives_the_exact_count_when_small(client, world):
    client.force_login(world["admin"])

    response = client.get(MEMBERS_URL)

    assert response.context["cl"].result_count == 2
    assert "about 2" not in response.content.decode()


# -- the member search ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "term",
    ["+85261234568", "61234568", "6123 4568", "member_number", "card_code"],
    ids=["e164", "local-digits", "spaced", "member-number", "card-code"],
)
def test_an_exact_identifier_finds_the_member_of_any_store(client, world, term):
    bella = world["bella"]
    term = {
        "member_number": bella.member_number,
        "card_code": card_code_for(bella.member_number, timestamp=time.time()),
    }.get(term, term)

    assert found(client, world["manager_a"], term) == [bella]
    assert found(client, world["admin"], term) == [bella]
    client.force_login(world["manager_a"])
    assert client.get(reverse("admin:console_find"), {"q": term}).url == reverse(
        "admin:members_member_change", args=[bella.pk]
    )


def test_the_start_of_a_member_number_searches_the_store_scope(client, world):
    alice, bella = world["alice"], world["bella"]

    assert found(client, world["manager_a"], alice.member_number[:6]) == [alice]
    assert found(client, world["manager_a"], bella.member_number[:6]) == []  # another store's, not exact
    assert found(client, world["admin"], bella.member_number[:6]) == [bella]


def test_the_start_of_a_phone_finds_the_member(client, world):
    assert found(client, world["manager_a"], "9123456") == [world["alice"]]
    assert found(client, world["manager_a"], "+8529123") == [world["alice"]]
    assert found(client, world["admin"], "6123") == [world["bella"]]


def test_the_start_of_a_name_finds_the_member_in_either_case_of_its_first_letter(client, world):
    assert found(client, world["manager_a"], "Alice") == [world["alice"]]
    assert found(client, world["manager_a"], "alice") == [world["alice"]]
    assert found(client, world["manager_a"], "Alice C") == [world["alice"]]
    assert found(client, world["manager_a"], "Bella") == []  # another store's member


def test_the_middle_or_end_of_a_name_or_phone_finds_nothing(client, world):
    """As the search box's help says: no index serves them, and the end of a phone is no identifier."""
    assert found(client, world["admin"], "Chan") == []
    assert found(client, world["admin"], "4567") == []
    assert found(client, world["admin"], "912") == []  # too short to be the start of a number


@postgres_only
@pytest.mark.parametrize(
    ("term", "index"),
    [("1234", "member_number_unique"), ("1234", "member_phone_unique"), ("Alice", "member_name_prefix")],
)
def test_a_partial_search_is_served_by_an_index(world, term, index):
    assert index in _plan(Member.objects.filter(member_partial_lookup_q(term)))


@postgres_only
@pytest.mark.parametrize(
    ("lookup", "index"),
    [
        ({"phone": "+85291234567"}, "member_phone_unique"),
        ({"phone__in": ["+85291234567", "+85291234568"]}, "member_phone_unique"),
        ({"member_number": "12345678"}, "member_number_unique"),
    ],
)
def test_an_exact_lookup_is_served_by_the_unique_index_that_also_serves_prefixes(world, lookup, index):
    """The unique indexes of phone and member number use the pattern operator class (members 0022): equality and
    `= ANY` still read them, as the till's and the login's lookups need."""
    assert index in _plan(Member.objects.filter(**lookup))


@postgres_only
@pytest.mark.parametrize(
    ("lookup", "index"),
    [
        ({"wechat_openid": "o-abc"}, "member_wechat_openid_unique"),
        ({"last_purchase_at__isnull": False, "last_purchase_at__lte": datetime(2026, 1, 1, tzinfo=UTC)},
         "member_last_purchase"),
        ({"last_purchase_at__gt": datetime(2026, 1, 1, tzinfo=UTC)}, "member_last_purchase"),
    ],
)  # fmt: skip
def test_the_lookups_of_openid_and_last_purchase_read_their_partial_indexes(world, lookup, index):
    """Members without an openid or a purchase are left out of these indexes (members 0023), so that their writes
    skip them; a lookup by a value, or a segment's range of days since the last purchase, still reads them."""
    assert index in _plan(Member.objects.filter(**lookup))


@postgres_only
@pytest.mark.parametrize(
    "lookup",
    [
        {"tier_id": 1},  # a tier's members: the console's tier filter, the check before a tier is deleted
        {"tier_id__in": [1, 2], "status": "active", "birthday__month": 5},  # a segment's tiers and birthday month
    ],
)
def test_a_tiers_members_and_a_segments_birthday_month_read_the_one_tier_index(world, lookup):
    """The tier's foreign key has no index of its own (members 0024): the index (tier, status, month of birthday)
    serves its lookups and the segments' conditions."""
    assert "member_tier_status_bday_month" in _plan(Member.objects.filter(**lookup))


def _plan(queryset) -> str:
    sql, params = queryset.values("pk").query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f"EXPLAIN {sql}", params)
        return "\n".join(row[0] for row in cursor.fetchall())


def test_the_ledger_search_finds_a_members_entries_by_exact_identifier_only(client, world, now):
    alice = world["alice"]
    points_credit(member_id=alice.pk, points=10, idempotency_key="scale-a", now=now, reason="birthday treat")
    points_credit(member_id=world["bella"].pk, points=20, idempotency_key="scale-b", now=now, reason="birthday")

    by_phone = found(client, world["manager_a"], "9123 4567", ENTRIES_URL)
    by_number = found(client, world["admin"], alice.member_number, ENTRIES_URL)

    assert [entry.member_id for entry in by_phone] == [alice.pk]
    assert [entry.member_id for entry in by_number] == [alice.pk]
    assert found(client, world["admin"], "birthday", ENTRIES_URL) == []  # words of a reason: no index serves them
    assert PointsEntry.objects.count() == 2

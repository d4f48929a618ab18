"""The purchase path costs a fixed number of queries, whatever the number of items (not timed)."""

from decimal import Decimal

import pytest

from members.models import Member
from members.services.ledger import points_credit
from points.models import EarningRule
from tests.factories import TierFactory

pytestmark = pytest.mark.django_db

# The test's transaction turns the checkout's transaction into SAVEPOINT ... RELEASE (2 of the queries below).
# Both: POS key, policy with the earning rules' fingerprint (the rules themselves are cached per process), the member
# locked by their member number with the store check (and whether the member has a recent multiplier window: no),
# replay check, checkout INSERT.
# PostgreSQL: one statement for the purchase, its items and the member's purchase statistics (members/sql.py), one
# for the ledger (entries, draw from the lots, allocations, new lot, member balances). SQLite: purchase INSERT, items
# INSERT (one for all items), member UPDATE of the statistics, entries INSERT, lots SELECT, lots UPDATE, allocations
# INSERT, lot INSERT, member UPDATE of the balances. No tier exists here: with tiers, the instant tier evaluation
# adds its queries.
PURCHASE_QUERIES = {"postgresql": 9, "sqlite": 16}
# The preview: POS key, policy with the rules' fingerprint, store check, the member found by their number with their
# tier (and whether they have a recent multiplier window: no; a member who has one costs one read more, its open
# window).
PREVIEW_QUERIES = 4


@pytest.fixture
def till(store, member, base_rule, policy, pos_client_for, now):
    EarningRule.objects.create(
        name="Weekend x2", kind="multiplier", priority=20, multiplier=Decimal(2), weekdays=[5, 6]
    )
    EarningRule.objects.create(name="First +50", kind="bonus_first_purchase", priority=30, bonus_points=50)
    EarningRule.objects.create(name="Shoes +20", kind="bonus_category", priority=40, category="shoes", bonus_points=20)
    points_credit(member_id=member.pk, points=1000, idempotency_key="seed", now=now)
    client = pos_client_for(store)
    # A first purchase, so the one measured is a returning member's (the usual case).
    client.post("/api/v1/pos/purchases", {"external_id": "warm", "payment_method": "card", "gross_amount": "10.00",
                                          "member_number": member.member_number}, format="json")  # fmt: skip
    return client


def body(member, count):
    return {
        "external_id": f"sale-{count}",
        "payment_method": "card",
        "gross_amount": "1000.00",
        "member_number": member.member_number,
        "points_to_spend": 100,
        # The lines add up to the gross amount, as the checkout requires.
        "items": [{"sku": f"SKU-{i}", "category": "shoes", "unit_price": str(1000 // count)} for i in range(count)],
    }


@pytest.mark.parametrize("items", [1, 20])
def test_a_purchase_costs_the_same_queries_for_1_and_20_items(items, till, member, vendor, django_assert_num_queries):
    with django_assert_num_queries(PURCHASE_QUERIES[vendor]):
        response = till.post("/api/v1/pos/purchases", body(member, items), format="json")

    assert response.status_code == 201
    assert response.json()["points_spent"] == 100


@pytest.mark.parametrize("items", [1, 20])
def test_a_preview_costs_the_same_queries_for_1_and_20_items(items, till, member, django_assert_num_queries):
    Member.objects.filter(pk=member.pk).update(tier=TierFactory(earn_multiplier=Decimal(2)))  # read with the member
    cart = {key: value for key, value in body(member, items).items() if key not in ("external_id", "payment_method")}
    till.post("/api/v1/pos/purchases/preview", cart, format="json")  # a new tier: the rules are read again, once

    with django_assert_num_queries(PREVIEW_QUERIES):
        response = till.post("/api/v1/pos/purchases/preview", cart, format="json")

    assert response.status_code == 200
    assert response.json()["points_balance"] == Member.objects.get(pk=member.pk).points_balance

"""Points amounts are 64-bit: a member may pass 2,147,483,647 points (a 500 on PostgreSQL's 32-bit columns before).
What is bounded is refused plainly, with a stable code: a purchase beyond the policy's maximum, a ledger entry
beyond MAX_POINTS_PER_ENTRY, a balance beyond MAX_POINTS_BALANCE. Run on both databases."""

import pytest
from django.core.exceptions import ValidationError

from members.errors import PointsAmountTooLarge, PointsBalanceTooLarge
from members.models import Member, PointsEntry, Purchase
from members.models.ledger import MAX_POINTS_BALANCE, MAX_POINTS_PER_ENTRY
from members.services.ledger import points_adjust, points_credit, points_credit_openings, points_ledger_drift
from points.models import PointsPolicy

pytestmark = pytest.mark.django_db

INT32_MAX = 2_147_483_647
PURCHASES = "/api/v1/pos/purchases"


@pytest.fixture
def till(store, pos_client_for):
    return pos_client_for(store)


@pytest.fixture
def rich_member(member, now):
    """A member holding 3,000,000,000 points, earned in three credits of the largest entry allowed."""
    for index in range(3):
        points_credit(member_id=member.pk, points=MAX_POINTS_PER_ENTRY, idempotency_key=f"big:{index}", now=now)
    return member


def sale(member, **overrides):
    return {
        "external_id": "S-1",
        "payment_method": "card",
        "member_number": member.member_number,
        "gross_amount": "1000.00",
        **overrides,
    }


def test_a_member_holds_more_than_2_31_points(rich_member):
    rich_member.refresh_from_db()

    assert rich_member.points_balance == 3 * MAX_POINTS_PER_ENTRY > INT32_MAX
    assert PointsEntry.objects.filter(member=rich_member).order_by("-pk").first().balance_after == 3_000_000_000
    assert points_ledger_drift(member_ids=[rich_member.pk]) == []


def test_a_member_past_2_31_points_spends_and_earns_at_the_till(till, rich_member, policy, base_rule):
    response = till.post(PURCHASES, sale(rich_member, points_to_spend=500), format="json")

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["points_balance"] == 3_000_000_000 - 500 + 99  # HK$995 after points: 99 points
    assert Member.objects.get(pk=rich_member.pk).points_balance == 3_000_000_000 - 500 + 99
    assert points_ledger_drift(member_ids=[rich_member.pk]) == []


def test_opening_balances_take_a_member_past_2_31_points_on_the_bulk_path(member, now):
    points_credit(member_id=member.pk, points=MAX_POINTS_PER_ENTRY, idempotency_key="a", now=now)
    points_credit(member_id=member.pk, points=MAX_POINTS_PER_ENTRY, idempotency_key="b", now=now)

    written = points_credit_openings(openings=[(member.pk, 500_000_000, "opening:1")], now=now)

    assert written == 1
    assert Member.objects.get(pk=member.pk).points_balance == 2_500_000_000
    assert PointsEntry.objects.get(idempotency_key="opening:1").balance_after == 2_500_000_000
    assert points_ledger_drift(member_ids=[member.pk]) == []


# -- the policy's maximum per purchase ----------------------------------------------------------------------------
def test_a_purchase_earning_more_than_the_policy_maximum_is_refused(till, member, policy, base_rule):
    PointsPolicy.objects.filter(pk=policy.pk).update(max_points_per_purchase=1000)

    response = till.post(PURCHASES, sale(member, gross_amount="100000.00"), format="json")  # 10,000 points

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "points_amount_too_large"
    assert not Purchase.objects.exists()
    assert not PointsEntry.objects.exists()


def test_spending_more_than_the_policy_maximum_is_refused(till, member, policy, base_rule, give_points):
    give_points(member, 5000)
    PointsPolicy.objects.filter(pk=policy.pk).update(max_points_per_purchase=1000)

    response = till.post(PURCHASES, sale(member, points_to_spend=1001), format="json")

    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["code"], list(error["fields"])) == ("points_amount_too_large", ["points_to_spend"])
    assert not Purchase.objects.exists()


def test_spending_an_absurd_number_of_points_is_a_clear_refusal(till, member, policy, base_rule):
    response = till.post(PURCHASES, sale(member, points_to_spend=2**63), format="json")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "points_amount_too_large"


def test_the_policy_maximum_defaults_to_a_million_and_stays_within_an_entry(policy):
    policy.max_points_per_purchase = MAX_POINTS_PER_ENTRY + 1

    with pytest.raises(ValidationError) as info:
        policy.full_clean()

    assert list(info.value.message_dict) == ["max_points_per_purchase"]
    assert PointsPolicy._meta.get_field("max_points_per_purchase").default == 1_000_000


# -- the ledger's bounds -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("points", [MAX_POINTS_PER_ENTRY + 1, -(MAX_POINTS_PER_ENTRY + 1)])
def test_an_adjustment_beyond_the_largest_entry_is_refused(member, give_points, now, points):
    give_points(member, 10)

    with pytest.raises(PointsAmountTooLarge) as info:
        points_adjust(member_id=member.pk, points=points, reason="typo", created_by=None, idempotency_key="x", now=now)

    assert (info.value.code, info.value.status) == ("points_amount_too_large", 400)
    assert Member.objects.get(pk=member.pk).points_balance == 10


def test_a_credit_past_the_balance_ceiling_is_refused(member, now):
    Member.objects.filter(pk=member.pk).update(points_balance=MAX_POINTS_BALANCE - 10)

    with pytest.raises(PointsBalanceTooLarge) as info:
        points_credit(member_id=member.pk, points=11, idempotency_key="over", now=now)
    points_credit(member_id=member.pk, points=10, idempotency_key="up-to", now=now)

    assert (info.value.code, info.value.status) == ("points_balance_too_large", 400)
    assert Member.objects.get(pk=member.pk).points_balance == MAX_POINTS_BALANCE


def test_pending_points_count_towards_the_ceiling(member, now):
    Member.objects.filter(pk=member.pk).update(points_pending=MAX_POINTS_BALANCE)

    with pytest.raises(PointsBalanceTooLarge):
        points_credit(member_id=member.pk, points=1, idempotency_key="over", now=now)


def test_a_purchase_past_the_balance_ceiling_is_a_clear_refusal(till, member, policy, base_rule):
    Member.objects.filter(pk=member.pk).update(points_balance=MAX_POINTS_BALANCE - 5)

    response = till.post(PURCHASES, sale(member), format="json")  # would earn 100

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "points_balance_too_large"
    assert not Purchase.objects.exists()

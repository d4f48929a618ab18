"""Item bonuses are earned on items the money paid for: lines add up to the gross amount (within the policy's
tolerance), free lines earn no per-unit bonus, every item rule is capped per purchase, quantities are bounded.
Through the POS API, as a till (or a probe) would send them."""

from decimal import Decimal

import pytest

from members.models import Member, PointsEntry, Purchase, Role
from points.models import EarningRule, PointsPolicy
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

PURCHASES = "/api/v1/pos/purchases"
PREVIEW = "/api/v1/pos/purchases/preview"


@pytest.fixture
def till(store, pos_client_for):
    return pos_client_for(store)


@pytest.fixture
def skincare_rule(db):
    """20 points per skincare item bought, with no cap of its own."""
    return EarningRule.objects.create(
        name="Skincare +20 per item", kind=EarningRule.Kind.BONUS_CATEGORY, priority=40, category="skincare",
        bonus_points=20,
    )  # fmt: skip


def sale(member, *, gross, items, external_id="S-1"):
    return {
        "external_id": external_id,
        "payment_method": "card",
        "member_number": member.member_number,
        "gross_amount": gross,
        "items": items,
    }


def cart(member, *, gross, items):
    return {"member_number": member.member_number, "gross_amount": gross, "items": items}


def line(*, quantity=1, unit_price, category="skincare", sku="SK-1"):
    return {"sku": sku, "category": category, "quantity": quantity, "unit_price": unit_price}


def nothing_written():
    return not Purchase.objects.exists() and not PointsEntry.objects.exists()


# -- the probe ---------------------------------------------------------------------------------------------------
def test_the_probe_of_100000_free_items_on_a_sale_of_10_is_refused(till, member, policy, base_rule, skincare_rule):
    body = sale(member, gross="10.00", items=[line(quantity=100_000, unit_price="0.00")])

    response = till.post(PURCHASES, body, format="json")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_input"
    assert any(name.startswith("items") for name in response.json()["error"]["fields"])
    assert nothing_written()
    assert Member.objects.get(pk=member.pk).points_balance == 0


@pytest.mark.parametrize("path", [PURCHASES, PREVIEW])
def test_free_items_that_do_not_add_up_to_the_gross_amount_are_refused(
    till, member, policy, base_rule, skincare_rule, path
):
    items = [line(quantity=9_999, unit_price="0.00")]
    body = sale(member, gross="10.00", items=items) if path == PURCHASES else cart(member, gross="10.00", items=items)

    response = till.post(path, body, format="json")

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "items_inconsistent"
    assert list(error["fields"]) == ["items"]
    assert nothing_written()


@pytest.mark.parametrize("path", [PURCHASES, PREVIEW])
def test_a_line_above_what_a_purchase_can_store_is_refused_though_within_the_tolerance(
    till, member, policy, base_rule, path
):
    # the gross amount at its largest, paid but for a cent; one line of 2 units a little above half of it
    items = [line(quantity=2, unit_price="5000000000.49", category="tops")]
    body = (
        sale(member, gross="9999999999.99", items=items)
        if path == PURCHASES
        else cart(member, gross="9999999999.99", items=items)
    )

    response = till.post(path, body, format="json")

    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["code"], list(error["fields"])) == ("invalid_input", ["items"])
    assert "Line 1" in error["fields"]["items"][0]
    assert nothing_written()


def test_a_free_line_earns_no_per_item_bonus(till, member, policy, base_rule, skincare_rule):
    items = [line(unit_price="10.00", category="tops", sku="T-1"), line(quantity=9_999, unit_price="0.00")]

    response = till.post(PURCHASES, sale(member, gross="10.00", items=items), format="json")

    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["points_earned"] == 1  # HK$10 at HK$100 = 10 points; the free skincare earns nothing
    assert [step["kind"] for step in body["breakdown"]["rules"]] == ["base_rate"]


def test_priced_items_of_the_category_earn_their_bonus(till, member, policy, base_rule, skincare_rule):
    items = [line(quantity=3, unit_price="100.00")]

    response = till.post(PURCHASES, sale(member, gross="300.00", items=items), format="json")

    assert response.status_code == 201, response.json()
    assert response.json()["points_earned"] == 30 + 3 * 20


# -- caps --------------------------------------------------------------------------------------------------------
def test_a_rule_cap_limits_its_bonus_and_the_breakdown_says_so(till, member, policy, skincare_rule):
    EarningRule.objects.filter(pk=skincare_rule.pk).update(max_points_per_purchase=50)
    items = [line(quantity=5, unit_price="100.00")]

    response = till.post(PURCHASES, sale(member, gross="500.00", items=items), format="json")

    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["points_earned"] == 50
    assert body["breakdown"]["rules"] == [
        {
            "rule_id": skincare_rule.pk,
            "name": "Skincare +20 per item",
            "kind": "bonus_category",
            "points": 50,
            "capped": True,
            "points_before_cap": 100,
        }
    ]


def test_an_item_rule_without_a_cap_of_its_own_is_capped_by_the_policy(till, member, policy, skincare_rule):
    PointsPolicy.objects.filter(pk=policy.pk).update(item_bonus_cap=30)
    items = [line(quantity=5, unit_price="100.00")]

    response = till.post(PREVIEW, cart(member, gross="500.00", items=items), format="json")

    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["points_earned"] == 30
    assert body["breakdown"]["rules"][0]["points_before_cap"] == 100


def test_the_policy_caps_item_rules_by_default(policy):
    assert policy.item_bonus_cap == 1000


def test_an_uncapped_step_has_no_cap_keys(till, member, policy, base_rule):
    response = till.post(PREVIEW, cart(member, gross="500.00", items=[]), format="json")

    assert response.json()["breakdown"]["rules"] == [
        {"rule_id": base_rule.pk, "name": "HK$100 = 10 points", "kind": "base_rate", "points": 50}
    ]


# -- the tolerance, both sides -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("lines_total", "accepted"),
    [("100.00", True), ("99.00", True), ("101.00", True), ("98.99", False), ("101.01", False)],
)
@pytest.mark.parametrize("path", [PURCHASES, PREVIEW])
def test_items_must_add_up_to_the_gross_amount_within_the_policy_tolerance(
    till, member, policy, base_rule, path, lines_total, accepted
):
    items = [line(unit_price=lines_total, category="tops")]
    body = sale(member, gross="100.00", items=items) if path == PURCHASES else cart(member, gross="100.00", items=items)

    response = till.post(path, body, format="json")

    if accepted:
        assert response.status_code in (200, 201), response.json()
    else:
        assert response.status_code == 400
        assert response.json()["error"]["code"] == "items_inconsistent"


def test_the_tolerance_comes_from_the_policy(till, member, policy, base_rule):
    PointsPolicy.objects.filter(pk=policy.pk).update(items_tolerance=Decimal("5.00"))
    items = [line(unit_price="95.00", category="tops")]

    response = till.post(PURCHASES, sale(member, gross="100.00", items=items), format="json")

    assert response.status_code == 201, response.json()


def test_a_cart_without_items_is_not_checked_against_them(till, member, policy, base_rule):
    response = till.post(PURCHASES, sale(member, gross="100.00", items=[]), format="json")

    assert response.status_code == 201, response.json()


# -- quantities --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("quantity", [0, -1, 10_000, 100_000])
def test_a_quantity_out_of_range_is_refused(till, member, policy, base_rule, quantity):
    items = [line(quantity=quantity, unit_price="1.00")]

    response = till.post(PREVIEW, cart(member, gross="1.00", items=items), format="json")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_input"


# -- the console -------------------------------------------------------------------------------------------------
def test_the_policy_page_shows_the_purchase_limits_with_their_help(client, policy):
    client.force_login(UserFactory(role=Role.MERCHANT_ADMIN))

    page = client.get(f"/console/points/pointspolicy/{policy.pk}/change/").content.decode()

    for name in ("max_points_per_purchase", "items_tolerance", "item_bonus_cap"):
        assert f'name="{name}"' in page
        assert str(PointsPolicy._meta.get_field(name).help_text) in page


def test_the_rule_page_explains_the_cap_per_purchase(client, skincare_rule):
    client.force_login(UserFactory(role=Role.MERCHANT_ADMIN))

    page = client.get(f"/console/points/earningrule/{skincare_rule.pk}/change/").content.decode()

    assert 'name="max_points_per_purchase"' in page
    assert "category and SKU bonuses are capped by the points policy" in page

"""The console for the points engine: the policy singleton, rules with readable errors, scoped refunds."""

from decimal import Decimal

import pytest

from members.models import Role
from points.models import EarningRule, PointsPolicy
from points.services.checkout import purchase_refund
from tests.factories import StoreFactory, UserFactory, checkout_sale

pytestmark = pytest.mark.django_db


@pytest.fixture
def merchant_admin(client):
    client.force_login(UserFactory(role=Role.MERCHANT_ADMIN))
    return client


def test_the_policy_list_opens_the_one_policy_row(merchant_admin):
    response = merchant_admin.get("/console/points/pointspolicy/")

    assert response.status_code == 302
    assert response["Location"] == "/console/points/pointspolicy/1/change/"


def test_the_policy_form_saves_statuses_and_the_matching_order(merchant_admin):
    policy = PointsPolicy.load()
    form = {
        "checkout_points": 1000,
        "checkout_value": "5.00",
        "max_points_share_percent": "30",
        "pending_days": 3,
        "multiplier_stacking": "add",
        "max_points_per_purchase": 1_000_000,
        "items_tolerance": "1.00",
        "item_bonus_cap": 1000,
        "earning_statuses": ["active", "frozen"],
        "spending_statuses": ["active"],
        "expiry_mode": "months_end",
        "expiry_months": 12,
        "reminder_days": 14,
        "refund_policy": "reverse_within_balance",
        "member_match_order": "phone, card_code",
    }

    response = merchant_admin.post(f"/console/points/pointspolicy/{policy.pk}/change/", form)

    assert response.status_code == 302, response.context["adminform"].form.errors
    policy.refresh_from_db()
    assert (policy.earning_statuses, policy.member_match_order, policy.checkout_points) == (
        ["active", "frozen"],
        ["phone", "card_code"],
        1000,
    )


def test_the_policy_forms_help_is_in_the_staff_members_language(merchant_admin):
    policy = PointsPolicy.load()

    page = merchant_admin.get(f"/console/points/pointspolicy/{policy.pk}/change/", HTTP_ACCEPT_LANGUAGE="zh-hant")

    assert "以逗號分隔，按此次序嘗試：" in page.content.decode()


def test_a_rule_missing_its_parameters_is_refused_with_a_message_on_the_field(merchant_admin):
    response = merchant_admin.post(
        "/console/points/earningrule/add/", {"name": "Double", "kind": "multiplier", "priority": 5, "rounding": "floor"}
    )

    assert response.status_code == 200
    assert response.context["adminform"].form.errors["multiplier"] == [
        "Give a multiplier greater than 1, e.g. 2 for double points."
    ]
    assert EarningRule.objects.count() == 0


def test_rules_are_listed_by_priority(merchant_admin):
    for priority in (30, 10, 20):
        EarningRule.objects.create(
            name=f"bonus {priority}", kind="bonus_first_purchase", priority=priority, bonus_points=1
        )

    response = merchant_admin.get("/console/points/earningrule/")

    assert [rule.priority for rule in response.context["cl"].result_list] == [10, 20, 30]


def test_store_staff_see_only_their_stores_refunds(client, member, now):
    PointsPolicy.load()
    stores = [StoreFactory(code="central"), StoreFactory(code="tst")]
    for store in stores:
        checkout_sale(store=store, member=member, now=now, external_id="S-1", gross_amount=Decimal(100))
        purchase_refund(
            store_id=store.pk, channel="pos", purchase_external_id="S-1", refund_external_id=f"R-{store.code}",
            amount=Decimal(10), now=now,
        )  # fmt: skip
    client.force_login(UserFactory(role=Role.MERCHANT_ADMIN, store=stores[0]))

    response = client.get("/console/points/purchaserefund/")

    assert [refund.external_id for refund in response.context["cl"].result_list] == ["R-central"]

"""Paid plans through the member API: plans on sale, purchase (idempotent by payment id), own periods only,
refusals (bad or unknown plan, a payment id already used, no token)."""

from datetime import timedelta
from decimal import Decimal

import pytest

from members.models import MemberPlanSubscription
from tests.factories import MemberFactory, MembershipPlanFactory, TierFactory

pytestmark = pytest.mark.django_db
PURCHASES = "/api/v1/me/plans/purchases"


@pytest.fixture
def gold():
    TierFactory(code="V1", name="Silver", rank=1)
    return TierFactory(code="V2", name="Gold", rank=2, min_score_to_reach=1000, min_score_to_keep=800)


@pytest.fixture
def plan(gold):
    return MembershipPlanFactory(name="Gold 30 days", tier=gold, price=Decimal("388.00"), duration_value=30)


def payload(plan_id, transaction_id="wx-1"):
    return {"plan": plan_id, "provider": "wechat_pay_hk", "transaction_id": transaction_id}


def test_plans_lists_the_plans_on_sale(member_client, plan, gold, now):
    MembershipPlanFactory(tier=gold, is_active=False)
    MembershipPlanFactory(tier=gold, sale_ends_at=now - timedelta(days=1))

    body = member_client(MemberFactory()).get("/api/v1/plans").json()

    assert body == [
        {
            "id": plan.pk, "name": "Gold 30 days", "description": "", "price": "388.00", "currency": "HKD",
            "duration_value": 30, "duration_unit": "days", "tier": {"code": "V2", "name": "Gold", "rank": 2},
            "sale_ends_at": None,
        }
    ]  # fmt: skip


def test_purchase_answers_201_then_a_replay_answers_200_with_the_same_subscription(member_client, plan):
    client = member_client(MemberFactory())

    first = client.post(PURCHASES, payload(plan.pk), format="json")
    replay = client.post(PURCHASES, payload(plan.pk), format="json")

    assert (first.status_code, replay.status_code) == (201, 200)
    body = first.json()
    subscription = MemberPlanSubscription.objects.get()
    assert body["replayed"] is False
    assert body["subscription"] == {
        "id": subscription.pk, "source": "plan", "plan": plan.pk, "plan_name": "Gold 30 days",
        "tier": {"code": "V2", "name": "Gold", "rank": 2}, "price": "388.00", "currency": "HKD",
        "starts_at": body["subscription"]["starts_at"], "ends_at": body["subscription"]["ends_at"],
        "provider": "wechat_pay_hk", "transaction_id": "wx-1",
    }  # fmt: skip
    assert {**replay.json(), "replayed": False} == body
    assert MemberPlanSubscription.objects.count() == 1


def test_a_member_sees_only_their_own_plans(member_client, plan):
    alice, bob = MemberFactory(), MemberFactory()
    member_client(alice).post(PURCHASES, payload(plan.pk), format="json")

    bob_sees = member_client(bob).get("/api/v1/me/plans").json()
    alice_sees = member_client(alice).get("/api/v1/me/plans").json()

    assert bob_sees == []
    assert [row["transaction_id"] for row in alice_sees] == ["wx-1"]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"plan": -1}, "plan"),
        ({"plan": 0}, "plan"),
        ({"plan": "gold"}, "plan"),
        ({"provider": "Bad Provider!"}, "provider"),
        ({"transaction_id": ""}, "transaction_id"),
        ({"price": "1"}, "price"),
    ],
)
def test_purchase_with_bad_input_is_refused_and_writes_nothing(member_client, plan, changes, field):
    response = member_client(MemberFactory()).post(PURCHASES, {**payload(plan.pk), **changes}, format="json")

    assert (response.status_code, response.json()["error"]["code"]) == (400, "invalid_input")
    assert list(response.json()["error"]["fields"]) == [field]
    assert MemberPlanSubscription.objects.count() == 0


def test_purchase_of_an_unknown_plan_is_refused(member_client, plan):
    response = member_client(MemberFactory()).post(PURCHASES, payload(plan.pk + 1000), format="json")

    assert (response.status_code, response.json()["error"]["code"]) == (404, "plan_unavailable")
    assert MemberPlanSubscription.objects.count() == 0


def test_a_payment_id_used_by_another_member_is_refused(member_client, plan):
    member_client(MemberFactory()).post(PURCHASES, payload(plan.pk), format="json")

    response = member_client(MemberFactory()).post(PURCHASES, payload(plan.pk), format="json")

    assert (response.status_code, response.json()["error"]["code"]) == (409, "payment_already_used")
    assert MemberPlanSubscription.objects.count() == 1


@pytest.mark.parametrize(("method", "url"), [("get", "/api/v1/plans"), ("get", "/api/v1/me/plans"),
                                            ("post", PURCHASES)])  # fmt: skip
def test_plans_need_a_member_token(api_client, method, url):
    response = getattr(api_client, method)(url)

    assert response.status_code == 401


def test_me_tier_says_which_plan_holds_the_tier_and_until_when_renewals_included(member_client, plan):
    member = MemberFactory()
    client = member_client(member)
    first = client.post(PURCHASES, payload(plan.pk, "wx-1"), format="json").json()["subscription"]
    renewal = client.post(PURCHASES, payload(plan.pk, "wx-2"), format="json").json()["subscription"]

    held = client.get("/api/v1/me/tier").json()["held"]

    assert renewal["starts_at"] == first["ends_at"]
    assert held == {"source": "plan", "plan_name": "Gold 30 days", "until": renewal["ends_at"]}


def test_me_tier_shows_no_hold_without_a_running_plan(member_client, gold):
    assert member_client(MemberFactory(tier=gold)).get("/api/v1/me/tier").json()["held"] is None

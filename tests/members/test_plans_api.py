"""Paid plans through the member API: plans on sale, purchase (idempotent by payment id, recorded once WeChat
Pay confirms the member paid the price), own periods only, refusals (bad or unknown plan, a payment not
confirmed or already used, no token)."""

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


def test_purchase_answers_201_then_a_replay_answers_200_with_the_same_subscription(member_client, plan, wechat_payer):
    client = member_client(wechat_payer(cents=38800))

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


def test_a_member_sees_only_their_own_plans(member_client, plan, wechat_payer):
    alice, bob = wechat_payer(cents=38800), MemberFactory()
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
        ({"provider": "alipay_hk"}, "provider"),  # a payment this system cannot confirm
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


def test_a_payment_id_used_by_another_member_is_refused(member_client, plan, wechat_payer):
    member_client(wechat_payer(cents=38800)).post(PURCHASES, payload(plan.pk), format="json")

    response = member_client(MemberFactory()).post(PURCHASES, payload(plan.pk), format="json")

    assert (response.status_code, response.json()["error"]["code"]) == (409, "payment_already_used")
    assert MemberPlanSubscription.objects.count() == 1


@pytest.mark.parametrize(("method", "url"), [("get", "/api/v1/plans"), ("get", "/api/v1/me/plans"),
                                            ("post", PURCHASES)])  # fmt: skip
def test_plans_need_a_member_token(api_client, method, url):
    response = getattr(api_client, method)(url)

    assert response.status_code == 401


def test_me_tier_says_which_plan_holds_the_tier_and_until_when_renewals_included(
    member_client, plan, wechat_payer, wechat_pay
):
    member = wechat_payer("wx-1", cents=38800)
    wechat_pay.add_order("wx-2", total=38800, openid=member.wechat_openid)
    client = member_client(member)
    first = client.post(PURCHASES, payload(plan.pk, "wx-1"), format="json").json()["subscription"]
    renewal = client.post(PURCHASES, payload(plan.pk, "wx-2"), format="json").json()["subscription"]

    held = client.get("/api/v1/me/tier").json()["held"]

    assert renewal["starts_at"] == first["ends_at"]
    assert held == {"source": "plan", "plan_name": "Gold 30 days", "until": renewal["ends_at"]}


def test_me_tier_shows_no_hold_without_a_running_plan(member_client, gold):
    assert member_client(MemberFactory(tier=gold)).get("/api/v1/me/tier").json()["held"] is None


def test_a_plan_paid_for_less_than_its_price_is_refused(member_client, plan, wechat_payer):
    response = member_client(wechat_payer(cents=100)).post(PURCHASES, payload(plan.pk), format="json")

    assert (response.status_code, response.json()["error"]["code"]) == (422, "payment_amount_mismatch")
    assert MemberPlanSubscription.objects.count() == 0


def test_a_payment_that_paid_a_top_up_cannot_pay_a_plan_too(member_client, plan, wechat_payer):
    from tests.factories import TopUpOfferFactory

    offer = TopUpOfferFactory(pay_amount=Decimal("388.00"), bonus_amount=Decimal(0))
    client = member_client(wechat_payer(cents=38800))
    topped_up = client.post(
        "/api/v1/me/stored-value/top-ups",
        {"offer": offer.pk, "provider": "wechat_pay_hk", "transaction_id": "wx-1"},
        format="json",
    )

    response = client.post(PURCHASES, payload(plan.pk), format="json")

    assert topped_up.status_code == 201
    assert (response.status_code, response.json()["error"]["code"]) == (409, "payment_already_used")
    assert MemberPlanSubscription.objects.count() == 0

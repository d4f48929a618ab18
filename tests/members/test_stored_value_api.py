"""Stored value through the member API: balance, own ledger only, offers, top-ups (idempotent by payment id,
recorded only once WeChat Pay confirms the member paid the offer's price)."""

from decimal import Decimal

import pytest

from members.models import StoredValueEntry
from tests.factories import MemberFactory, TopUpOfferFactory

pytestmark = pytest.mark.django_db
TOP_UPS = "/api/v1/me/stored-value/top-ups"


@pytest.fixture
def offer():
    return TopUpOfferFactory(name="HK$1,000 + HK$100", pay_amount=Decimal("1000.00"), bonus_amount=Decimal("100.00"))


def payload(offer, transaction_id="wx-1"):
    return {"offer": offer.pk, "provider": "wechat_pay_hk", "transaction_id": transaction_id}


def test_top_up_answers_201_then_a_replay_answers_200_with_the_same_result(
    member_client, offer, wechat_payer, wechat_pay
):
    client = member_client(wechat_payer())

    first = client.post(TOP_UPS, payload(offer), format="json")
    replay = client.post(TOP_UPS, payload(offer), format="json")

    assert (first.status_code, replay.status_code) == (201, 200)
    body = first.json()
    assert (body["balance"], body["currency"], body["replayed"]) == ("1100.00", "HKD", False)
    assert (body["top_up"]["kind"], body["top_up"]["amount"], body["bonus"]["amount"]) == (
        "top_up",
        "1000.00",
        "100.00",
    )
    assert {**replay.json(), "replayed": False} == body
    assert StoredValueEntry.objects.count() == 2
    assert len(wechat_pay.requests) == 1  # the replay was not asked about again


@pytest.mark.parametrize(
    ("order", "code"),
    [
        ({"total": 100000, "openid": "o-someone-else"}, "payment_not_confirmed"),
        ({"total": 100000, "openid": "o-buyer", "trade_state": "NOTPAY"}, "payment_not_confirmed"),
        ({"total": 100, "openid": "o-buyer"}, "payment_amount_mismatch"),
        (None, "payment_not_confirmed"),
    ],
)
def test_a_top_up_wechat_pay_does_not_confirm_credits_nothing(member_client, offer, wechat_pay, order, code):
    if order:
        wechat_pay.add_order("wx-1", **order)

    response = member_client(MemberFactory(wechat_openid="o-buyer")).post(TOP_UPS, payload(offer), format="json")

    assert (response.status_code, response.json()["error"]["code"]) == (422, code)
    assert list(response.json()["error"]["fields"]) == ["transaction_id"]
    assert StoredValueEntry.objects.count() == 0


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"provider": "Bad Provider!"}, "provider"),
        ({"provider": "payme"}, "provider"),  # a payment this system cannot confirm
        ({"transaction_id": ""}, "transaction_id"),
        ({"amount": "5"}, "amount"),
    ],
)
def test_top_up_with_bad_input_is_refused_and_writes_nothing(member_client, offer, changes, field):
    response = member_client(MemberFactory()).post(TOP_UPS, {**payload(offer), **changes}, format="json")

    assert (response.status_code, response.json()["error"]["code"]) == (400, "invalid_input")
    assert list(response.json()["error"]["fields"]) == [field]
    assert StoredValueEntry.objects.count() == 0


def test_top_up_with_an_inactive_offer_is_refused(member_client):
    offer = TopUpOfferFactory(is_active=False)

    response = member_client(MemberFactory()).post(TOP_UPS, payload(offer), format="json")

    assert (response.status_code, response.json()["error"]["code"]) == (404, "top_up_offer_unavailable")


def test_a_payment_id_replayed_by_another_member_is_refused(member_client, offer, wechat_payer):
    member_client(wechat_payer()).post(TOP_UPS, payload(offer), format="json")

    response = member_client(MemberFactory()).post(TOP_UPS, payload(offer), format="json")

    assert (response.status_code, response.json()["error"]["code"]) == (409, "payment_already_used")
    assert StoredValueEntry.objects.count() == 2


def test_a_member_sees_only_their_own_balance_and_entries(member_client, offer, wechat_payer):
    alice, bob = wechat_payer(), MemberFactory()
    member_client(alice).post(TOP_UPS, payload(offer), format="json")
    bob_client = member_client(bob)

    balance = bob_client.get("/api/v1/me/stored-value").json()
    listed = bob_client.get("/api/v1/me/stored-value/entries").json()
    alice_listed = member_client(alice).get("/api/v1/me/stored-value/entries").json()

    assert balance == {"balance": "0.00", "currency": "HKD"}
    assert listed["results"] == []
    assert [(e["kind"], e["amount"], e["balance_after"]) for e in alice_listed["results"]] == [
        ("bonus", "100.00", "1100.00"), ("top_up", "1000.00", "1000.00"),
    ]  # fmt: skip


def test_offers_lists_the_available_offers(member_client, offer):
    TopUpOfferFactory(is_active=False)

    body = member_client(MemberFactory()).get("/api/v1/stored-value/offers").json()

    assert body == [{"id": offer.pk, "name": "HK$1,000 + HK$100", "pay_amount": "1000.00", "bonus_amount": "100.00",
                     "valid_until": None, "tier": None, "tier_duration_value": None,
                     "tier_duration_unit": "months"}]  # fmt: skip


def test_stored_value_needs_a_member_token(api_client):
    response = api_client.get("/api/v1/me/stored-value")

    assert (response.status_code, response.json()["error"]["code"]) == (401, "not_authenticated")

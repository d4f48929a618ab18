"""The points API through HTTP with real credentials: POS purchases, refunds, previews; a member's points."""

import pytest

from members.models import PointsEntry, Purchase
from members.selectors import member_card_get
from points.models import PointsPolicy
from tests.factories import MemberFactory, StoreFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def till(store, pos_client_for):
    return pos_client_for(store)


def sale_body(member, **overrides):
    body = {
        "external_id": "S-1",
        "gross_amount": "1000.00",
        "payment_method": "card",
        "member_number": member.member_number,
        "items": [{"sku": "A1", "category": "skincare", "quantity": 2, "unit_price": "500.00"}],
    }
    body.update(overrides)
    return body


def test_pos_posts_a_purchase_and_gets_points_with_their_breakdown(till, member, base_rule, policy):
    response = till.post("/api/v1/pos/purchases", sale_body(member), format="json")

    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["points_earned"], body["points_balance"], body["paid_amount"]) == (100, 100, "1000.00")
    assert body["breakdown"]["rules"] == [
        {"rule_id": base_rule.pk, "name": "HK$100 = 10 points", "kind": "base_rate", "points": 100}
    ]
    assert "Idempotent-Replayed" not in response


def test_pos_replay_returns_the_first_answer_and_another_body_is_refused(till, member, base_rule, policy):
    first = till.post("/api/v1/pos/purchases", sale_body(member), format="json")

    again = till.post("/api/v1/pos/purchases", sale_body(member), format="json")
    other = till.post("/api/v1/pos/purchases", sale_body(member, gross_amount="999.00"), format="json")

    assert (again.status_code, again.json(), again["Idempotent-Replayed"]) == (201, first.json(), "true")
    assert other.status_code == 422
    assert other.json()["error"]["code"] == "idempotency_key_reused"
    assert Purchase.objects.count() == 1


def test_pos_matches_the_member_by_a_card_code(till, member, base_rule, policy, now):
    body = sale_body(member, card_code=member_card_get(member=member, now=now).card_code)
    del body["member_number"]

    response = till.post("/api/v1/pos/purchases", body, format="json")

    assert (response.status_code, response.json()["member_number"]) == (201, member.member_number)


def test_pos_matching_falls_back_to_the_next_identifier_when_one_fails(till, member, base_rule, policy):
    response = till.post("/api/v1/pos/purchases", sale_body(member, card_code="123456789012345678"), format="json")

    assert (response.status_code, response.json()["member_number"]) == (201, member.member_number)


def test_pos_matching_tries_identifiers_in_the_policys_order(till, member, base_rule, policy):
    other = MemberFactory(phone="+85261234567")
    policy.member_match_order = ["phone", "member_number"]
    policy.save()

    response = till.post("/api/v1/pos/purchases", sale_body(member, phone=other.phone), format="json")

    assert response.json()["member_number"] == other.member_number


def test_pos_matching_falls_back_when_a_well_formed_identifier_matches_no_member(till, member, base_rule, policy):
    # The checkout locks the member by each identifier in turn: a number nobody holds lets the phone be tried.
    other = MemberFactory(phone="+85261234567")
    policy.member_match_order = ["member_number", "phone"]
    policy.save()
    body = sale_body(member, member_number="0000000000", phone=other.phone)

    cart = {name: value for name, value in body.items() if name not in ("external_id", "payment_method")}
    preview = till.post("/api/v1/pos/purchases/preview", cart, format="json")
    response = till.post("/api/v1/pos/purchases", body, format="json")

    assert preview.status_code == 200, preview.json()
    assert (response.status_code, response.json()["member_number"]) == (201, other.member_number)
    assert Purchase.objects.get().member_id == other.pk


def test_pos_matching_answers_the_first_failure_when_every_identifier_fails(till, member, policy):
    policy.member_match_order = ["member_number", "phone"]
    policy.save()
    body = sale_body(member, member_number="0000000000", phone="not a phone")

    response = till.post("/api/v1/pos/purchases", body, format="json")

    assert (response.status_code, response.json()["error"]["code"]) == (404, "not_found")
    assert Purchase.objects.count() == 0


def test_pos_matching_refuses_an_identifier_the_policy_does_not_use(till, member, policy):
    policy.member_match_order = ["card_code"]
    policy.save()

    response = till.post("/api/v1/pos/purchases", sale_body(member), format="json")
    in_chinese = till.post("/api/v1/pos/purchases", sale_body(member), format="json", HTTP_ACCEPT_LANGUAGE="zh-hant")

    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {
        "member_number": ["The points policy does not match purchases by this identifier."]
    }
    assert in_chinese.json()["error"]["fields"] == {"member_number": ["積分政策不以此識別碼配對消費。"]}


def test_pos_spending_too_many_points_is_refused_with_a_clear_code(till, member, give_points, policy):
    give_points(member, 100)

    response = till.post("/api/v1/pos/purchases", sale_body(member, points_to_spend=101), format="json")

    assert (response.status_code, response.json()["error"]["code"]) == (409, "insufficient_points")
    assert Purchase.objects.count() == 0


@pytest.mark.parametrize("amount", ["0", "-1"])
def test_pos_zero_or_negative_amounts_are_refused(till, member, amount):
    response = till.post("/api/v1/pos/purchases", sale_body(member, gross_amount=amount), format="json")

    assert (response.status_code, list(response.json()["error"]["fields"])) == (400, ["gross_amount"])


def test_pos_unknown_member_is_not_found(till, member):
    response = till.post("/api/v1/pos/purchases", sale_body(member, member_number="0000000000"), format="json")

    assert (response.status_code, response.json()["error"]["code"]) == (404, "not_found")
    assert Purchase.objects.count() == 0


def test_pos_refund_returns_points_and_is_idempotent(till, member, base_rule, give_points, policy):
    give_points(member, 5000)
    till.post("/api/v1/pos/purchases", sale_body(member, points_to_spend=5000), format="json")

    first = till.post("/api/v1/pos/purchases/S-1/refunds", {"refund_id": "R-1", "amount": "500.00"}, format="json")
    again = till.post("/api/v1/pos/purchases/S-1/refunds", {"refund_id": "R-1", "amount": "500.00"}, format="json")

    assert first.status_code == 201, first.json()
    assert first.json() == again.json()
    assert first.json() == {
        "refund_id": "R-1",
        "external_id": "S-1",
        "amount": "500.00",
        "purchase_status": "partially_refunded",
        "points_returned": 2500,
        "points_value_returned": "25.00",
        "points_reversed": 48,
        "points_pending_cancelled": 0,
        "points_forgiven": 0,
        "points_debt_recorded": 0,
        "stored_value_returned": "0.00",
        "coupons_restored": [],
        "coupons_voided": [],
    }


def test_a_replayed_pos_refund_reports_the_purchases_status_as_it_is_now(till, member, base_rule, policy):
    till.post("/api/v1/pos/purchases", sale_body(member), format="json")
    first = till.post("/api/v1/pos/purchases/S-1/refunds", {"refund_id": "R-1", "amount": "400.00"}, format="json")
    till.post("/api/v1/pos/purchases/S-1/refunds", {"refund_id": "R-2", "amount": "600.00"}, format="json")

    again = till.post("/api/v1/pos/purchases/S-1/refunds", {"refund_id": "R-1", "amount": "400.00"}, format="json")

    assert (first.json()["purchase_status"], again.status_code) == ("partially_refunded", 201)
    assert again.json() == {**first.json(), "purchase_status": "refunded"}


def test_pos_refund_larger_than_the_purchase_is_refused(till, member, base_rule, policy):
    till.post("/api/v1/pos/purchases", sale_body(member), format="json")

    response = till.post("/api/v1/pos/purchases/S-1/refunds", {"refund_id": "R-1", "amount": "1000.01"}, format="json")

    assert (response.status_code, response.json()["error"]["code"]) == (422, "refund_exceeds_purchase")


def test_a_pos_key_cannot_refund_another_stores_purchase(till, member, base_rule, policy, pos_client_for):
    till.post("/api/v1/pos/purchases", sale_body(member), format="json")
    other_till = pos_client_for(StoreFactory(code="tst"))

    response = other_till.post("/api/v1/pos/purchases/S-1/refunds", {"refund_id": "R-1", "amount": "10"}, format="json")

    assert (response.status_code, response.json()["error"]["code"]) == (404, "not_found")
    assert Purchase.objects.get().status == "completed"


def test_a_pos_purchase_is_always_recorded_for_the_keys_store(till, store, member, policy):
    response = till.post("/api/v1/pos/purchases", sale_body(member, store_id=999), format="json")

    assert response.status_code == 400  # no store field: the key decides
    till.post("/api/v1/pos/purchases", sale_body(member), format="json")
    assert Purchase.objects.get().store_id == store.pk


def test_a_closed_stores_key_is_refused(store, member, pos_client_for):
    till = pos_client_for(store)
    store.is_active = False
    store.save()

    response = till.post("/api/v1/pos/purchases", sale_body(member), format="json")

    assert response.status_code == 401


def test_a_member_token_cannot_post_purchases(member, member_client):
    response = member_client(member).post("/api/v1/pos/purchases", sale_body(member), format="json")

    assert (response.status_code, response.json()["error"]["code"]) == (401, "authentication_failed")


def test_pos_preview_prices_without_writing(till, member, base_rule, give_points, policy):
    give_points(member, 3000)

    response = till.post(
        "/api/v1/pos/purchases/preview",
        {"gross_amount": "1000.00", "member_number": member.member_number, "points_to_spend": 1000},
        format="json",
    )

    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["points_earned"], body["points_value"], body["max_points_spendable"]) == (99, "10.00", 3000)
    assert Purchase.objects.count() == 0


def test_member_sees_balances_and_lots_with_expiry(member, member_client, give_points, policy, now):
    PointsPolicy.objects.filter(pk=1).update(expiry_mode="days", expiry_days=30)
    give_points(member, 120)

    body = member_client(member).get("/api/v1/me/points").json()

    assert (body["balance"], body["pending"], body["debt"], body["checkout_points"]) == (120, 0, 0, 500)
    assert [(lot["remaining"], lot["is_pending"], lot["kind"]) for lot in body["lots"]] == [(120, False, "accrual")]


def test_member_sees_only_their_own_entries_with_breakdowns(member, member_client, till, base_rule, policy):
    till.post("/api/v1/pos/purchases", sale_body(member), format="json")
    stranger = MemberFactory()
    till.post("/api/v1/pos/purchases", sale_body(stranger, external_id="S-2"), format="json")

    body = member_client(member).get("/api/v1/me/points/entries").json()

    assert [entry["points"] for entry in body["results"]] == [100]
    assert body["results"][0]["purchase_external_id"] == "S-1"
    assert body["results"][0]["breakdown"]["rules"][0]["rule_id"] == base_rule.pk
    assert PointsEntry.objects.count() == 2


def test_member_entries_are_cursor_paginated_newest_first(member, member_client, give_points):
    for index in range(5):
        give_points(member, index + 1, key=f"k{index}")
    client = member_client(member)

    first = client.get("/api/v1/me/points/entries", {"page_size": 3}).json()
    second = client.get(first["next"]).json()

    assert [entry["points"] for entry in first["results"]] == [5, 4, 3]
    assert [entry["points"] for entry in second["results"]] == [2, 1]
    assert second["next"] is None


def test_a_pos_key_cannot_read_a_members_points(till):
    response = till.get("/api/v1/me/points")

    assert (response.status_code, response.json()["error"]["code"]) == (401, "authentication_failed")


def test_points_without_a_token_are_refused(api_client):
    response = api_client.get("/api/v1/me/points/entries")

    assert (response.status_code, response.json()["error"]["code"]) == (401, "not_authenticated")

"""The coupon API through HTTP with real member tokens and POS keys."""

import time
from decimal import Decimal

import pytest

from coupons.models import Coupon, CouponTemplate
from coupons.services import coupons_void
from members.formats import card_code_for
from members.services.tokens import member_token_issue
from tests.coupons.factories import CouponTemplateFactory
from tests.factories import MemberFactory, StoreFactory

pytestmark = pytest.mark.django_db

D = Decimal


@pytest.fixture
def alice():
    return MemberFactory(name="Alice", phone="+85291234567")


@pytest.fixture
def bella():
    return MemberFactory(name="Bella", phone="+85291234568")


def error_code(response):
    return response.json()["error"]["code"]


# -- member ------------------------------------------------------------------------------------------------------
def test_claimable_lists_the_offers_the_member_may_claim(member_client, alice):
    offer = CouponTemplateFactory(name="Welcome", amount=D("30"), quota=100)
    CouponTemplateFactory(name="Closed", is_active=False)

    response = member_client(alice).get("/api/v1/coupons/claimable")

    assert response.status_code == 200
    body = response.json()
    assert [(row["id"], row["name"], row["label"], row["remaining"], row["claimed_count"]) for row in body] == [
        (offer.pk, "Welcome", "30.00 off", 100, 0)
    ]


def test_claiming_returns_the_new_coupon(member_client, alice):
    offer = CouponTemplateFactory(name="Welcome")

    response = member_client(alice).post("/api/v1/coupons/claim", {"template_id": offer.pk}, format="json")

    assert response.status_code == 201
    coupon = Coupon.objects.get(member=alice)
    assert (response.json()["id"], response.json()["code"], response.json()["status"]) == (
        coupon.pk,
        coupon.code,
        "available",
    )
    assert response.json()["template"]["name"] == "Welcome"


def test_a_second_claim_over_the_limit_answers_limit_reached(member_client, alice):
    offer = CouponTemplateFactory(per_member_limit=1)
    client = member_client(alice)
    client.post("/api/v1/coupons/claim", {"template_id": offer.pk}, format="json")

    response = client.post("/api/v1/coupons/claim", {"template_id": offer.pk}, format="json")

    assert response.status_code == 409
    assert response.json() == {
        "error": {
            "code": "limit_reached",
            "message": "You already hold as many of these coupons as one member may.",
            "fields": {},
        }
    }


def test_a_sold_out_offer_answers_sold_out(member_client, alice, bella):
    offer = CouponTemplateFactory(quota=1)
    member_client(bella).post("/api/v1/coupons/claim", {"template_id": offer.pk}, format="json")

    response = member_client(alice).post("/api/v1/coupons/claim", {"template_id": offer.pk}, format="json")

    assert (response.status_code, error_code(response)) == (409, "sold_out")


def test_an_offer_outside_the_audience_answers_not_in_audience(member_client):
    visitor = MemberFactory(status="visitor", phone=None)
    offer = CouponTemplateFactory(audience=CouponTemplate.Audience.MEMBERS)

    response = member_client(visitor).post("/api/v1/coupons/claim", {"template_id": offer.pk}, format="json")

    assert (response.status_code, error_code(response)) == (403, "not_in_audience")


def test_claims_are_throttled_per_member(member_client, alice, settings):
    settings.COUPON_CLAIM_THROTTLE = "2/min"
    offer = CouponTemplateFactory(per_member_limit=None)
    client = member_client(alice)

    statuses = [
        client.post("/api/v1/coupons/claim", {"template_id": offer.pk}, format="json").status_code for _ in range(3)
    ]

    assert statuses == [201, 201, 429]


def test_claiming_needs_a_member_token(api_client):
    response = api_client.post("/api/v1/coupons/claim", {"template_id": 1}, format="json")

    assert (response.status_code, error_code(response)) == (401, "not_authenticated")


def test_my_coupons_lists_only_my_own(member_client, alice, bella, issue):
    offer = CouponTemplateFactory()
    mine = issue(offer, alice)
    issue(offer, bella)

    response = member_client(alice).get("/api/v1/me/coupons")

    assert response.status_code == 200
    assert [row["code"] for row in response.json()["results"]] == [mine.code]


def test_my_coupons_filters_by_status(member_client, alice, issue, now):
    offer = CouponTemplateFactory(per_member_limit=None)
    kept = issue(offer, alice)
    coupons_void(coupon_ids=[issue(offer, alice).pk], now=now)

    response = member_client(alice).get("/api/v1/me/coupons", {"status": "available"})

    assert [row["id"] for row in response.json()["results"]] == [kept.pk]


def test_validate_reports_each_coupon_and_the_best(member_client, alice, issue):
    StoreFactory(code="central")
    fits = issue(CouponTemplateFactory(name="fits", amount=D("15")), alice)
    issue(CouponTemplateFactory(name="big", kind="spend_x_save_y", amount=D("50"), min_spend=D("300")), alice)

    response = member_client(alice).post(
        "/api/v1/coupons/validate",
        {"amount": "120.00", "store": "central", "channel": "mini_program", "items": [{"sku": "A", "amount": "120"}]},
        format="json",
    )

    assert response.status_code == 200
    body = response.json()
    assert sorted(
        (row["coupon"]["template"]["name"], row["applicable"], row["discount_amount"], row["reason"])
        for row in body["coupons"]
    ) == [
        ("big", False, "0.00", "min_spend_not_met"),
        ("fits", True, "15.00", None),
    ]
    assert (body["best"]["coupon"]["id"], body["best"]["discount_amount"]) == (fits.pk, "15.00")


def test_validate_refuses_unknown_fields(member_client, alice):
    response = member_client(alice).post(
        "/api/v1/coupons/validate", {"amount": "1", "channel": "pos", "member_id": 9}, format="json"
    )

    assert (response.status_code, error_code(response), list(response.json()["error"]["fields"])) == (
        400,
        "invalid_input",
        ["member_id"],
    )


# -- POS ---------------------------------------------------------------------------------------------------------
def test_pos_validate_with_a_code_checks_that_coupon(pos_client, alice, issue):
    coupon = issue(CouponTemplateFactory(amount=D("20")), alice)

    response = pos_client.post(
        "/api/v1/pos/coupons/validate",
        {"phone": "+85291234567", "amount": "80", "code": coupon.code.lower()},
        format="json",
    )

    assert response.status_code == 200
    assert [
        (row["coupon"]["code"], row["applicable"], row["discount_amount"]) for row in response.json()["coupons"]
    ] == [(coupon.code, True, "20.00")]


def test_pos_validate_without_a_code_checks_every_coupon_the_named_member_holds(pos_client, alice, bella, issue):
    first = issue(CouponTemplateFactory(amount=D("20")), alice)
    second = issue(CouponTemplateFactory(amount=D("5")), alice)
    issue(CouponTemplateFactory(amount=D("50")), bella)

    response = pos_client.post(
        "/api/v1/pos/coupons/validate", {"member_number": alice.member_number, "amount": "80"}, format="json"
    )
    twice = pos_client.post(
        "/api/v1/pos/coupons/validate",
        {"member_number": alice.member_number, "phone": alice.phone, "amount": "80"},
        format="json",
    )

    assert response.status_code == 200
    assert sorted(row["coupon"]["code"] for row in response.json()["coupons"]) == sorted([first.code, second.code])
    assert response.json()["best"]["coupon"]["code"] == first.code
    assert (twice.status_code, error_code(twice), list(twice.json()["error"]["fields"])) == (
        400,
        "invalid_input",
        ["non_field_errors"],
    )


def test_pos_redeem_uses_the_coupon_in_the_keys_store(pos_client, till_store, alice, issue):
    coupon = issue(CouponTemplateFactory(name="Twenty", amount=D("20")), alice)

    response = pos_client.post(
        "/api/v1/pos/coupons/redeem",
        {"code": coupon.code, "member_number": alice.member_number, "amount": "80", "external_id": "S-1"},
        format="json",
    )

    assert response.status_code == 200
    body = response.json()
    assert (body["code"], body["member_number"], body["template_name"], body["discount_amount"], body["label"]) == (
        coupon.code,
        alice.member_number,
        "Twenty",
        "20.00",
        "20.00 off",
    )
    coupon.refresh_from_db()
    assert (coupon.status, coupon.redeemed_store_id, coupon.redeemed_channel, coupon.redeemed_reference) == (
        "redeemed",
        till_store.pk,
        "pos",
        "S-1",
    )


def test_pos_redeem_of_another_members_coupon_is_not_found(pos_client, alice, bella, issue):
    coupon = issue(CouponTemplateFactory(), bella)

    response = pos_client.post(
        "/api/v1/pos/coupons/redeem",
        {"code": coupon.code, "phone": "+85291234567", "amount": "80", "external_id": "S-1"},
        format="json",
    )

    # answered as an unknown code: a till learns nothing of codes its member does not hold
    assert (response.status_code, error_code(response)) == (404, "not_found")
    coupon.refresh_from_db()
    assert coupon.status == "available"


def test_pos_redeem_in_a_store_the_coupon_is_not_for_is_wrong_store(pos_client, alice, issue):
    coupon = issue(CouponTemplateFactory(stores=[StoreFactory(code="tst")]), alice)

    response = pos_client.post(
        "/api/v1/pos/coupons/redeem",
        {"code": coupon.code, "phone": "+85291234567", "amount": "80", "external_id": "S-1"},
        format="json",
    )

    assert (response.status_code, error_code(response)) == (422, "wrong_store")


def test_pos_redeem_with_a_mistyped_code_is_invalid_coupon_code(pos_client, alice, issue):
    code = issue(CouponTemplateFactory(), alice).code
    typo = code[:-2] + code[-1] + code[-2] if code[-1] != code[-2] else code[:-1] + ("X" if code[-1] != "X" else "Y")

    response = pos_client.post(
        "/api/v1/pos/coupons/redeem",
        {"code": typo, "phone": "+85291234567", "amount": "80", "external_id": "S-1"},
        format="json",
    )

    assert (response.status_code, error_code(response)) == (400, "invalid_coupon_code")


def test_pos_redeem_retried_with_the_same_idempotency_key_replays_the_answer(pos_client, alice, issue):
    coupon = issue(CouponTemplateFactory(), alice)
    payload = {"code": coupon.code, "phone": "+85291234567", "amount": "80", "external_id": "S-1"}

    first = pos_client.post("/api/v1/pos/coupons/redeem", payload, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    retry = pos_client.post("/api/v1/pos/coupons/redeem", payload, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    reused = pos_client.post(
        "/api/v1/pos/coupons/redeem", {**payload, "amount": "90"}, format="json", HTTP_IDEMPOTENCY_KEY="k-1"
    )

    assert (first.status_code, retry.status_code) == (200, 200)
    assert retry.json() == first.json()
    assert (reused.status_code, error_code(reused)) == (422, "idempotency_key_reused")


def test_pos_redeem_retried_with_the_next_card_code_replays_the_answer(pos_client, alice, issue):
    from members.models import IdempotencyRecord

    coupon = issue(CouponTemplateFactory(), alice)
    payload = {"code": coupon.code, "amount": "80", "external_id": "S-1"}
    now = time.time()  # the code of this minute, then of the next (both accepted now): the same member
    first, retry = (
        pos_client.post(
            "/api/v1/pos/coupons/redeem",
            {**payload, "card_code": card_code_for(alice.member_number, timestamp=now + offset)},
            format="json",
            HTTP_IDEMPOTENCY_KEY="k-1",
        )
        for offset in (0, 60)
    )

    assert (first.status_code, retry.status_code) == (200, 200)
    assert retry.json() == first.json()
    assert IdempotencyRecord.objects.filter(key="k-1").count() == 1


def test_pos_redeem_for_another_sale_of_a_used_coupon_is_coupon_already_redeemed(pos_client, alice, issue):
    coupon = issue(CouponTemplateFactory(), alice)
    payload = {"code": coupon.code, "phone": "+85291234567", "amount": "80", "external_id": "S-1"}
    pos_client.post("/api/v1/pos/coupons/redeem", payload, format="json")

    response = pos_client.post("/api/v1/pos/coupons/redeem", {**payload, "external_id": "S-2"}, format="json")

    assert (response.status_code, error_code(response)) == (409, "coupon_already_redeemed")


def test_a_member_token_cannot_call_the_pos_door(api_client, alice, now):
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {member_token_issue(member_id=alice.pk, now=now)}")

    response = api_client.post("/api/v1/pos/coupons/redeem", {}, format="json")

    assert (response.status_code, error_code(response)) == (401, "authentication_failed")


def test_code_checks_at_the_till_are_throttled(pos_client, alice, settings):
    settings.COUPON_CODE_THROTTLE = "2/min"
    payload = {"phone": "+85291234567", "amount": "80"}

    statuses = [pos_client.post("/api/v1/pos/coupons/validate", payload, format="json").status_code for _ in range(3)]

    assert statuses == [200, 200, 429]


def test_the_schema_documents_the_coupon_endpoints(api_client):
    response = api_client.get("/api/schema/", HTTP_ACCEPT="application/json")

    paths = response.json()["paths"]
    assert {
        "/api/v1/coupons/claimable",
        "/api/v1/coupons/claim",
        "/api/v1/coupons/validate",
        "/api/v1/me/coupons",
        "/api/v1/pos/coupons/validate",
        "/api/v1/pos/coupons/redeem",
    } <= set(paths)

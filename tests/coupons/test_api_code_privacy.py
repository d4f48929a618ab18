"""A till learns nothing about a coupon code the member in front of it does not hold.

Another member's code is answered exactly as a code that was never issued (same status, same bytes), at every door
that takes a code: validate, redeem, and a sale that names a coupon. Otherwise a till (or a stolen POS key) could
tell issued codes from made-up ones and go looking for their owners.
"""

from decimal import Decimal

import pytest

from coupons.codes import generate_code
from coupons.models import Coupon
from tests.coupons.factories import CouponTemplateFactory
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice():
    return MemberFactory(name="Alice", phone="+85291234567")


@pytest.fixture
def bellas_code(issue):
    bella = MemberFactory(name="Bella", phone="+85291234568")
    return issue(CouponTemplateFactory(amount=Decimal("20")), bella).code


def never_issued_code() -> str:
    code = generate_code()
    assert not Coupon.objects.filter(code=code).exists()
    return code


@pytest.mark.parametrize("language", ["en", "zh-hant"])
def test_validating_another_members_code_answers_as_an_unknown_code(pos_client, alice, bellas_code, language):
    codes = {"other": bellas_code, "unknown": never_issued_code()}

    def validate(code):
        return pos_client.post(
            "/api/v1/pos/coupons/validate",
            {"phone": alice.phone, "amount": "80", "code": code},
            format="json",
            HTTP_ACCEPT_LANGUAGE=language,
        )

    other, unknown = validate(codes["other"]), validate(codes["unknown"])

    assert (other.status_code, other.content) == (unknown.status_code, unknown.content)
    assert (other.status_code, other.json()["error"]["code"]) == (404, "not_found")


def test_redeeming_another_members_code_answers_as_an_unknown_code_and_leaves_it_unused(pos_client, alice, bellas_code):
    def redeem(code, sale):
        return pos_client.post(
            "/api/v1/pos/coupons/redeem",
            {"phone": alice.phone, "amount": "80", "code": code, "external_id": sale},
            format="json",
        )

    other, unknown = redeem(bellas_code, "S-1"), redeem(never_issued_code(), "S-2")

    assert (other.status_code, other.content) == (unknown.status_code, unknown.content)
    assert (other.status_code, other.json()["error"]["code"]) == (404, "not_found")
    assert Coupon.objects.get(code=bellas_code).status == "available"


def test_a_sale_naming_another_members_code_answers_as_an_unknown_code(pos_client, alice, bellas_code):
    def sell(code, sale):
        body = {
            "external_id": sale,
            "gross_amount": "80.00",
            "payment_method": "card",
            "member_number": alice.member_number,
            "coupon_code": code,
        }
        return pos_client.post("/api/v1/pos/purchases", body, format="json")

    other, unknown = sell(bellas_code, "S-1"), sell(never_issued_code(), "S-2")

    assert (other.status_code, other.content) == (unknown.status_code, unknown.content)
    assert (other.status_code, other.json()["error"]["code"]) == (404, "not_found")
    assert Coupon.objects.get(code=bellas_code).status == "available"

"""Partner code pools: upload with row errors, then claims and tills use the partner's codes."""

import pytest

from coupons.errors import SoldOut
from coupons.models import Coupon, PartnerCode
from coupons.rules import Cart
from coupons.selectors import coupon_for_cart_by_code
from coupons.services import coupon_claim
from coupons.services.partner_codes import partner_codes_import
from infra.errors import InvalidInput
from tests.coupons.factories import CouponTemplateFactory
from tests.factories import MemberFactory, StoreFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def pool_template():
    return CouponTemplateFactory(code_source="partner_pool")


def test_an_upload_adds_valid_codes_and_names_each_bad_row_by_number(pool_template, issue, now):
    taken_by_coupon = issue(CouponTemplateFactory(), MemberFactory()).code
    other = CouponTemplateFactory(code_source="partner_pool")
    partner_codes_import(template_id=other.pk, data=b"INPOOL01\n", now=now)
    data = f"code\nabc-1234\nXYZ99999\n\nab\nABC1234\nbad code!\ninpool01\n{taken_by_coupon}\n".encode()

    result = partner_codes_import(template_id=pool_template.pk, data=data, now=now)

    assert result.imported == 2
    assert result.errors == [
        {"row": 5, "column": "code", "value": "ab", "message": "A code has 4 to 30 letters and digits."},
        {"row": 6, "column": "code", "value": "ABC1234", "message": "This code is already on row 2."},
        {"row": 7, "column": "code", "value": "bad code!", "message": "A code has 4 to 30 letters and digits."},
        {
            "row": 8,
            "column": "code",
            "value": "INPOOL01",
            "message": "This code is already in a pool of partner codes.",
        },
        {"row": 9, "column": "code", "value": taken_by_coupon, "message": "A coupon already carries this code."},
    ]
    pool = PartnerCode.objects.filter(template=pool_template).order_by("pk")
    assert list(pool.values_list("code", "row_number")) == [("ABC1234", 2), ("XYZ99999", 3)]


def test_uploading_the_same_file_twice_refuses_every_row_the_second_time(pool_template, now):
    partner_codes_import(template_id=pool_template.pk, data=b"AAAA1111\nBBBB2222\n", now=now)

    result = partner_codes_import(template_id=pool_template.pk, data=b"AAAA1111\nBBBB2222\n", now=now)

    assert result.imported == 0
    assert [error["row"] for error in result.errors] == [1, 2]
    assert PartnerCode.objects.count() == 2


def test_a_template_that_generates_codes_refuses_an_upload(now):
    with pytest.raises(InvalidInput):
        partner_codes_import(template_id=CouponTemplateFactory().pk, data=b"AAAA1111\n", now=now)


def test_claims_take_pool_codes_in_upload_order_and_sell_out_with_the_pool(pool_template, now):
    partner_codes_import(template_id=pool_template.pk, data=b"FIRST001\nSECOND02\n", now=now)
    first, second, third = MemberFactory.create_batch(3)

    codes = [coupon_claim(member_id=m.pk, template_id=pool_template.pk, now=now).code for m in (first, second)]
    with pytest.raises(SoldOut):
        coupon_claim(member_id=third.pk, template_id=pool_template.pk, now=now)

    assert codes == ["FIRST001", "SECOND02"]
    assert PartnerCode.objects.filter(used_at=now).count() == 2
    pool_template.refresh_from_db()
    assert pool_template.issued_count == 2


def test_a_till_finds_a_partner_code_without_our_check_character(pool_template, now):
    partner_codes_import(template_id=pool_template.pk, data=b"PARTNER-77\n", now=now)
    member = MemberFactory()
    coupon = coupon_claim(member_id=member.pk, template_id=pool_template.pk, now=now)
    store = StoreFactory()

    found = coupon_for_cart_by_code(
        member_id=member.pk, code="partner-77", cart=Cart(amount=100, channel="pos", store_id=store.pk), now=now
    )

    assert found.options[0].coupon == coupon
    assert Coupon.objects.get().code == "PARTNER77"


def test_a_header_alone_is_refused_not_reported_as_nothing_added(pool_template, now):
    with pytest.raises(InvalidInput) as refused:
        partner_codes_import(template_id=pool_template.pk, data=b"code\r\n\r\n", now=now)

    assert refused.value.fields == {"file": ["The file holds no codes (a header row alone, or empty rows)."]}
    assert not PartnerCode.objects.exists()


def test_a_quote_left_open_does_not_join_the_next_rows_into_one_code(pool_template, now):
    result = partner_codes_import(template_id=pool_template.pk, data=b'AAAA1111\n"BBBB\nCCCC2222\nDDDD3333\n', now=now)

    assert result.imported == 1
    assert [(error["row"], error["column"]) for error in result.errors] == [(2, "code")]
    assert "a quote" in result.errors[0]["message"]
    assert list(PartnerCode.objects.values_list("code", flat=True)) == ["AAAA1111"]

"""Reserving, releasing, redeeming, voiding and the scheduled jobs: each refusal has its own code."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from coupons.codes import generate_code
from coupons.errors import (
    CategoryNotInCart,
    CouponAlreadyRedeemed,
    CouponExpired,
    CouponNotFound,
    CouponNotReserved,
    CouponNotYetValid,
    CouponReserved,
    CouponVoid,
    DoesNotStackWithPoints,
    InvalidCouponCode,
    MinSpendNotMet,
    WrongChannel,
    WrongStore,
)
from coupons.models import Coupon
from coupons.rules import Cart, CartItem
from coupons.services import (
    coupon_redeem,
    coupon_release,
    coupon_reserve,
    coupons_expire,
    coupons_release_stale_reservations,
    coupons_void,
)
from infra.errors import NotFound
from tests.coupons.factories import CouponTemplateFactory
from tests.factories import MemberFactory, StoreFactory

pytestmark = pytest.mark.django_db

D = Decimal


@pytest.fixture
def store():
    return StoreFactory(code="central")


@pytest.fixture
def member():
    return MemberFactory()


def cart(store, amount="100.00", channel="pos", **kwargs):
    return Cart(amount=D(amount), channel=channel, store_id=store.pk, **kwargs)


def redeem(coupon, member, store, *, now, **cart_kwargs):
    return coupon_redeem(
        member_id=member.pk, code=coupon.code, cart=cart(store, **cart_kwargs), external_id="sale-1", now=now
    )


def test_redeeming_marks_the_coupon_used_with_store_channel_and_discount(issue, member, store, now):
    coupon = issue(CouponTemplateFactory(amount=D("20")), member)

    redemption = redeem(coupon, member, store, now=now, amount="150.00")

    coupon.refresh_from_db()
    assert (redemption.discount_amount, redemption.label, redemption.is_replay) == (D("20.00"), "20.00 off", False)
    assert (coupon.status, coupon.redeemed_at, coupon.redeemed_store_id, coupon.redeemed_channel) == (
        "redeemed",
        now,
        store.pk,
        "pos",
    )
    assert (coupon.redeemed_reference, coupon.discount_amount) == ("sale-1", D("20.00"))


def test_a_typed_code_in_lower_case_with_dashes_is_accepted(issue, member, store, now):
    coupon = issue(CouponTemplateFactory(), member)
    typed = "-".join([coupon.code[:4].lower(), coupon.code[4:]])

    redemption = coupon_redeem(member_id=member.pk, code=typed, cart=cart(store), now=now)

    assert redemption.coupon.pk == coupon.pk


def test_a_retry_of_the_same_sale_replays_the_first_redemption(issue, member, store, now):
    coupon = issue(CouponTemplateFactory(), member)
    first = redeem(coupon, member, store, now=now)

    retry = redeem(coupon, member, store, now=now + timedelta(seconds=5))

    assert (retry.is_replay, retry.discount_amount, retry.coupon.redeemed_at) == (True, first.discount_amount, now)


def test_redeeming_twice_is_coupon_already_redeemed(issue, member, store, now):
    coupon = issue(CouponTemplateFactory(), member)
    redeem(coupon, member, store, now=now)

    with pytest.raises(CouponAlreadyRedeemed):
        coupon_redeem(member_id=member.pk, code=coupon.code, cart=cart(store), external_id="sale-2", now=now)


def test_an_expired_coupon_is_refused(issue, member, store, now):
    coupon = issue(CouponTemplateFactory(valid_days=1), member)

    with pytest.raises(CouponExpired):
        redeem(coupon, member, store, now=now + timedelta(days=1))


def test_a_coupon_marked_expired_by_the_job_is_refused(issue, member, store, now):
    coupon = issue(CouponTemplateFactory(valid_days=1), member)
    coupons_expire(now=now + timedelta(days=2))

    with pytest.raises(CouponExpired):
        redeem(coupon, member, store, now=now)


def test_a_coupon_not_yet_valid_is_refused(issue, member, store, now):
    template = CouponTemplateFactory(valid_from=now + timedelta(days=1), valid_until=now + timedelta(days=5))
    coupon = issue(template, member)

    with pytest.raises(CouponNotYetValid):
        redeem(coupon, member, store, now=now)


def test_a_void_coupon_is_refused(issue, member, store, now):
    coupon = issue(CouponTemplateFactory(), member)
    coupons_void(coupon_ids=[coupon.pk], now=now, reason="printed by mistake")

    with pytest.raises(CouponVoid):
        redeem(coupon, member, store, now=now)


def test_someone_elses_coupon_is_not_found_as_an_unknown_code_is(issue, member, store, now):
    coupon = issue(CouponTemplateFactory(), MemberFactory())

    with pytest.raises(CouponNotFound):
        redeem(coupon, member, store, now=now)
    coupon.refresh_from_db()
    assert coupon.status == "available"


def test_a_coupon_for_other_stores_is_wrong_store(issue, member, store, now):
    coupon = issue(CouponTemplateFactory(stores=[StoreFactory(code="tst")]), member)

    with pytest.raises(WrongStore):
        redeem(coupon, member, store, now=now)


def test_an_online_only_coupon_at_the_till_is_wrong_channel(issue, member, store, now):
    coupon = issue(CouponTemplateFactory(channels=["online"]), member)

    with pytest.raises(WrongChannel):
        redeem(coupon, member, store, now=now)


def test_a_cart_below_the_minimum_spend_is_refused(issue, member, store, now):
    coupon = issue(CouponTemplateFactory(kind="spend_x_save_y", amount=D("50"), min_spend=D("300")), member)

    with pytest.raises(MinSpendNotMet):
        redeem(coupon, member, store, now=now, amount="299.99")


def test_a_category_coupon_without_the_category_in_the_cart_is_refused(issue, member, store, now):
    coupon = issue(CouponTemplateFactory(categories=["shoes"]), member)
    items = (CartItem(sku="B1", category="bags", amount=D("100")),)

    with pytest.raises(CategoryNotInCart):
        redeem(coupon, member, store, now=now, items=items)


def test_a_category_coupon_discounts_only_the_matching_items(issue, member, store, now):
    coupon = issue(
        CouponTemplateFactory(kind="percent_off", amount=None, percent=D("10"), categories=["shoes"]), member
    )
    items = (
        CartItem(sku="S1", category="shoes", amount=D("400")),
        CartItem(sku="B1", category="bags", amount=D("600")),
    )

    redemption = redeem(coupon, member, store, now=now, amount="1000", items=items)

    assert redemption.discount_amount == D("40.00")


def test_a_coupon_that_does_not_stack_with_points_is_refused_when_points_pay(issue, member, store, now):
    coupon = issue(CouponTemplateFactory(stacks_with_points=False), member)

    with pytest.raises(DoesNotStackWithPoints):
        redeem(coupon, member, store, now=now, uses_points=True)


def test_a_mistyped_code_is_refused_after_one_lookup_among_partner_codes_only(issue, member, store, now):
    code = issue(CouponTemplateFactory(), member).code
    typo = code[:3] + ("X" if code[3] != "X" else "Y") + code[4:]

    with CaptureQueriesContext(connection) as queries, pytest.raises(InvalidCouponCode):
        coupon_redeem(member_id=member.pk, code=typo, cart=cart(store), now=now)

    selects = [query["sql"] for query in queries.captured_queries if "SELECT" in query["sql"]]
    assert len(selects) == 1
    assert "partner_pool" in selects[0]


def test_an_unknown_well_formed_code_is_not_found(member, store, now):
    with pytest.raises(NotFound):
        coupon_redeem(member_id=member.pk, code=generate_code(), cart=cart(store), now=now)


# -- reservations ------------------------------------------------------------------------------------------------
def test_a_reserved_coupon_is_refused_to_another_checkout_and_redeemed_by_its_own(issue, member, store, now):
    coupon = issue(CouponTemplateFactory(), member)
    coupon_reserve(member_id=member.pk, coupon_id=coupon.pk, cart=cart(store, reference="checkout-1"), now=now)

    with pytest.raises(CouponReserved):
        coupon_redeem(member_id=member.pk, code=coupon.code, cart=cart(store, reference="checkout-2"), now=now)
    redemption = coupon_redeem(member_id=member.pk, code=coupon.code, cart=cart(store, reference="checkout-1"), now=now)

    assert redemption.coupon.status == "redeemed"
    assert (redemption.coupon.reserved_until, redemption.coupon.reservation_reference) == (None, "")


def test_a_reservation_lasts_its_ttl(issue, member, store, now):
    coupon = issue(CouponTemplateFactory(), member)

    reserved, check = coupon_reserve(
        member_id=member.pk, coupon_id=coupon.pk, cart=cart(store, reference="c1"), ttl_seconds=120, now=now
    )

    assert (reserved.status, reserved.reserved_until, check.discount.amount) == (
        "reserved",
        now + timedelta(seconds=120),
        D("20.00"),
    )


def test_releasing_a_reservation_makes_the_coupon_available_again(issue, member, store, now):
    coupon = issue(CouponTemplateFactory(), member)
    coupon_reserve(member_id=member.pk, coupon_id=coupon.pk, cart=cart(store, reference="c1"), now=now)

    released = coupon_release(member_id=member.pk, coupon_id=coupon.pk, reference="c1", now=now)
    again = coupon_release(member_id=member.pk, coupon_id=coupon.pk, reference="c1", now=now)

    assert (released.status, again.status) == ("available", "available")


def test_another_checkout_cannot_release_a_reservation(issue, member, store, now):
    coupon = issue(CouponTemplateFactory(), member)
    coupon_reserve(member_id=member.pk, coupon_id=coupon.pk, cart=cart(store, reference="c1"), now=now)

    with pytest.raises(CouponNotReserved):
        coupon_release(member_id=member.pk, coupon_id=coupon.pk, reference="c2", now=now)


def test_the_job_releases_only_reservations_whose_time_is_up(issue, member, store, now):
    template = CouponTemplateFactory(per_member_limit=None)
    stale, fresh = issue(template, member), issue(template, member)
    coupon_reserve(member_id=member.pk, coupon_id=stale.pk, cart=cart(store, reference="a"), ttl_seconds=60, now=now)
    coupon_reserve(member_id=member.pk, coupon_id=fresh.pk, cart=cart(store, reference="b"), ttl_seconds=600, now=now)

    released = coupons_release_stale_reservations(now=now + timedelta(seconds=60))

    stale.refresh_from_db()
    fresh.refresh_from_db()
    assert (released, stale.status, fresh.status) == (1, "available", "reserved")


def test_a_stale_reservation_no_longer_blocks_another_checkout(issue, member, store, now):
    coupon = issue(CouponTemplateFactory(), member)
    coupon_reserve(member_id=member.pk, coupon_id=coupon.pk, cart=cart(store, reference="a"), ttl_seconds=60, now=now)

    redemption = coupon_redeem(
        member_id=member.pk, code=coupon.code, cart=cart(store, reference="b"), now=now + timedelta(seconds=61)
    )

    assert redemption.coupon.status == "redeemed"


# -- jobs and voiding --------------------------------------------------------------------------------------------
def test_the_expiry_job_expires_available_coupons_past_their_end_in_chunks(issue, now):
    template = CouponTemplateFactory(valid_days=1, per_member_limit=None)
    member = MemberFactory()
    due = [issue(template, member) for _ in range(5)]
    later = issue(CouponTemplateFactory(valid_days=10), member)

    expired = coupons_expire(now=now + timedelta(days=1), chunk_size=2)
    again = coupons_expire(now=now + timedelta(days=1), chunk_size=2)

    assert (expired, again) == (5, 0)
    assert set(Coupon.objects.filter(status="expired").values_list("pk", flat=True)) == {c.pk for c in due}
    later.refresh_from_db()
    assert later.status == "available"


def test_voiding_leaves_redeemed_coupons_alone(issue, member, store, now):
    template = CouponTemplateFactory(per_member_limit=None)
    used, unused = issue(template, member), issue(template, member)
    redeem(used, member, store, now=now)

    voided = coupons_void(coupon_ids=[used.pk, unused.pk], now=now, reason="recall")

    used.refresh_from_db()
    unused.refresh_from_db()
    assert (voided, used.status, unused.status, unused.void_reason) == (1, "redeemed", "void", "recall")

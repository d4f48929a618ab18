"""Real concurrent claims and redemptions on PostgreSQL: the quota, the limit and single use hold."""

from collections import Counter
from decimal import Decimal

import pytest
from django.db.models import Count
from django.utils import timezone

from coupons.errors import CouponAlreadyRedeemed, LimitReached, SoldOut
from coupons.models import Coupon, CouponTemplate
from coupons.rules import Cart
from coupons.services import coupon_claim, coupon_redeem, coupon_template_issue_to_member
from coupons.services.claim_hints import claim_hints_clear
from tests.concurrency import run_in_threads
from tests.coupons.factories import CouponTemplateFactory
from tests.factories import MemberFactory, StoreFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_a_flash_sale_of_200_claims_by_100_members_issues_exactly_the_quota():
    template = CouponTemplateFactory(quota=50, per_member_limit=1)
    members = MemberFactory.create_batch(100)
    now = timezone.now()
    calls = [
        lambda member_id=member.pk: coupon_claim(member_id=member_id, template_id=template.pk, now=now)
        for member in members * 2
    ]

    results = run_in_threads(calls, workers=50)

    outcomes = Counter(type(result).__name__ for result in results)
    assert outcomes["Coupon"] == 50
    assert outcomes["Coupon"] + outcomes[SoldOut.__name__] + outcomes[LimitReached.__name__] == 200
    assert Coupon.objects.filter(template=template).count() == 50
    assert not Coupon.objects.values("member").annotate(n=Count("pk")).filter(n__gt=1).exists()
    template.refresh_from_db()
    assert template.issued_count == 50


def test_a_flash_sale_refused_from_the_cache_issues_exactly_the_quota_before_and_after_a_restock():
    template = CouponTemplateFactory(quota=10, per_member_limit=1)
    members = MemberFactory.create_batch(40)
    now = timezone.now()

    def everyone_claims():
        calls = [
            lambda member_id=member.pk: coupon_claim(member_id=member_id, template_id=template.pk, now=now)
            for member in members
        ]
        return Counter(type(result).__name__ for result in run_in_threads(calls, workers=40))

    first = everyone_claims()
    CouponTemplate.objects.filter(pk=template.pk).update(quota=20)  # as the console saves a raised quota
    claim_hints_clear(template_id=template.pk)
    second = everyone_claims()

    assert first == {"Coupon": 10, "SoldOut": 30}
    assert second == {"Coupon": 10, "SoldOut": 20, "LimitReached": 10}
    assert not Coupon.objects.values("member").annotate(n=Count("pk")).filter(n__gt=1).exists()
    template.refresh_from_db()
    assert (template.issued_count, Coupon.objects.filter(template=template).count()) == (20, 20)


def test_two_tills_redeeming_one_coupon_at_once_one_wins():
    store = StoreFactory(code="central")
    member = MemberFactory()
    template = CouponTemplateFactory(amount=Decimal("20"))
    now = timezone.now()
    coupon = coupon_template_issue_to_member(
        template_id=template.pk, member_id=member.pk, source=Coupon.Source.MANUAL, now=now
    )
    cart = Cart(amount=Decimal("100"), channel="pos", store_id=store.pk)
    calls = [
        lambda sale=sale: coupon_redeem(member_id=member.pk, code=coupon.code, cart=cart, external_id=sale, now=now)
        for sale in ("till-1", "till-2")
    ]

    results = run_in_threads(calls, workers=2)

    assert sorted(type(result).__name__ for result in results) == ["CouponAlreadyRedeemed", "Redemption"]
    assert any(isinstance(result, CouponAlreadyRedeemed) for result in results)
    coupon.refresh_from_db()
    assert (coupon.status, coupon.discount_amount) == ("redeemed", Decimal("20.00"))


def test_many_tills_redeeming_one_coupon_at_once_redeem_it_once():
    store = StoreFactory(code="central")
    member = MemberFactory()
    now = timezone.now()
    coupon = coupon_template_issue_to_member(
        template_id=CouponTemplateFactory().pk, member_id=member.pk, source=Coupon.Source.MANUAL, now=now
    )
    cart = Cart(amount=Decimal("100"), channel="pos", store_id=store.pk)

    results = run_in_threads(
        [
            lambda sale=f"till-{i}": coupon_redeem(
                member_id=member.pk, code=coupon.code, cart=cart, external_id=sale, now=now
            )
            for i in range(20)
        ],
        workers=20,
    )

    assert Counter(type(result).__name__ for result in results) == {"Redemption": 1, "CouponAlreadyRedeemed": 19}

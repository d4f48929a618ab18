"""Claiming and issuing: quota, per-member limit, claim window, audience, validity of the coupon issued."""

from datetime import timedelta

import pytest

from coupons.codes import is_valid_code
from coupons.errors import ClaimWindowClosed, LimitReached, NotInAudience, SoldOut, TemplateInactive
from coupons.models import Coupon, CouponTemplate
from coupons.services import coupon_claim
from infra.errors import NotFound
from members.models import Member
from tests.coupons.factories import CouponTemplateFactory
from tests.factories import MemberFactory, TagFactory, TierFactory

pytestmark = pytest.mark.django_db


def test_a_claim_issues_a_coupon_valid_for_the_templates_days(now):
    template = CouponTemplateFactory(valid_days=7, code_prefix="HK")
    member = MemberFactory()

    coupon = coupon_claim(member_id=member.pk, template_id=template.pk, now=now)

    assert (coupon.member_id, coupon.template_id, coupon.status, coupon.source) == (
        member.pk,
        template.pk,
        "available",
        "claim",
    )
    assert (coupon.issued_at, coupon.valid_from, coupon.valid_until) == (now, now, now + timedelta(days=7))
    assert coupon.code.startswith("HK")
    assert is_valid_code(coupon.code)
    template.refresh_from_db()
    assert template.issued_count == 1


def test_a_coupon_ends_at_the_earlier_of_its_days_and_the_templates_end(now):
    template = CouponTemplateFactory(valid_days=30, valid_until=now + timedelta(days=3))

    coupon = coupon_claim(member_id=MemberFactory().pk, template_id=template.pk, now=now)

    assert coupon.valid_until == now + timedelta(days=3)


def test_a_coupon_of_a_template_starting_later_is_valid_from_that_start(now):
    start = now + timedelta(days=2)
    template = CouponTemplateFactory(valid_from=start, valid_until=now + timedelta(days=9), valid_days=None)

    coupon = coupon_claim(member_id=MemberFactory().pk, template_id=template.pk, now=now)

    assert (coupon.valid_from, coupon.valid_until) == (start, now + timedelta(days=9))


def test_claiming_beyond_the_quota_is_sold_out(now):
    template = CouponTemplateFactory(quota=2)
    for _ in range(2):
        coupon_claim(member_id=MemberFactory().pk, template_id=template.pk, now=now)

    with pytest.raises(SoldOut):
        coupon_claim(member_id=MemberFactory().pk, template_id=template.pk, now=now)

    template.refresh_from_db()
    assert (template.issued_count, Coupon.objects.count()) == (2, 2)


def test_claiming_beyond_the_limit_per_member_is_limit_reached(now):
    template = CouponTemplateFactory(per_member_limit=2)
    member = MemberFactory()
    coupon_claim(member_id=member.pk, template_id=template.pk, now=now)
    coupon_claim(member_id=member.pk, template_id=template.pk, now=now)

    with pytest.raises(LimitReached):
        coupon_claim(member_id=member.pk, template_id=template.pk, now=now)

    assert list(Coupon.objects.filter(member=member).order_by("member_sequence").values_list("member_sequence")) == [
        (1,),
        (2,),
    ]


def test_a_member_at_the_limit_of_a_sold_out_offer_hears_limit_reached(now):
    template = CouponTemplateFactory(quota=1, per_member_limit=1)
    member = MemberFactory()
    coupon_claim(member_id=member.pk, template_id=template.pk, now=now)

    with pytest.raises(LimitReached):
        coupon_claim(member_id=member.pk, template_id=template.pk, now=now)


@pytest.mark.parametrize(
    "window",
    [
        {"claim_starts_at": timedelta(minutes=1)},
        {"claim_ends_at": timedelta(0)},
        {"claim_ends_at": -timedelta(minutes=1)},
        {"valid_until": -timedelta(seconds=1), "valid_days": None},
    ],
)
def test_claiming_outside_the_window_is_claim_window_closed(now, window):
    template = CouponTemplateFactory(
        **{field: now + offset if offset is not None else None for field, offset in window.items()}
    )

    with pytest.raises(ClaimWindowClosed):
        coupon_claim(member_id=MemberFactory().pk, template_id=template.pk, now=now)


def test_claiming_an_inactive_template_is_refused(now):
    template = CouponTemplateFactory(is_active=False)

    with pytest.raises(TemplateInactive):
        coupon_claim(member_id=MemberFactory().pk, template_id=template.pk, now=now)


def test_a_template_not_open_to_claims_is_not_found(now):
    template = CouponTemplateFactory(is_claimable=False)

    with pytest.raises(NotFound):
        coupon_claim(member_id=MemberFactory().pk, template_id=template.pk, now=now)


def test_a_visitor_cannot_claim_a_members_only_offer(now):
    visitor = MemberFactory(status=Member.Status.VISITOR, phone=None)
    template = CouponTemplateFactory(audience=CouponTemplate.Audience.MEMBERS)

    with pytest.raises(NotInAudience):
        coupon_claim(member_id=visitor.pk, template_id=template.pk, now=now)


def test_a_visitor_can_claim_a_public_offer(now):
    visitor = MemberFactory(status=Member.Status.VISITOR, phone=None)
    template = CouponTemplateFactory(audience=CouponTemplate.Audience.PUBLIC)

    assert coupon_claim(member_id=visitor.pk, template_id=template.pk, now=now).member_id == visitor.pk


def test_a_frozen_member_is_in_no_audience(now):
    frozen = MemberFactory(status=Member.Status.FROZEN)
    template = CouponTemplateFactory(audience=CouponTemplate.Audience.PUBLIC)

    with pytest.raises(NotInAudience):
        coupon_claim(member_id=frozen.pk, template_id=template.pk, now=now)


def test_a_tier_offer_is_refused_to_members_of_other_tiers(now):
    gold, silver = TierFactory(code="gold", rank=3), TierFactory(code="silver", rank=2)
    template = CouponTemplateFactory(tiers=[gold])

    with pytest.raises(NotInAudience):
        coupon_claim(member_id=MemberFactory(tier=silver).pk, template_id=template.pk, now=now)
    assert coupon_claim(member_id=MemberFactory(tier=gold).pk, template_id=template.pk, now=now)


def test_a_tag_offer_is_refused_to_members_without_the_tag(now):
    vip = TagFactory(name="vip")
    template = CouponTemplateFactory(tags=[vip])
    tagged = MemberFactory()
    tagged.tags.add(vip)

    with pytest.raises(NotInAudience):
        coupon_claim(member_id=MemberFactory().pk, template_id=template.pk, now=now)
    assert coupon_claim(member_id=tagged.pk, template_id=template.pk, now=now)


def test_issuing_twice_with_one_issue_key_issues_once(issue):
    template = CouponTemplateFactory(per_member_limit=None)
    member = MemberFactory()

    first = issue(template, member, issue_key="bulk:7:member")
    second = issue(template, member, issue_key="bulk:7:member")

    assert first.pk == second.pk
    template.refresh_from_db()
    assert template.issued_count == 1


def test_staff_issuing_may_pass_the_limit_per_member_when_told_to(issue):
    template = CouponTemplateFactory(per_member_limit=1)
    member = MemberFactory()
    issue(template, member)

    with pytest.raises(LimitReached):
        issue(template, member)
    assert issue(template, member, enforce_member_limit=False).member_sequence == 2

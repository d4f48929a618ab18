"""A run key answers only the request it named: another segment, or the same segment with another effect or other
parameters, never gets the first request's freeze or job (`idempotency_key_reused`). And a segment's "points"
condition means the points a member can spend: the balance less what is held for orders being paid."""

from datetime import timedelta

import pytest

from campaigns.models import Segment, SegmentFreeze
from campaigns.segments.schema import FIELDS
from campaigns.selectors.segments import segment_members
from campaigns.services.segments import segment_coupon_issue, segment_freeze, segment_points_grant
from coupons.models import CouponIssueJob
from members.errors import IdempotencyKeyReused
from members.models import Role
from members.services.holds import balance_hold_place
from members.services.ledger import points_credit
from points.models import PointsGrantJob
from tests.coupons.factories import CouponTemplateFactory
from tests.factories import MemberFactory, TierFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def segment_of(tier):
    return Segment.objects.create(
        name=f"Tier {tier.pk}", rule={"match": "all", "conditions": [{"field": "tier", "op": "in", "value": [tier.pk]}]}
    )


@pytest.fixture
def two_segments():
    gold, silver = TierFactory(), TierFactory()
    gold_members, silver_members = MemberFactory.create_batch(2, tier=gold), MemberFactory.create_batch(3, tier=silver)
    return (segment_of(gold), gold_members), (segment_of(silver), silver_members)


def test_a_key_that_froze_one_segment_is_refused_for_another(two_segments, now):
    (gold, _), (silver, _) = two_segments
    segment_freeze(segment_id=gold.pk, key="run-1", now=now)

    with pytest.raises(IdempotencyKeyReused) as refused:
        segment_freeze(segment_id=silver.pk, key="run-1", now=now)

    assert refused.value.code == "idempotency_key_reused"
    assert SegmentFreeze.objects.count() == 1


def test_the_same_form_key_on_two_segments_issues_to_each_its_own_members(two_segments, now):
    # given one form key (the console's hidden field, which a caller controls) used on two segments
    (gold, gold_members), (silver, silver_members) = two_segments
    template, admin = CouponTemplateFactory(), UserFactory(role=Role.MERCHANT_ADMIN)

    gold_freeze, gold_job = segment_coupon_issue(
        segment_id=gold.pk, template_id=template.pk, key="k", user=admin, now=now
    )
    silver_freeze, silver_job = segment_coupon_issue(
        segment_id=silver.pk, template_id=template.pk, key="k", user=admin, now=now
    )

    # then each segment got its own freeze and job, not the other's
    assert gold_job != silver_job
    assert (gold_freeze.member_count, silver_freeze.member_count) == (2, 3)
    assert sorted(CouponIssueJob.objects.get(pk=silver_job).member_ids) == sorted(m.pk for m in silver_members)
    assert sorted(CouponIssueJob.objects.get(pk=gold_job).member_ids) == sorted(m.pk for m in gold_members)


def test_the_same_key_for_coupons_and_for_points_are_two_requests(two_segments, now):
    (gold, _), _ = two_segments
    admin = UserFactory(role=Role.MERCHANT_ADMIN)

    _freeze, job_id = segment_coupon_issue(
        segment_id=gold.pk, template_id=CouponTemplateFactory().pk, key="k", user=admin, now=now
    )
    _freeze, grant_ids = segment_points_grant(segment_id=gold.pk, points=10, reason="r", key="k", user=admin, now=now)

    assert CouponIssueJob.objects.filter(pk=job_id).exists()
    assert PointsGrantJob.objects.filter(pk__in=grant_ids).count() == 1


def test_a_key_reused_with_another_template_is_refused_not_answered_with_the_first_job(two_segments, now):
    (gold, _), _ = two_segments
    admin = UserFactory(role=Role.MERCHANT_ADMIN)
    first, second = CouponTemplateFactory(), CouponTemplateFactory()
    segment_coupon_issue(segment_id=gold.pk, template_id=first.pk, key="k", user=admin, now=now)

    with pytest.raises(IdempotencyKeyReused):
        segment_coupon_issue(segment_id=gold.pk, template_id=second.pk, key="k", user=admin, now=now)
    assert CouponIssueJob.objects.count() == 1


@pytest.mark.parametrize(("points", "reason"), [(99, "Gold thanks"), (50, "Another reason")])
def test_a_key_reused_with_other_points_or_reason_is_refused(two_segments, now, points, reason):
    (gold, _), _ = two_segments
    admin = UserFactory(role=Role.MERCHANT_ADMIN)
    segment_points_grant(segment_id=gold.pk, points=50, reason="Gold thanks", key="g", user=admin, now=now)

    with pytest.raises(IdempotencyKeyReused):
        segment_points_grant(segment_id=gold.pk, points=points, reason=reason, key="g", user=admin, now=now)
    assert PointsGrantJob.objects.count() == 1


# -- points available ----------------------------------------------------------------------------------------------
def test_the_points_condition_counts_what_a_member_can_spend_not_what_is_held(now):
    # given two members with 1,000 points each, one of whom has 800 held for an order being paid
    free, holding = MemberFactory(), MemberFactory()
    for member in (free, holding):
        points_credit(member_id=member.pk, points=1000, idempotency_key=f"c{member.pk}", now=now)
    hold_until = now + timedelta(hours=1)
    balance_hold_place(
        member_id=holding.pk, points=800, stored_value_amount=0, reference="order-1", expires_at=hold_until, now=now
    )

    def selected(op, value):
        rule = {"match": "all", "conditions": [{"field": "points_balance", "op": op, "value": value}]}
        return set(segment_members(rule=rule, now=now).values_list("pk", flat=True))

    # then "at least 500" is the one who can spend them, and "at most 200" the one who cannot
    assert selected("gte", 500) == {free.pk}
    assert selected("lte", 200) == {holding.pk}
    assert selected("between", [200, 200]) == {holding.pk}


def test_the_condition_says_so_in_the_editor():
    field = FIELDS["points_balance"]
    assert str(field.label) == "Points available"
    assert "held" in str(field.help)

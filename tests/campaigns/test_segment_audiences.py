"""A segment as the audience of a coupon bulk issue and of a points grant: frozen once per request."""

import pytest

from campaigns.errors import SegmentNotAllowed
from campaigns.models import Segment, SegmentFreeze
from campaigns.services.segments import segment_coupon_issue, segment_points_grant
from coupons.models import Coupon, CouponIssueJob
from coupons.services.bulk import coupon_issue_job_run
from members.models import PointsEntry, Role
from points.models import PointsGrantJob
from points.services.grants import points_grant_job_run
from tests.coupons.factories import CouponTemplateFactory
from tests.factories import MemberFactory, StoreFactory, TierFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def segment_of(tier, **kwargs):
    return Segment.objects.create(
        name="Gold", rule={"match": "all", "conditions": [{"field": "tier", "op": "in", "value": [tier.pk]}]}, **kwargs
    )


def test_coupons_are_issued_to_the_frozen_members_once_per_request(now):
    # given a segment of three members
    tier = TierFactory()
    members = MemberFactory.create_batch(3, tier=tier)
    segment, template = segment_of(tier), CouponTemplateFactory()
    admin = UserFactory(role=Role.MERCHANT_ADMIN)

    # when its coupon issue is asked twice with the same form key, and the job runs
    freeze, job_id = segment_coupon_issue(segment_id=segment.pk, template_id=template.pk, key="f1", user=admin, now=now)
    again, same_job = segment_coupon_issue(
        segment_id=segment.pk, template_id=template.pk, key="f1", user=admin, now=now
    )
    job = coupon_issue_job_run(job_id=job_id, now=now)

    # then one job issued one coupon to each frozen member
    assert (again.pk, same_job) == (freeze.pk, job_id)
    assert CouponIssueJob.objects.count() == 1
    assert (job.total, job.issued) == (3, 3)
    assert sorted(Coupon.objects.values_list("member_id", flat=True)) == sorted(member.pk for member in members)


def test_points_are_granted_to_the_frozen_members_once_per_request(now):
    tier = TierFactory()
    members = MemberFactory.create_batch(2, tier=tier)
    MemberFactory()
    segment = segment_of(tier)
    admin = UserFactory(role=Role.MERCHANT_ADMIN)

    _freeze, job_ids = segment_points_grant(
        segment_id=segment.pk, points=50, reason="Gold thanks", key="g1", user=admin, now=now
    )
    _freeze, same = segment_points_grant(
        segment_id=segment.pk, points=50, reason="Gold thanks", key="g1", user=admin, now=now
    )
    for job_id in job_ids:
        points_grant_job_run(job_id=job_id, now=now)

    assert same == job_ids
    assert PointsGrantJob.objects.count() == 1
    granted = PointsEntry.objects.filter(source="grant")
    assert sorted(granted.values_list("member_id", flat=True)) == sorted(member.pk for member in members)
    assert set(granted.values_list("delta", flat=True)) == {50}


def test_a_big_segment_is_granted_through_several_lists(now, monkeypatch):
    monkeypatch.setattr("points.services.grants.MAX_LIST_ROWS", 2)
    tier = TierFactory()
    MemberFactory.create_batch(5, tier=tier)

    _freeze, job_ids = segment_points_grant(
        segment_id=segment_of(tier).pk, points=5, reason="r", key="big", user=UserFactory(is_superuser=True), now=now
    )
    for job_id in job_ids:
        points_grant_job_run(job_id=job_id, now=now)

    assert len(job_ids) == 3
    assert PointsEntry.objects.filter(source="grant").values("member_id").distinct().count() == 5


def test_a_manager_uses_only_their_stores_segments_and_may_not_grant_points(now):
    store_a, store_b = StoreFactory(), StoreFactory()
    tier = TierFactory()
    theirs = segment_of(tier, store=store_b)
    ours = segment_of(tier, store=store_a)
    MemberFactory(tier=tier, home_store=store_a)
    manager = UserFactory(role=Role.STORE_MANAGER, store=store_a)
    template = CouponTemplateFactory()

    with pytest.raises(SegmentNotAllowed):
        segment_coupon_issue(segment_id=theirs.pk, template_id=template.pk, key="x", user=manager, now=now)
    with pytest.raises(SegmentNotAllowed):
        segment_points_grant(segment_id=ours.pk, points=5, reason="r", key="y", user=manager, now=now)
    freeze, job_id = segment_coupon_issue(segment_id=ours.pk, template_id=template.pk, key="z", user=manager, now=now)

    job = CouponIssueJob.objects.get(pk=job_id)
    assert (freeze.member_count, job.total, job.store_id) == (1, 1, store_a.pk)
    assert SegmentFreeze.objects.count() == 1

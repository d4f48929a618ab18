"""A bulk issue to members the caller already chose (a frozen segment of campaigns): its audience selection."""

import pytest

from coupons.models import Coupon, CouponIssueJob
from coupons.services.bulk import coupon_issue_job_create, coupon_issue_job_run
from members.models import Member
from tests.coupons.factories import CouponTemplateFactory
from tests.factories import MemberFactory, StoreFactory

pytestmark = pytest.mark.django_db


def test_a_job_for_given_members_issues_to_those_who_may_receive_coupons(now):
    # given chosen members, one of them frozen, and a member who was not chosen
    template = CouponTemplateFactory()
    chosen = MemberFactory.create_batch(3)
    frozen = MemberFactory(status=Member.Status.FROZEN)
    MemberFactory()

    # when a job is created for them (ids in any order, one twice) and run
    job = coupon_issue_job_create(
        template_id=template.pk,
        audience=CouponIssueJob.Audience.MEMBER_LIST,
        member_ids=[chosen[2].pk, frozen.pk, chosen[0].pk, chosen[1].pk, chosen[0].pk],
        now=now,
    )
    job = coupon_issue_job_run(job_id=job.pk, now=now, chunk_size=2)

    # then each chosen member who may receive coupons has one, and nobody else
    assert (job.status, job.total, job.issued) == ("done", 3, 3)
    assert job.member_ids == sorted(member.pk for member in chosen)
    assert sorted(Coupon.objects.filter(template=template).values_list("member_id", flat=True)) == job.member_ids


def test_a_store_job_for_given_members_leaves_out_members_of_other_stores(now):
    store, other = StoreFactory(), StoreFactory()
    ours, theirs = MemberFactory(home_store=store), MemberFactory(home_store=other)

    job = coupon_issue_job_create(
        template_id=CouponTemplateFactory().pk,
        audience=CouponIssueJob.Audience.MEMBER_LIST,
        member_ids=[ours.pk, theirs.pk],
        store_id=store.pk,
        now=now,
    )

    assert (job.member_ids, job.total) == ([ours.pk], 1)

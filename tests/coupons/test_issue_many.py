"""coupons_issue_many: one coupon of a template to each of many members in a few statements (a campaign's chunk)."""

from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection, transaction
from django.db.models import Count
from django.utils import timezone

from coupons.errors import TemplateInactive
from coupons.models import Coupon, CouponTemplate
from coupons.services import coupon_template_issue_to_member, coupon_validity
from coupons.services.bulk import coupons_issue_many
from coupons.services.partner_codes import partner_codes_import
from members.signals import coupons_issued
from tests.coupons.factories import CouponTemplateFactory
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db


def keys_for(members, prefix="campaign"):
    return {member.pk: f"{prefix}:{member.pk}" for member in members}


def test_each_member_gets_one_coupon_under_their_key_and_the_template_counts_them(now):
    template = CouponTemplateFactory(valid_days=7)
    members = MemberFactory.create_batch(5)

    issued = coupons_issue_many(template_id=template.pk, issue_keys=keys_for(members), source="bulk", now=now)

    assert sorted(issued) == sorted(member.pk for member in members)
    coupons = Coupon.objects.filter(template=template)
    assert sorted(coupons.values_list("issue_key", flat=True)) == sorted(keys_for(members).values())
    assert {coupon.member_id: coupon.pk for coupon in coupons} == issued
    assert {(coupon.valid_from, coupon.valid_until) for coupon in coupons} == {
        coupon_validity(template=template, issued_at=now)
    }
    template.refresh_from_db()
    assert template.issued_count == 5


def test_asking_again_gives_the_same_coupons_and_writes_nothing(now):
    template = CouponTemplateFactory()
    members = MemberFactory.create_batch(3)
    first = coupons_issue_many(template_id=template.pk, issue_keys=keys_for(members), source="bulk", now=now)

    again = coupons_issue_many(template_id=template.pk, issue_keys=keys_for(members), source="bulk", now=now)

    assert again == first
    assert Coupon.objects.filter(template=template).count() == 3
    template.refresh_from_db()
    assert template.issued_count == 3


def test_the_per_member_limit_is_the_callers_business_and_sequences_follow_earlier_coupons(now):
    template = CouponTemplateFactory(per_member_limit=1)
    member = MemberFactory()
    coupon_template_issue_to_member(template_id=template.pk, member_id=member.pk, source="manual", now=now)

    issued = coupons_issue_many(template_id=template.pk, issue_keys={member.pk: "campaign:1"}, source="bulk", now=now)

    assert Coupon.objects.get(pk=issued[member.pk]).member_sequence == 2


def test_members_beyond_the_quota_get_none(now):
    template = CouponTemplateFactory(quota=3)
    members = MemberFactory.create_batch(5)

    issued = coupons_issue_many(template_id=template.pk, issue_keys=keys_for(members), source="bulk", now=now)

    assert sorted(issued) == sorted(member.pk for member in members)[:3]
    template.refresh_from_db()
    assert template.issued_count == 3


def test_an_inactive_template_is_refused(now):
    template = CouponTemplateFactory(is_active=False)
    with pytest.raises(TemplateInactive):
        coupons_issue_many(template_id=template.pk, issue_keys={MemberFactory().pk: "k"}, source="bulk", now=now)
    assert not Coupon.objects.exists()


def test_a_partner_code_template_gives_its_codes_until_they_run_out(now):
    template = CouponTemplateFactory(code_source="partner_pool")
    partner_codes_import(template_id=template.pk, data=b"code\nPARTNER-0001\npartner0002\n", now=now)
    members = MemberFactory.create_batch(3)

    issued = coupons_issue_many(template_id=template.pk, issue_keys=keys_for(members), source="bulk", now=now)

    assert len(issued) == 2
    assert set(Coupon.objects.values_list("code", flat=True)) == {"PARTNER0001", "PARTNER0002"}


def test_the_coupons_written_are_announced_after_commit(now, django_capture_on_commit_callbacks):
    template = CouponTemplateFactory()
    members = MemberFactory.create_batch(2)
    heard = []

    def listener(sender, coupon_ids, **kwargs):
        heard.append(sorted(coupon_ids))

    coupons_issued.connect(listener)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            issued = coupons_issue_many(template_id=template.pk, issue_keys=keys_for(members), source="bulk", now=now)
    finally:
        coupons_issued.disconnect(listener)

    assert heard == [sorted(issued.values())]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_chunks_at_once_against_a_small_quota_give_exactly_the_quota():
    now = timezone.now()
    template = CouponTemplateFactory(quota=50)
    members = MemberFactory.create_batch(80)
    halves = [members[:40], members[40:]]

    def one_chunk(chunk):
        try:
            with transaction.atomic():
                return coupons_issue_many(template_id=template.pk, issue_keys=keys_for(chunk), source="bulk", now=now)
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(one_chunk, halves))

    assert sum(len(result) for result in results) == 50
    assert Coupon.objects.filter(template=template).count() == 50
    assert not Coupon.objects.values("member_id").annotate(n=Count("pk")).filter(n__gt=1).exists()
    assert CouponTemplate.objects.get(pk=template.pk).issued_count == 50

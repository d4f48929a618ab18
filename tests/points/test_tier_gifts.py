"""Monthly tier gifts: once per calendar month, every active member of the tier gets its points and coupon."""

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django_celery_beat.models import PeriodicTask

from coupons.models import Coupon
from members.models import Member, PointsEntry, Role
from points.models import TierGiftRun, TierMonthlyGift
from points.services.tier_gifts import tier_monthly_gifts_grant
from tests.coupons.factories import CouponTemplateFactory
from tests.factories import MemberFactory, TierFactory, UserFactory

pytestmark = pytest.mark.django_db

HK = ZoneInfo("Asia/Hong_Kong")
DEC_1 = datetime(2026, 12, 1, 9, 0, tzinfo=HK)


@pytest.fixture
def grant(django_capture_on_commit_callbacks):
    """Run the monthly job; the bulk jobs it starts run after commit, as they would in production."""

    def run(now):
        with django_capture_on_commit_callbacks(execute=True):
            return tier_monthly_gifts_grant(now=now)

    return run


@pytest.fixture
def gold():
    return TierFactory(code="V3", name="Gold", rank=3)


@pytest.fixture
def gold_members(gold):
    return [MemberFactory(tier=gold) for _ in range(3)]


def test_each_active_member_of_the_tier_gets_the_points_and_the_coupon(gold, gold_members, grant):
    template = CouponTemplateFactory(per_member_limit=None)
    TierMonthlyGift.objects.create(tier=gold, points=200, coupon_template=template)
    outsider = MemberFactory(tier=TierFactory(code="V1", rank=1))
    frozen = MemberFactory(tier=gold, status=Member.Status.FROZEN)

    result = grant(DEC_1)

    assert len(result.started) == 1
    for member in gold_members:
        member.refresh_from_db()
        assert member.points_balance == 200
        assert Coupon.objects.filter(member=member, template=template).count() == 1
    for member in (outsider, frozen):
        assert not PointsEntry.objects.filter(member=member).exists()
        assert not Coupon.objects.filter(member=member).exists()
    entry = PointsEntry.objects.filter(member=gold_members[0]).get()
    assert entry.kind == PointsEntry.Kind.ADDITION
    assert "2026-12" in entry.reason


def test_running_again_in_the_same_month_grants_nothing_twice(gold, gold_members, grant):
    TierMonthlyGift.objects.create(tier=gold, points=100)
    grant(DEC_1)

    again = grant(DEC_1 + timedelta(days=12))

    assert again.started == []
    assert again.already_granted == 1
    assert TierGiftRun.objects.count() == 1
    assert {m.points_balance for m in Member.objects.filter(tier=gold)} == {100}


def test_the_next_month_grants_again(gold, gold_members, grant):
    TierMonthlyGift.objects.create(tier=gold, points=100)
    grant(DEC_1)
    grant(datetime(2027, 1, 1, 9, 0, tzinfo=HK))
    assert {m.points_balance for m in Member.objects.filter(tier=gold)} == {200}
    assert list(TierGiftRun.objects.order_by("month").values_list("month", flat=True)) == [
        date(2026, 12, 1),
        date(2027, 1, 1),
    ]


def test_the_month_is_the_merchants_local_month(gold, gold_members, grant):
    TierMonthlyGift.objects.create(tier=gold, points=100)
    # 30 November 17:00 UTC is already 1 December in Hong Kong.
    grant(datetime(2026, 11, 30, 17, 0, tzinfo=ZoneInfo("UTC")))
    assert TierGiftRun.objects.get().month == date(2026, 12, 1)


def test_an_inactive_gift_grants_nothing(gold, gold_members, grant):
    TierMonthlyGift.objects.create(tier=gold, points=100, is_active=False)
    assert grant(DEC_1).started == []
    assert not PointsEntry.objects.exists()


def test_a_switched_off_coupon_is_recorded_and_the_points_still_go_out(gold, gold_members, grant):
    template = CouponTemplateFactory(is_active=False)
    TierMonthlyGift.objects.create(tier=gold, points=50, coupon_template=template)

    [run] = grant(DEC_1).started

    assert run.coupon_job is None
    assert "template_inactive" in run.message
    assert {m.points_balance for m in Member.objects.filter(tier=gold)} == {50}


def test_a_gift_of_nothing_is_refused(gold):
    with pytest.raises(ValidationError):
        TierMonthlyGift(tier=gold, points=0).full_clean()


def test_the_console_lists_gifts_and_runs_for_a_merchant_admin(client, gold, grant):
    client.force_login(UserFactory(role=Role.MERCHANT_ADMIN))
    TierMonthlyGift.objects.create(tier=gold, points=100)
    grant(DEC_1)
    assert client.get(reverse("admin:points_tiermonthlygift_changelist")).status_code == 200
    response = client.get(reverse("admin:points_tiergiftrun_changelist"))
    assert response.status_code == 200
    assert b"Gold" in response.content


def test_the_daily_schedule_is_registered():
    assert PeriodicTask.objects.filter(task="points.grant_tier_monthly_gifts").exists()


def test_members_are_told_of_the_monthly_gift_only_while_an_active_gift_grants_it(gold, member_client):
    member = MemberFactory(tier=gold)
    gold.monthly_gift_description = "200 points every month"
    gold.save()
    client = member_client(member)

    def told():
        benefits = client.get("/api/v1/me/tier").json()["benefits"]
        return benefits["monthly_gift"], [line["benefit"] for line in benefits["summary"]]

    without_gift = told()
    gift = TierMonthlyGift.objects.create(tier=gold, points=200)
    with_gift = told()
    TierMonthlyGift.objects.filter(pk=gift.pk).update(is_active=False)
    paused = told()

    assert without_gift == ("", [])
    assert with_gift == ("200 points every month", ["monthly_gift"])
    assert paused == ("", [])

"""The issue's reliability case on PostgreSQL: a run over many members whose chunk raises mid-run (its transaction
rolled back after the rewards were given), then resumed: exactly one recipient, one reward and one message each."""

import pytest
from django.db.models import Count
from django.utils import timezone

from campaigns.models import Campaign, CampaignRecipient, CampaignRun
from campaigns.services import campaigns as campaign_services
from campaigns.services.campaign_runs import campaign_launch, campaign_run_resume, campaign_runs_check
from coupons.models import Coupon
from members.models import Notification, PointsEntry
from tests.campaigns.campaign_factories import CampaignFactory
from tests.campaigns.test_campaign_concurrency import many_members
from tests.coupons.factories import CouponTemplateFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_a_run_whose_chunk_raises_mid_run_then_resumed_rewards_each_member_once(settings, monkeypatch):
    # given 3,000 members in chunks of 300, a coupon and 10 points each, and a fifth chunk that fails after
    # issuing its coupons and points (before its messages)
    settings.CAMPAIGN_CHUNK_SIZE = 300
    members = many_members(3000)
    campaign = CampaignFactory(
        status=Campaign.Status.DRAFT, coupon_template=CouponTemplateFactory(per_member_limit=None), points_bonus=10
    )
    real_notify = campaign_services._notify
    calls = []

    def notify_failing_fifth_chunk(**kwargs):
        calls.append(1)
        if len(calls) == 5:
            raise RuntimeError("the worker died mid-chunk")
        return real_notify(**kwargs)

    monkeypatch.setattr(campaign_services, "_notify", notify_failing_fifth_chunk)

    # when it is launched (chunks eager: the failure stops the rest) and then resumed
    with pytest.raises(RuntimeError):
        campaign_launch(campaign_id=campaign.pk, user=None, now=timezone.now())
    run = CampaignRun.objects.get()
    assert (run.chunks_done, run.chunks_total, CampaignRecipient.objects.count()) == (4, 10, 1200)
    campaign_runs_check(now=timezone.now())
    assert CampaignRun.objects.get().status == CampaignRun.Status.SENDING
    campaign_run_resume(run_id=run.pk, now=timezone.now())
    campaign_runs_check(now=timezone.now())

    # then each member has exactly one of everything, and the counters agree
    run.refresh_from_db()
    assert (run.status, run.delivered_count) == (CampaignRun.Status.FINISHED, 3000)
    assert CampaignRecipient.objects.count() == 3000
    per_member = [
        Coupon.objects.values("member").annotate(n=Count("pk")).filter(n__gt=1).count(),
        PointsEntry.objects.values("member").annotate(n=Count("pk")).filter(n__gt=1).count(),
        Notification.objects.values("member").annotate(n=Count("pk")).filter(n__gt=1).count(),
    ]
    assert per_member == [0, 0, 0]
    assert (Coupon.objects.count(), PointsEntry.objects.count(), Notification.objects.count()) == (3000, 3000, 3000)
    assert set(Coupon.objects.values_list("member", flat=True)) == {m.pk for m in members}
    campaign.refresh_from_db()
    assert (campaign.coupons_issued, campaign.points_granted) == (3000, 30000)

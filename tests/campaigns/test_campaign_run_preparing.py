"""A launch answers at once: the run is written `preparing` and a Celery task (eager in tests) freezes the segment,
splits the audience and fans the chunks out, exactly once however often it is asked."""

import datetime
from unittest import mock

import pytest

from campaigns.errors import CampaignStatusInvalid
from campaigns.models import Campaign, CampaignRecipient, CampaignRun, Segment, SegmentFreeze, SegmentMember
from campaigns.services.campaign_runs import (
    campaign_finish,
    campaign_launch,
    campaign_run_check,
    campaign_run_prepare,
    campaign_run_resume,
)
from campaigns.tasks import prepare_campaign_run
from tests.campaigns.campaign_factories import CampaignFactory
from tests.factories import MemberFactory, TierFactory

pytestmark = pytest.mark.django_db
HK = datetime.timezone(datetime.timedelta(hours=8))
NOW = datetime.datetime(2026, 12, 8, 10, 0, tzinfo=HK)
RunStatus = CampaignRun.Status


@pytest.fixture
def gold_campaign():
    gold = TierFactory()
    members = MemberFactory.create_batch(3, tier=gold)
    MemberFactory()  # not in the segment
    segment = Segment.objects.create(
        name="Gold", rule={"match": "all", "conditions": [{"field": "tier", "op": "in", "value": [gold.pk]}]}
    )
    return CampaignFactory(status=Campaign.Status.DRAFT, segment=segment), members


def test_the_launch_answers_with_the_run_preparing_and_nothing_frozen_yet(gold_campaign):
    campaign, _members = gold_campaign
    with mock.patch("campaigns.tasks.prepare_campaign_run.delay") as queued:
        launched = campaign_launch(campaign_id=campaign.pk, user=None, now=NOW)
        # The task is queued only once the launch commits (pytest's transaction never does: nothing yet).
        assert not queued.called
    run = CampaignRun.objects.get()
    assert (launched.status, run.status, run.freeze_id, run.chunks_total) == (
        Campaign.Status.RUNNING,
        RunStatus.PREPARING,
        None,
        0,
    )
    assert not SegmentFreeze.objects.exists()
    assert not CampaignRecipient.objects.exists()


def test_the_task_queued_after_the_launch_commits_freezes_and_sends(gold_campaign, django_capture_on_commit_callbacks):
    campaign, members = gold_campaign
    with django_capture_on_commit_callbacks(execute=True):
        campaign_launch(campaign_id=campaign.pk, user=None, now=NOW)
    run = CampaignRun.objects.get()
    freeze = SegmentFreeze.objects.get()
    assert (run.status, run.freeze_id, run.audience_count, freeze.key) == (
        RunStatus.SENDING,
        freeze.pk,
        3,
        f"campaign-run:{run.pk}",
    )
    assert set(CampaignRecipient.objects.values_list("member_id", flat=True)) == {m.pk for m in members}


def test_the_run_is_prepared_exactly_once_even_if_launched_and_prepared_twice(
    gold_campaign, django_capture_on_commit_callbacks
):
    campaign, _members = gold_campaign
    with mock.patch("campaigns.tasks.prepare_campaign_run.delay"):
        campaign_launch(campaign_id=campaign.pk, user=None, now=NOW)
        with pytest.raises(CampaignStatusInvalid):  # a second click: the campaign is no longer a draft
            campaign_launch(campaign_id=campaign.pk, user=None, now=NOW)
    run = CampaignRun.objects.get()
    with (
        mock.patch("campaigns.services.campaign_runs.fan_out") as fanned,
        django_capture_on_commit_callbacks(execute=True),
    ):
        first = campaign_run_prepare(run_id=run.pk, now=NOW)
        again = prepare_campaign_run.delay(run_id=run.pk).get()  # the task delivered twice
    assert (first, again) == (True, False)
    assert fanned.call_count == 1
    assert SegmentFreeze.objects.count() == 1
    assert SegmentMember.objects.count() == 3
    run.refresh_from_db()
    assert (run.status, run.chunks_total) == (RunStatus.SENDING, 1)


def test_the_beats_check_never_finishes_a_preparing_run_and_queues_a_lost_one_again(gold_campaign):
    campaign, _members = gold_campaign
    with mock.patch("campaigns.tasks.prepare_campaign_run.delay"):
        campaign_launch(campaign_id=campaign.pk, user=None, now=NOW)
    run = CampaignRun.objects.get()
    with mock.patch("campaigns.services.campaign_runs._prepare_after_commit") as requeued:
        assert campaign_run_check(run_id=run.pk, now=NOW + datetime.timedelta(minutes=1)) == RunStatus.PREPARING
        assert not requeued.called  # its task may still be running
        assert campaign_run_check(run_id=run.pk, now=NOW + datetime.timedelta(minutes=11)) == RunStatus.PREPARING
        requeued.assert_called_once_with(run.pk)
        assert campaign_run_resume(run_id=run.pk, now=NOW) == 0  # resuming a preparing run prepares it again
        assert requeued.call_count == 2
    run.refresh_from_db()
    assert run.status == RunStatus.PREPARING


def test_a_campaign_finished_before_its_run_was_prepared_fails_the_run_and_freezes_nothing(gold_campaign):
    campaign, _members = gold_campaign
    with mock.patch("campaigns.tasks.prepare_campaign_run.delay"):
        campaign_launch(campaign_id=campaign.pk, user=None, now=NOW)
    campaign_finish(campaign_id=campaign.pk, user=None, now=NOW)
    run = CampaignRun.objects.get()
    assert run.status == RunStatus.FAILED
    assert campaign_run_prepare(run_id=run.pk, now=NOW) is False
    assert not SegmentFreeze.objects.exists()

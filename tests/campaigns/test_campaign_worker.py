"""A campaign run through a real Celery worker and broker on PostgreSQL: every member reached once, even when the
run's chunks are all sent a second time (as after a worker lost mid-run)."""

import time

import pytest
from django.utils import timezone

from campaigns.models import Campaign, CampaignRecipient, CampaignRun
from campaigns.services.campaign_runs import campaign_launch, campaign_run_resume
from campaigns.tasks import check_campaign_runs
from members.models import Notification, PointsEntry
from tests.campaigns.campaign_factories import CampaignFactory
from tests.campaigns.test_campaign_concurrency import many_members

pytestmark = [pytest.mark.postgres, pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def wait_for_chunks(run, deadline):
    # A launched run is `preparing` (no chunks yet) until the worker has frozen and split it.
    while (current := CampaignRun.objects.get(pk=run.pk)).status == CampaignRun.Status.PREPARING or (
        current.chunks_done < current.chunks_total
    ):
        assert time.monotonic() < deadline, (
            f"the worker did {current.chunks_done} of {current.chunks_total} chunks, "
            f"{CampaignRecipient.objects.count()} recipients"
        )
        time.sleep(0.5)


def test_a_run_through_a_real_worker_reaches_every_member_once_even_when_resent(settings, real_worker):
    # given 600 members, chunks of 100, and a campaign giving 5 points
    settings.CAMPAIGN_CHUNK_SIZE = 100
    members = many_members(600)
    campaign = CampaignFactory(status=Campaign.Status.DRAFT, points_bonus=5)

    # when it is launched (its chunks go to the worker through the broker), then all its chunks are sent again
    campaign_launch(campaign_id=campaign.pk, user=None, now=timezone.now())
    run = CampaignRun.objects.get()
    deadline = time.monotonic() + 300
    wait_for_chunks(run, deadline)
    campaign_run_resume(run_id=run.pk, now=timezone.now())
    wait_for_chunks(run, deadline)
    check_campaign_runs()

    # then every member has one row, one credit, one message; the run is finished
    run.refresh_from_db()
    assert (run.chunks_total, run.status, run.delivered_count) == (6, CampaignRun.Status.FINISHED, 600)
    assert CampaignRecipient.objects.count() == 600
    assert PointsEntry.objects.filter(member__in=members).count() == 600
    assert Notification.objects.count() == 600

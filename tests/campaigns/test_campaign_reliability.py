"""The issue's reliability case on PostgreSQL: a run over many members whose chunk raises mid-run (its transaction
rolled back after the rewards were given), then resumed: exactly one recipient, one reward and one message each."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection
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

ROOT = Path(__file__).resolve().parents[2]


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


def start_worker_process(database_url):
    """A real Celery worker in its own process (prefork, two children) on the test database and the broker."""
    env = {**os.environ, "DATABASE_URL": database_url, "DJANGO_SETTINGS_MODULE": "config.settings"}
    command = [
        sys.executable, "-m", "celery", "-A", "config.celery", "worker", "--concurrency=2", "--pool=prefork",
        "--without-gossip", "--without-mingle", "--without-heartbeat", "--loglevel=WARNING",
        f"--hostname=reliability-{os.getpid()}-{time.monotonic_ns()}@%h",
    ]  # fmt: skip
    return subprocess.Popen(command, cwd=ROOT, env=env, start_new_session=True)


def wait_for(predicate, *, seconds):
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


@pytest.mark.worker
def test_a_run_whose_worker_is_killed_mid_run_then_resumed_reaches_each_member_exactly_once(settings):
    # given 50,000 members, a campaign giving each a coupon and a message, in chunks of 1,000 sent to a real worker
    from config.celery import app as celery_app

    settings.CAMPAIGN_CHUNK_SIZE = 1000
    many_members(50_000)
    campaign = CampaignFactory(
        status=Campaign.Status.DRAFT, coupon_template=CouponTemplateFactory(per_member_limit=None)
    )
    db = connection.settings_dict
    database_url = (
        f"postgres://{db['USER']}:{db['PASSWORD']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    )
    celery_app.control.purge()
    celery_app.conf.task_always_eager = False
    worker = start_worker_process(database_url)
    try:
        # when the worker is killed (SIGKILL: no warm shutdown) once part of the run is done
        campaign_launch(campaign_id=campaign.pk, user=None, now=timezone.now())
        run = CampaignRun.objects.get()
        reached = CampaignRecipient.objects.filter(campaign=campaign)
        wait_for(lambda: reached.count() >= 5000, seconds=300)
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(timeout=30)
        assert reached.count() < 50_000, "the run ended before the worker was killed"
        # and a new worker resumes the run
        worker = start_worker_process(database_url)
        campaign_run_resume(run_id=run.pk, now=timezone.now())
        wait_for(lambda: reached.count() >= 50_000, seconds=600)
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(timeout=60)
        celery_app.control.purge()
        celery_app.conf.task_always_eager = True

    # then every member has exactly one recipient row, one coupon and one message
    assert reached.count() == 50_000
    assert not reached.values("member").annotate(n=Count("pk")).filter(n__gt=1).exists()
    coupons = Coupon.objects.filter(template=campaign.coupon_template)
    assert coupons.count() == 50_000
    assert not coupons.values("member").annotate(n=Count("pk")).filter(n__gt=1).exists()
    messages = Notification.objects.filter(kind=Notification.Kind.CAMPAIGN)
    assert messages.count() == 50_000
    assert not messages.values("member").annotate(n=Count("pk")).filter(n__gt=1).exists()
    campaign.refresh_from_db()
    assert campaign.coupons_issued == 50_000

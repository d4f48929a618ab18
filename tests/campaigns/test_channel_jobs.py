"""The channels' periodic jobs: registered in beat's tables at migrate, and the drain sends what is due."""

import pytest
from django_celery_beat.models import PeriodicTask

from campaigns.tasks import deliver_webhooks, drain_outbox
from members.models import Notification, OutboxMessage
from members.services.notifications import notify
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db


def test_the_drain_and_the_webhooks_run_every_minute():
    tasks = dict(PeriodicTask.objects.filter(task__startswith="campaigns.").values_list("task", "interval__every"))

    assert tasks == {
        "campaigns.drain_outbox": 1,
        "campaigns.deliver_webhooks": 1,
        "campaigns.run_due_campaigns": 5,
        "campaigns.check_campaign_runs": 1,
    }


def test_the_drain_task_sends_the_due_messages_in_chunks(fake_sms, settings, now):
    settings.CHANNEL_QUIET_HOURS, settings.OUTBOX_CHUNK_SIZE = "", 2
    for member in [MemberFactory(consent_sms=True) for _ in range(5)]:
        notify(
            member_id=member.pk, kind=Notification.Kind.POINTS_EXPIRING, dedupe_key=f"j:{member.pk}",
            params={"points": 1, "days": 1, "expires_on": "2026-07-01"}, now=now,
        )  # fmt: skip

    listed = drain_outbox.delay().get()

    assert listed == 5
    assert set(OutboxMessage.objects.values_list("status", flat=True)) == {OutboxMessage.Status.SENT}
    assert len(fake_sms.accepted) == 5
    assert deliver_webhooks.delay().get() == 0

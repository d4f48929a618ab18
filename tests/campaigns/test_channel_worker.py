"""The outbox drained by a real Celery worker from the real broker: every message reaches a gateway failing 30 % of
its calls exactly once."""

import time

import pytest
from django.utils import timezone

from campaigns.tasks import drain_outbox
from members.models import Notification, OutboxMessage
from members.services.notifications import notify
from tests.factories import MemberFactory

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_a_worker_drains_the_outbox_through_a_failing_gateway_exactly_once(
    settings, fake_sms, no_breakers, real_worker
):
    # given 30 SMS due, a gateway failing 30 % of its calls, retries due at once and no quiet hours
    settings.CHANNEL_QUIET_HOURS, settings.CHANNEL_RETRY_SECONDS, settings.CHANNEL_MAX_ATTEMPTS = "", 0, 30
    settings.OUTBOX_CHUNK_SIZE = 10
    fake_sms.fail_ratio = 0.3
    members = [MemberFactory(consent_sms=True) for _ in range(30)]
    for member in members:
        notify(
            member_id=member.pk, kind=Notification.Kind.POINTS_EXPIRING, dedupe_key=f"w:{member.pk}",
            params={"points": 10, "days": 7, "expires_on": "2026-07-01"}, now=timezone.now(),
        )  # fmt: skip

    # when beat's task is sent to the worker until nothing is pending
    deadline = time.monotonic() + 60
    while OutboxMessage.objects.filter(status=OutboxMessage.Status.PENDING).exists():
        assert time.monotonic() < deadline, "the worker did not drain the outbox"
        drain_outbox.delay()
        time.sleep(0.5)

    # then every member got their SMS once
    assert set(OutboxMessage.objects.values_list("status", flat=True)) == {OutboxMessage.Status.SENT}
    assert sorted(body["to"] for body in fake_sms.accepted.values()) == sorted(m.phone for m in members)
    assert set(fake_sms.accepted_count.values()) == {1}

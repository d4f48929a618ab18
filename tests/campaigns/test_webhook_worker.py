"""Webhooks delivered by a real Celery worker from the real broker: a receiver that hangs does not hold up
another endpoint's deliveries (one chunk task per endpoint, each endpoint behind its own breaker)."""

import time

import pytest
from django.utils import timezone

from campaigns.channels.webhooks import WebhookEventDraft, webhook_events_record
from campaigns.models import WebhookDelivery, WebhookEndpoint
from campaigns.tasks import deliver_webhooks
from tests.campaigns.channel_fakes import FakeWebhookReceiver
from tests.fakes import FakeResponse

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]
Status = WebhookDelivery.Status


def test_a_hanging_receiver_does_not_hold_up_another_endpoints_deliveries(settings, fake_webhook_receiver, real_worker):
    # given a receiver that answers after 2 s (the read timeout is 0.5 s) and one that answers at once, with 20
    # events each, and breakers that open after 3 failures in a row
    settings.WEBHOOK_TIMEOUT_SECONDS = settings.OUTBOUND_CONNECT_TIMEOUT_SECONDS = 0.5
    settings.WEBHOOK_BREAKER_FAILURES, settings.WEBHOOK_BREAKER_COOLDOWN_SECONDS = 3, 60
    hanging = FakeWebhookReceiver(secret="whsec-test")
    hanging.route("POST", "/hooks", lambda request: FakeResponse(status=204, body=b"", delay_seconds=2))
    hanging.start()
    try:
        stalled = WebhookEndpoint.objects.create(
            name="Stalled POS", url=hanging.base_url + "/hooks", secret="whsec-test", events=["purchase.recorded"]
        )
        healthy = WebhookEndpoint.objects.create(
            name="CRM", url=fake_webhook_receiver.base_url + "/hooks", secret="whsec-test",
            events=["purchase.recorded"],
        )  # fmt: skip
        drafts = [WebhookEventDraft(key=f"p{n}", payload={"n": n}) for n in range(20)]
        webhook_events_record(event="purchase.recorded", drafts=drafts, now=timezone.now())

        # when beat's task goes to the worker (one worker, one task at a time: the worst case)
        started = time.monotonic()
        deliver_webhooks.delay()
        while WebhookDelivery.objects.filter(endpoint=healthy, status=Status.PENDING).exists():
            assert time.monotonic() - started < 30, "the healthy endpoint's deliveries did not go out"
            time.sleep(0.1)
    finally:
        hanging.stop()

    # then the healthy endpoint got all 20
    assert len(fake_webhook_receiver.received) == 20
    # and the stalled one cost three tries, not twenty; the rest wait for its breaker's cool-down, no try counted
    tried = WebhookDelivery.objects.filter(endpoint=stalled, attempts__gt=0).count()
    assert tried == 3
    assert WebhookDelivery.objects.filter(endpoint=stalled, status=Status.PENDING).count() == 20

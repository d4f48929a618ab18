"""A receiver that hangs delays only its own deliveries: each endpoint is sent to by its own bounded chunk tasks,
behind its own circuit breaker, so after a few timeouts its deliveries wait for the cool-down (without a try
counted) while another endpoint's go out at once."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from campaigns import tasks
from campaigns.channels.webhooks import (
    BREAKER_OPEN,
    WebhookEventDraft,
    webhook_due_endpoint_ids,
    webhook_events_record,
    webhook_send_chunk,
)
from campaigns.models import WebhookDelivery, WebhookEndpoint
from tests.campaigns.channel_fakes import FakeWebhookReceiver
from tests.fakes import FakeResponse

pytestmark = pytest.mark.django_db

NOON = datetime(2026, 6, 1, 12, 0, tzinfo=ZoneInfo("Asia/Hong_Kong"))
Status = WebhookDelivery.Status


@pytest.fixture
def two_receivers(fake_webhook_receiver, settings):
    """The fixture's receiver answers at once; a second one hangs far beyond the read timeout."""
    settings.WEBHOOK_TIMEOUT_SECONDS = 0.3
    settings.OUTBOUND_CONNECT_TIMEOUT_SECONDS = 0.3
    hanging = FakeWebhookReceiver(secret="whsec-test")
    hanging.route("POST", "/hooks", lambda request: FakeResponse(status=204, body=b"", delay_seconds=2))
    hanging.start()
    yield fake_webhook_receiver, hanging
    hanging.stop()


def _endpoints(fast, hanging, *, deliveries):
    slow_endpoint = WebhookEndpoint.objects.create(
        name="Stalled POS", url=hanging.base_url + "/hooks", secret="whsec-test", events=["purchase.recorded"]
    )
    fast_endpoint = WebhookEndpoint.objects.create(
        name="CRM", url=fast.base_url + "/hooks", secret="whsec-test", events=["purchase.recorded"]
    )
    drafts = [WebhookEventDraft(key=f"p{n}", payload={"n": n}) for n in range(deliveries)]
    webhook_events_record(event="purchase.recorded", drafts=drafts, now=NOON)
    return slow_endpoint, fast_endpoint


def test_the_beat_starts_one_chunk_task_per_endpoint_with_deliveries_due(two_receivers, monkeypatch):
    fast, hanging = two_receivers
    slow_endpoint, fast_endpoint = _endpoints(fast, hanging, deliveries=2)
    WebhookEndpoint.objects.create(name="Idle", url=fast.base_url + "/hooks", events=["member.joined"])
    started = []
    monkeypatch.setattr(tasks.deliver_webhooks_to_endpoint, "delay", lambda **kwargs: started.append(kwargs))

    assert tasks.deliver_webhooks() == 2

    assert started == [{"endpoint_id": slow_endpoint.pk}, {"endpoint_id": fast_endpoint.pk}]
    assert webhook_due_endpoint_ids(now=timezone.now()) == [slow_endpoint.pk, fast_endpoint.pk]


def test_a_hanging_endpoint_opens_its_breaker_and_the_other_endpoints_deliveries_still_go_out_promptly(
    two_receivers, settings
):
    # given two endpoints with 20 events each, one of them hanging, and breakers that open after 3 failures
    settings.WEBHOOK_BREAKER_FAILURES, settings.WEBHOOK_BREAKER_COOLDOWN_SECONDS = 3, 60
    fast, hanging = two_receivers
    slow_endpoint, fast_endpoint = _endpoints(fast, hanging, deliveries=20)

    # when the hanging endpoint's chunk runs first (the worse order), then the other's
    slow_counts = webhook_send_chunk(endpoint_id=slow_endpoint.pk, clock=lambda: NOON, limit=100)
    fast_counts = webhook_send_chunk(endpoint_id=fast_endpoint.pk, clock=lambda: NOON, limit=100)

    # then the hanging one cost three timeouts, not twenty, and put the rest off without counting a try
    assert slow_counts == {Status.PENDING: 3, BREAKER_OPEN: 1}
    assert len(hanging.requests_to("/hooks")) == 3
    slow = WebhookDelivery.objects.filter(endpoint=slow_endpoint)
    assert sorted(slow.values_list("attempts", flat=True)) == [0] * 17 + [1] * 3
    put_off = slow.filter(attempts=0).order_by("pk").first()
    assert put_off.next_attempt_at >= NOON + timedelta(seconds=59)
    assert put_off.status == Status.PENDING

    # and the other endpoint got every event at once
    assert fast_counts == {Status.SENT: 20}
    assert len(fast.received) == 20


def test_the_chunk_is_bounded(fake_webhook_receiver):
    endpoint = WebhookEndpoint.objects.create(
        name="CRM", url=fake_webhook_receiver.base_url + "/hooks", secret="whsec-test", events=["purchase.recorded"]
    )
    drafts = [WebhookEventDraft(key=f"p{n}", payload={"n": n}) for n in range(7)]
    webhook_events_record(event="purchase.recorded", drafts=drafts, now=NOON)

    assert webhook_send_chunk(endpoint_id=endpoint.pk, clock=lambda: NOON, limit=5) == {Status.SENT: 5}
    assert WebhookDelivery.objects.filter(endpoint=endpoint, status=Status.PENDING).count() == 2

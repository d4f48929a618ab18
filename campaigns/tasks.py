"""Celery tasks of the channels: thin, keyword-only, idempotent (every send claims its row first)."""

import time

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from campaigns.channels.sender import outbox_due_ids, outbox_send_chunk
from campaigns.channels.webhooks import webhook_due_ids, webhook_send


@shared_task(name="campaigns.drain_outbox")
def drain_outbox() -> int:
    """Fan the due outbox messages out in chunks (beat, every minute); return how many were listed."""
    ids = outbox_due_ids(now=timezone.now(), limit=settings.OUTBOX_DRAIN_LIMIT)
    size = settings.OUTBOX_CHUNK_SIZE
    for start in range(0, len(ids), size):
        send_outbox_chunk.delay(ids=ids[start : start + size])
    return len(ids)


@shared_task(name="campaigns.send_outbox_chunk")
def send_outbox_chunk(*, ids: list[int]) -> dict:
    return dict(outbox_send_chunk(ids=ids, clock=timezone.now, sleep=time.sleep))


@shared_task(name="campaigns.deliver_webhooks")
def deliver_webhooks() -> int:
    """Send the due webhook deliveries (beat, every minute, and after an event is recorded); return how many."""
    ids = webhook_due_ids(now=timezone.now(), limit=settings.OUTBOX_DRAIN_LIMIT)
    for delivery_id in ids:
        webhook_send(delivery_id=delivery_id, now=timezone.now())
    return len(ids)

"""Outbound webhooks: record the domain's events for the endpoints that want them, and deliver them signed.

Events come from the domain signals (members/signals.py, sent after commit; campaigns/receivers.py). Recording
writes one WebhookDelivery per interested endpoint under a unique (endpoint, event key), so an event recorded
twice is sent once. Delivering claims a due delivery by a conditional UPDATE (a lease, as the outbox's sender
does), POSTs it signed (infra/webhooks.py) outside any transaction, and records the answer: sent, or tried again
after a back-off doubling from WEBHOOK_RETRY_SECONDS, failed after WEBHOOK_MAX_ATTEMPTS tries, or failed at once
when the URL may not receive webhooks (a private address: infra/webhooks.py), with the refusal's code.

Each endpoint is delivered to by its own chunk tasks (campaigns/tasks.py), WEBHOOK_CHUNK_SIZE deliveries at most
each, and behind its own circuit breaker (infra/circuit.py): after WEBHOOK_BREAKER_FAILURES failures in a row the
endpoint's deliveries are put off for the cool-down without a try (and without counting one), so a hanging
receiver costs a few timeouts per cool-down, not one per delivery, and never holds up another endpoint's chunk.
"""

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.cache import cache
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.db.models import Exists, OuterRef

from campaigns.channels.policy import retry_delay
from campaigns.models import WebhookDelivery, WebhookEndpoint
from infra.circuit import CallRefused, CircuitBreaker
from infra.errors import DeliveryUnavailable
from infra.webhooks import WebhookUrlRefused, webhook_post

Status = WebhookDelivery.Status
LEASE = timedelta(minutes=2)
INSERT_BATCH_SIZE = 1000


@dataclass(frozen=True)
class WebhookEventDraft:
    key: str
    payload: dict
    store_id: int | None = None


ENDPOINTS_CACHE_KEY = "webhooks:endpoints"
ENDPOINTS_CACHE_SECONDS = 60


def _active_endpoints() -> list[tuple[int, list, int | None]]:
    """(id, events, store id) of the active endpoints, from the shared cache: every purchase asks, few change."""
    return cache.get_or_set(
        ENDPOINTS_CACHE_KEY,
        lambda: list(WebhookEndpoint.objects.filter(is_active=True).values_list("pk", "events", "store_id")),
        timeout=ENDPOINTS_CACHE_SECONDS,
    )


def webhook_endpoints_forget() -> None:
    """Drop the cached list (an endpoint was saved or deleted)."""
    cache.delete(ENDPOINTS_CACHE_KEY)


def webhook_endpoints_for(event: str) -> list[tuple[int, int | None]]:
    """(id, store id) of the active endpoints that asked for `event`."""
    return [(pk, store_id) for pk, events, store_id in _active_endpoints() if event in (events or [])]


@transaction.atomic
def webhook_events_record(*, event: str, drafts: Iterable[WebhookEventDraft], now: datetime) -> int:
    """Write a delivery of each event for each endpoint that wants it (and whose store it is); return how many."""
    endpoints = webhook_endpoints_for(event)
    if not endpoints:
        return 0
    # Payloads travel as JSON: dates, decimals and the like become text once, here.
    rows = [
        WebhookDelivery(
            endpoint_id=endpoint_id,
            event=event,
            event_key=draft.key,
            payload=json.loads(json.dumps(draft.payload, cls=DjangoJSONEncoder)),
            member_number=draft.payload.get("member_number") or "",
            store_id=draft.store_id,
            next_attempt_at=now,
            created_at=now,
        )
        for draft in drafts
        for endpoint_id, store_id in endpoints
        if store_id is None or store_id == draft.store_id
    ]
    WebhookDelivery.objects.bulk_create(rows, batch_size=INSERT_BATCH_SIZE, ignore_conflicts=True)
    return len(rows)


def _due(now: datetime):
    return WebhookDelivery.objects.filter(status=Status.PENDING, next_attempt_at__lte=now)


def webhook_due_endpoint_ids(*, now: datetime) -> list[int]:
    """The active endpoints with a delivery due: one probe of the (endpoint, next attempt) index each."""
    return list(
        WebhookEndpoint.objects.filter(is_active=True)
        .filter(Exists(_due(now).filter(endpoint_id=OuterRef("pk"))))
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def webhook_due_ids(*, now: datetime, limit: int, endpoint_id: int | None = None) -> list[int]:
    """The due deliveries (of one endpoint, or of every active one), oldest first."""
    # An inactive endpoint's deliveries wait for it without standing in the way of the others.
    due = _due(now).filter(endpoint_id=endpoint_id) if endpoint_id else _due(now).filter(endpoint__is_active=True)
    return list(due.order_by("next_attempt_at", "pk").values_list("pk", flat=True)[:limit])


BREAKER_OPEN = "breaker_open"


def webhook_breaker(endpoint_id: int) -> CircuitBreaker:
    """The endpoint's circuit breaker, shared by every worker through the cache."""
    return CircuitBreaker(
        f"webhook:{endpoint_id}",
        failure_threshold=settings.WEBHOOK_BREAKER_FAILURES,
        window_seconds=settings.OUTBOUND_BREAKER_WINDOW_SECONDS,
        cooldown_seconds=settings.WEBHOOK_BREAKER_COOLDOWN_SECONDS,
        call_seconds=settings.OUTBOUND_CONNECT_TIMEOUT_SECONDS + settings.WEBHOOK_TIMEOUT_SECONDS,
    )


def webhook_send_chunk(*, endpoint_id: int, clock, limit: int) -> dict:
    """Send at most `limit` due deliveries of one endpoint, oldest first; return how many ended in each status.

    An open breaker ends the chunk: the endpoint's other deliveries wait for the cool-down.
    """
    counts: dict[str, int] = {}
    for delivery_id in webhook_due_ids(now=clock(), limit=limit, endpoint_id=endpoint_id):
        outcome = webhook_send(delivery_id=delivery_id, now=clock())
        counts[outcome] = counts.get(outcome, 0) + 1
        if outcome == BREAKER_OPEN:
            break
    return counts


def webhook_body(delivery: WebhookDelivery) -> bytes:
    """The JSON a receiver gets: the same bytes on every retry of a delivery."""
    envelope = {
        "id": str(delivery.pk),
        "event": delivery.event,
        "created_at": delivery.created_at.isoformat(),
        "data": delivery.payload,
    }
    return json.dumps(envelope, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def webhook_send(*, delivery_id: int, now: datetime) -> str:
    """Deliver one due webhook; return its status afterwards ("" when it was not due or is claimed elsewhere,
    BREAKER_OPEN when the endpoint's breaker put it off without a try)."""
    claimed = (
        WebhookDelivery.objects.filter(pk=delivery_id, status=Status.PENDING, next_attempt_at__lte=now)
        .filter(endpoint__is_active=True)
        .update(next_attempt_at=now + LEASE)
    )
    if not claimed:
        return ""
    delivery = WebhookDelivery.objects.select_related("endpoint").get(pk=delivery_id)
    attempts = delivery.attempts + 1
    try:
        with webhook_breaker(delivery.endpoint_id).call():
            status_code = webhook_post(
                url=delivery.endpoint.url,
                secret=delivery.endpoint.secret,
                event=delivery.event,
                delivery_id=str(delivery.pk),
                body=webhook_body(delivery),
                timestamp=int(now.timestamp()),
            )
    except CallRefused as exc:
        WebhookDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=now + timedelta(seconds=exc.retry_after))
        return BREAKER_OPEN
    except WebhookUrlRefused as exc:
        # No request was made: the URL must be changed, trying again cannot help.
        WebhookDelivery.objects.filter(pk=delivery.pk).update(
            status=Status.FAILED, attempts=attempts, next_attempt_at=None, last_error=exc.code, last_status_code=None
        )
        return Status.FAILED
    except DeliveryUnavailable as exc:
        detail = str(exc.message)[:500]
        code = int(detail[5:]) if detail.startswith("HTTP ") and detail[5:].isdigit() else None
        if attempts >= settings.WEBHOOK_MAX_ATTEMPTS:
            fields = {"status": Status.FAILED, "next_attempt_at": None}
        else:
            delay = retry_delay(attempts=attempts, base_seconds=settings.WEBHOOK_RETRY_SECONDS)
            fields = {"next_attempt_at": now + delay}
        WebhookDelivery.objects.filter(pk=delivery.pk).update(
            attempts=attempts, last_error=detail, last_status_code=code, **fields
        )
        return fields.get("status", Status.PENDING)
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        status=Status.SENT, attempts=attempts, sent_at=now, next_attempt_at=None, last_status_code=status_code,
        last_error="",
    )  # fmt: skip
    return Status.SENT

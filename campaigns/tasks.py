"""Celery tasks of the channels: thin, keyword-only, idempotent (every send claims its row first)."""

import time

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from campaigns.channels.sender import outbox_due_ids, outbox_send_chunk
from campaigns.channels.webhooks import BREAKER_OPEN, webhook_due_endpoint_ids, webhook_send_chunk


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
    """Start a chunk task for each endpoint with a delivery due (beat, every minute); return how many endpoints.

    One task per endpoint, so a receiver that hangs delays only its own deliveries.
    """
    endpoint_ids = webhook_due_endpoint_ids(now=timezone.now())
    for endpoint_id in endpoint_ids:
        deliver_webhooks_to_endpoint.delay(endpoint_id=endpoint_id)
    return len(endpoint_ids)


@shared_task(name="campaigns.deliver_webhooks_to_endpoint")
def deliver_webhooks_to_endpoint(*, endpoint_id: int) -> dict:
    """Send a chunk of one endpoint's due deliveries; a full chunk queues the next one (a backlog drains without
    waiting for the beat, taking turns with the other endpoints' tasks)."""
    limit = settings.WEBHOOK_CHUNK_SIZE
    counts = webhook_send_chunk(endpoint_id=endpoint_id, clock=timezone.now, limit=limit)
    if sum(counts.values()) >= limit and BREAKER_OPEN not in counts and not settings.CELERY_TASK_ALWAYS_EAGER:
        deliver_webhooks_to_endpoint.delay(endpoint_id=endpoint_id)
    return counts


# -- campaigns -------------------------------------------------------------------------------------------------
@shared_task(name="campaigns.run_due_campaigns")
def run_due_campaigns() -> dict:
    """Start the due runs of the scheduled campaigns and end those past their last day (beat, every 5 minutes)."""
    from campaigns.services.campaign_runs import campaigns_run_due

    return campaigns_run_due(now=timezone.now())


@shared_task(name="campaigns.check_campaign_runs")
def check_campaign_runs() -> dict:
    """Mark finished the runs whose members are all reached and whose messages all left (beat, every minute)."""
    from campaigns.services.campaign_runs import campaign_runs_check

    return campaign_runs_check(now=timezone.now())


@shared_task(name="campaigns.prepare_campaign_run", acks_late=True)
def prepare_campaign_run(*, run_id: int) -> bool:
    """Freeze a started run's segment, split its audience and fan its chunks out (once per run)."""
    from campaigns.services.campaign_runs import campaign_run_prepare

    return campaign_run_prepare(run_id=run_id, now=timezone.now())


@shared_task(name="campaigns.campaign_run_chunk")
def campaign_run_chunk_task(*, run_id: int, first_id: int, last_id: int) -> dict | None:
    """Deliver one chunk of a run (idempotent: members already reached get nothing more)."""
    from campaigns.services.campaign_runs import campaign_run_chunk

    result = campaign_run_chunk(run_id=run_id, first_id=first_id, last_id=last_id, now=timezone.now())
    return None if result is None else {"created": result.created, **result.statuses}


# -- the event-driven kinds (campaigns/services/triggers.py), enqueued by campaigns/receivers.py after commit ----
@shared_task(name="campaigns.trigger_welcome")
def trigger_welcome(*, member_id: int) -> int:
    """Deliver the running welcome campaigns to a member who joined; return how many campaigns reached them."""
    from campaigns.services.triggers import campaigns_trigger_welcome

    return len(campaigns_trigger_welcome(member_id=member_id, now=timezone.now()))


@shared_task(name="campaigns.trigger_after_purchase")
def trigger_after_purchase(*, purchase_id: int) -> int:
    """Deliver the running after_purchase campaigns whose minimum the purchase meets."""
    from campaigns.services.triggers import campaigns_trigger_after_purchase

    return len(campaigns_trigger_after_purchase(purchase_id=purchase_id, now=timezone.now()))


TIER_MOVES_PER_TASK = 500  # a review chunk's upgrades reach the campaigns in tasks of this many moves


@shared_task(name="campaigns.trigger_tier_upgrade")
def trigger_tier_upgrade(*, moves: list[dict]) -> int:
    """Deliver the running tier_upgrade campaigns to members who moved up: `moves` of {"member_id", "old_tier_id",
    "new_tier_id"}. Returns how many deliveries were made."""
    from campaigns.services.triggers import campaigns_trigger_tier_upgrade

    now = timezone.now()
    return sum(len(campaigns_trigger_tier_upgrade(**move, now=now)) for move in moves)


@shared_task(name="campaigns.trigger_coupon_expiring")
def trigger_coupon_expiring(*, reminders: list[dict]) -> dict:
    """Deliver a chunk of coupon expiry reminders through the coupon_expiring campaigns."""
    from campaigns.services.triggers import campaigns_trigger_coupon_expiring

    return campaigns_trigger_coupon_expiring(reminders=reminders, now=timezone.now())


@shared_task(name="campaigns.trigger_points_expiring")
def trigger_points_expiring(*, reminders: list[dict]) -> dict:
    """Deliver a chunk of points expiry reminders through the points_expiring campaigns."""
    from campaigns.services.triggers import campaigns_trigger_points_expiring

    return campaigns_trigger_points_expiring(reminders=reminders, now=timezone.now())

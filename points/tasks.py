"""Periodic points jobs (scheduled in django-celery-beat's tables by points.schedules): thin and idempotent."""

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from points.services.expiry import points_expire_chunk, points_expire_due, points_release_pending


@shared_task(name="points.release_pending_points")
def release_pending_points() -> int:
    return points_release_pending(now=timezone.now())


@shared_task(name="points.expire_points")
def expire_points() -> int:
    """Fan the expiry out in chunk tasks; return how many chunks were sent."""
    return points_expire_due(now=timezone.now())


@shared_task(name="points.expire_points_chunk", acks_late=True)
def expire_points_chunk(*, first_id: int, last_id: int, now: str) -> int:
    """Expire the due lots of the members first_id..last_id at the run's time `now` (ISO 8601); safe to repeat."""
    from datetime import datetime

    return points_expire_chunk(first_id=first_id, last_id=last_id, now=datetime.fromisoformat(now))


@shared_task(name="points.grant_points_job")
def grant_points_job(*, job_id: int) -> int:
    from points.services.grants import points_grant_job_run

    return points_grant_job_run(job_id=job_id, now=timezone.now()).members_granted


@shared_task(name="points.remind_expiring_points")
def remind_expiring_points() -> int:
    """Remind members of points about to expire: through the merchant's points_expiring campaign when
    POINTS_EXPIRY_REMINDERS_BY_CAMPAIGN is on (only the signal goes from here), else with points' own message."""
    from points.services.expiry_reminders import points_expiry_remind

    return points_expiry_remind(now=timezone.now(), notify=not settings.POINTS_EXPIRY_REMINDERS_BY_CAMPAIGN)


@shared_task(name="points.grant_tier_monthly_gifts")
def grant_tier_monthly_gifts() -> int:
    from points.services.tier_gifts import tier_monthly_gifts_grant

    return len(tier_monthly_gifts_grant(now=timezone.now()).started)


@shared_task(name="points.close_auctions")
def close_auctions() -> int:
    from points.services.auctions import auctions_close_due

    return auctions_close_due(now=timezone.now())


@shared_task(name="points.expire_checkout_orders")
def expire_checkout_orders() -> int:
    from points.services.checkout_orders import checkout_orders_expire

    return checkout_orders_expire(now=timezone.now())


@shared_task(name="points.follow_checkout_refunds")
def follow_checkout_refunds() -> int:
    from points.services.checkout_orders import checkout_order_refunds_follow

    return checkout_order_refunds_follow(now=timezone.now())

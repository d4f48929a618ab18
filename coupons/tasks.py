"""Celery tasks of the coupons app: thin, idempotent wrappers around the scheduled and bulk services."""

from celery import shared_task
from django.utils import timezone

from coupons.services import coupons_expire, coupons_release_stale_reservations
from coupons.services.bulk import coupon_issue_job_run


@shared_task(acks_late=True)
def coupons_expire_task() -> int:
    """Expire available coupons past their end (safe to run twice)."""
    return coupons_expire(now=timezone.now())


@shared_task(acks_late=True)
def coupons_release_stale_reservations_task() -> int:
    """Give back reservations whose time is up (safe to run twice)."""
    return coupons_release_stale_reservations(now=timezone.now())


@shared_task(acks_late=True)
def coupon_issue_job_task(*, job_id: int) -> int:
    """Run or resume a bulk issue job; return how many coupons it has issued (safe to run twice)."""
    return coupon_issue_job_run(job_id=job_id, now=timezone.now()).issued


@shared_task(acks_late=True)
def coupons_remind_expiring_task() -> int:
    """Notify members of their coupons about to expire (safe to run twice: one reminder per coupon)."""
    from coupons.services.reminders import coupons_expiry_remind

    return coupons_expiry_remind(now=timezone.now())

"""Celery tasks of the coupons app: thin, idempotent wrappers around the scheduled and bulk services."""

from celery import shared_task
from django.utils import timezone

from coupons.services import coupons_expire, coupons_release_stale_reservations
from coupons.services.bulk import coupon_issue_chunk_run, coupon_issue_job_run


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
    """Run or resume a bulk issue job by fanning its chunks out; return how many coupons it has issued so far."""
    return coupon_issue_job_run(job_id=job_id, now=timezone.now()).issued


@shared_task(acks_late=True)
def coupon_issue_chunk_task(
    *, job_id: int, number: int, first_id: int, last_id: int, now: str, chunks: int | None = None
) -> int:
    """Issue chunk `number` of a job (members first_id..last_id) at the job's time `now` (ISO 8601); return how many
    coupons it issued (0 when the chunk was done already: safe to run twice). `chunks` is sent only by a
    coordinator of the release before."""
    from datetime import datetime

    result = coupon_issue_chunk_run(
        job_id=job_id, number=number, first_id=first_id, last_id=last_id, now=datetime.fromisoformat(now),
        chunks=chunks,
    )  # fmt: skip
    return result.issued if result else 0


@shared_task(acks_late=True)
def coupons_remind_expiring_task() -> int:
    """Remind members of their coupons about to expire (safe to run twice: one reminder per coupon): through the
    merchant's coupon_expiring campaign when COUPON_EXPIRY_REMINDERS_BY_CAMPAIGN is on (only the signal goes from
    here), else with coupons' own message."""
    from django.conf import settings

    from coupons.services.reminders import coupons_expiry_remind

    return coupons_expiry_remind(now=timezone.now(), notify=not settings.COUPON_EXPIRY_REMINDERS_BY_CAMPAIGN)

"""Celery tasks of the members app: thin, idempotent wrappers around services."""

from celery import shared_task
from django.utils import timezone

from members.services.member_import import member_import_chunk_write, member_import_job_run


@shared_task(acks_late=True)
def member_import_job_task(*, job_id: int) -> None:
    """Validate a member import job's file and fan its chunks out (safe to run twice: written chunks are skipped)."""
    member_import_job_run(job_id=job_id, now=timezone.now())


@shared_task(acks_late=True)
def member_import_chunk_task(*, job_id: int, number: int, now: str) -> None:
    """Write one chunk of a member import job at the job's time `now` (ISO 8601); a written chunk is skipped."""
    from datetime import datetime

    member_import_chunk_write(job_id=job_id, number=number, now=datetime.fromisoformat(now))


@shared_task(acks_late=True)
def member_import_sweep_task() -> dict[str, int]:
    """The scheduled sweep of what imports keep of members' data (django-celery-beat): the uploads no import needs
    any more and the rows with errors of imports finished long enough ago."""
    from members.services.member_import import member_import_errors_expire, member_import_uploads_sweep

    now = timezone.now()
    return {
        "uploads_deleted": member_import_uploads_sweep(now=now),
        "errors_deleted": member_import_errors_expire(now=now),
    }


# -- tiers (issue 4) ---------------------------------------------------------------------------------------------
@shared_task(acks_late=True)
def tier_evaluation_task(*, now: str | None = None) -> int:
    """The scheduled review (django-celery-beat): fan the members out in chunks, one task per chunk.

    Every chunk task gets the same review time (`now`, ISO 8601; the beat gives none: the time it runs), so a
    duplicate run (two beats, a retry) changes nothing twice. Returns the number of chunks enqueued.
    """
    from datetime import datetime

    from django.db import transaction

    from infra.fanout import fan_out
    from members.services.tiers import tier_evaluation_chunks, tier_review_mark

    now = datetime.fromisoformat(now) if now else timezone.now()
    stamp = now.isoformat()
    chunks = [{"first_id": first, "last_id": last, "now": stamp} for first, last in tier_evaluation_chunks()]
    with transaction.atomic():
        tier_review_mark(now=now)
        transaction.on_commit(lambda: fan_out(tier_evaluate_chunk_task, chunks))
    return len(chunks)


@shared_task(acks_late=True)
def tier_evaluate_chunk_task(*, first_id: int, last_id: int, now: str) -> dict:
    """Re-evaluate the members with first_id <= id <= last_id at the review time `now` (ISO 8601)."""
    from datetime import datetime

    from members.services.tiers import tier_evaluate_chunk

    summary = tier_evaluate_chunk(first_id=first_id, last_id=last_id, now=datetime.fromisoformat(now))
    return {"upgrades": summary.upgrades, "downgrades": summary.downgrades}


# -- paid plans and tier periods (issue 4) --------------------------------------------------------------------
@shared_task(acks_late=True)
def plans_expire_task() -> dict:
    """The scheduled plan expiry (django-celery-beat): re-review the members whose plan or top-up period ended.

    Safe to run twice: each ended period is processed once.
    """
    from members.services.plans import plans_expire

    summary = plans_expire(now=timezone.now())
    return {"subscriptions": summary.subscriptions, "members": summary.members, "tier_moves": len(summary.tier_moves)}

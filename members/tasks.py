"""Celery tasks of the members app: thin, idempotent wrappers around services."""

from celery import shared_task
from django.utils import timezone

from members.services.member_import import member_import_job_run


@shared_task(acks_late=True)
def member_import_job_task(*, job_id: int) -> None:
    """Run or resume a member import job (safe to run twice: finished chunks are skipped)."""
    member_import_job_run(job_id=job_id, now=timezone.now())

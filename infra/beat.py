"""Registering an app's periodic jobs in django-celery-beat's tables, where the merchant edits them.

Not CELERY_BEAT_SCHEDULE: beat would write that over console edits at every start. Registering is idempotent:
a job already registered (by name) is left exactly as the merchant set it; a deleted one comes back.
Each app lists its jobs (points/schedules.py, coupons/schedules.py) and calls `periodic_tasks_ensure` after
migrate.
"""

from dataclasses import dataclass, field

from django.conf import settings
from django.db import connections, transaction


@dataclass(frozen=True)
class PeriodicJob:
    name: str
    task: str
    crontab: dict = field(default_factory=dict)  # minute, hour, ... ("*" where not given)
    every_minutes: int | None = None  # instead of a crontab
    description: str = ""


def beat_tables_exist(using: str = "default") -> bool:
    """False while beat's tables are not migrated yet (`migrate <app>` alone on a fresh database)."""
    tables = connections[using].introspection.table_names()
    return "django_celery_beat_periodictask" in tables and "django_celery_beat_crontabschedule" in tables


def periodic_tasks_ensure(jobs, *, using: str = "default") -> list[str]:
    """Create the jobs' periodic tasks that are missing; return the names created."""
    from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask

    if not beat_tables_exist(using):
        return []
    created = []
    with transaction.atomic(using=using):
        for job in jobs:
            if PeriodicTask.objects.using(using).filter(name=job.name).exists():
                continue
            schedule = {}
            if job.every_minutes:
                schedule["interval"], _ = IntervalSchedule.objects.using(using).get_or_create(
                    every=job.every_minutes, period=IntervalSchedule.MINUTES
                )
            else:
                fields = {
                    "minute": "*", "hour": "*", "day_of_week": "*", "day_of_month": "*", "month_of_year": "*",
                    **job.crontab,
                }  # fmt: skip
                schedule["crontab"], _ = CrontabSchedule.objects.using(using).get_or_create(
                    **fields, timezone=settings.TIME_ZONE
                )
            PeriodicTask.objects.using(using).create(
                name=job.name, task=job.task, description=job.description, **schedule
            )
            created.append(job.name)
    return created

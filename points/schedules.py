"""The points jobs' schedules, kept in django-celery-beat's tables so they can be edited in the console.

`schedules_ensure` creates a missing schedule and leaves an existing one (and any console edit) alone; it
runs after every migrate (points.apps) and from `manage.py setup_schedules`. Never CELERY_BEAT_SCHEDULE:
beat would overwrite console edits with it at every start.
"""

from django.conf import settings
from django.db import transaction

SCHEDULES = (
    # (name, task, crontab fields)
    ("points: release pending points", "points.release_pending_points", {"minute": "5", "hour": "*"}),
    ("points: expire points", "points.expire_points", {"minute": "15", "hour": "0"}),
)


@transaction.atomic
def schedules_ensure(*, using: str = "default") -> list[str]:
    """Create the points jobs' periodic tasks that are missing; return the names created."""
    from django_celery_beat.models import CrontabSchedule, PeriodicTask

    created = []
    for name, task, fields in SCHEDULES:
        if PeriodicTask.objects.using(using).filter(name=name).exists():
            continue
        crontab, _ = CrontabSchedule.objects.using(using).get_or_create(
            minute=fields["minute"],
            hour=fields["hour"],
            day_of_week="*",
            day_of_month="*",
            month_of_year="*",
            timezone=settings.TIME_ZONE,
        )
        PeriodicTask.objects.using(using).create(name=name, task=task, crontab=crontab)
        created.append(name)
    return created

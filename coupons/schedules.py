"""The coupons app's periodic jobs, registered in django-celery-beat's tables so the merchant edits them.

Not CELERY_BEAT_SCHEDULE: beat would write those over console edits at every start. Registering is
idempotent: a task already registered (by name) is left exactly as the merchant set it.
"""

from django.conf import settings
from django.db import connection, transaction

EXPIRE_TASK_NAME = "coupons: expire coupons past their end"
RELEASE_TASK_NAME = "coupons: release stale checkout reservations"
REMIND_TASK_NAME = "coupons: remind members of coupons about to expire"


@transaction.atomic
def coupons_beat_schedules_register(**_kwargs) -> list[str]:
    """Create the coupon periodic tasks that are missing; return the names created (empty when all exist)."""
    from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask

    if PeriodicTask._meta.db_table not in connection.introspection.table_names():
        return []  # `migrate coupons` alone on a fresh database: beat's tables come with the next full migrate
    created = []
    if not PeriodicTask.objects.filter(name=EXPIRE_TASK_NAME).exists():
        hourly, _created = CrontabSchedule.objects.get_or_create(
            minute="5",
            hour="*",
            day_of_week="*",
            day_of_month="*",
            month_of_year="*",
            timezone=getattr(settings, "CELERY_TIMEZONE", settings.TIME_ZONE),
        )
        PeriodicTask.objects.create(
            name=EXPIRE_TASK_NAME,
            task="coupons.tasks.coupons_expire_task",
            crontab=hourly,
            description="Marks available coupons past their end as expired (hourly, at minute 5).",
        )
        created.append(EXPIRE_TASK_NAME)
    if not PeriodicTask.objects.filter(name=RELEASE_TASK_NAME).exists():
        every_minute, _created = IntervalSchedule.objects.get_or_create(every=1, period=IntervalSchedule.MINUTES)
        PeriodicTask.objects.create(
            name=RELEASE_TASK_NAME,
            task="coupons.tasks.coupons_release_stale_reservations_task",
            interval=every_minute,
            description="Gives back coupons held by checkouts whose reservation time is up (every minute).",
        )
        created.append(RELEASE_TASK_NAME)
    if not PeriodicTask.objects.filter(name=REMIND_TASK_NAME).exists():
        daily, _created = CrontabSchedule.objects.get_or_create(
            minute="0",
            hour="10",
            day_of_week="*",
            day_of_month="*",
            month_of_year="*",
            timezone=getattr(settings, "CELERY_TIMEZONE", settings.TIME_ZONE),
        )
        PeriodicTask.objects.create(
            name=REMIND_TASK_NAME,
            task="coupons.tasks.coupons_remind_expiring_task",
            crontab=daily,
            description="Notifies members of unused coupons about to expire (daily at 10:00).",
        )
        created.append(REMIND_TASK_NAME)
    return created

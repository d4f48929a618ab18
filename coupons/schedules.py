"""The coupons app's periodic jobs, registered in django-celery-beat's tables (see infra.beat)."""

from infra.beat import PeriodicJob, periodic_tasks_ensure

EXPIRE_TASK_NAME = "coupons: expire coupons past their end"
RELEASE_TASK_NAME = "coupons: release stale checkout reservations"
REMIND_TASK_NAME = "coupons: remind members of coupons about to expire"

JOBS = (
    PeriodicJob(
        name=EXPIRE_TASK_NAME,
        task="coupons.tasks.coupons_expire_task",
        crontab={"minute": "5"},
        description="Marks available coupons past their end as expired (hourly, at minute 5).",
    ),
    PeriodicJob(
        name=RELEASE_TASK_NAME,
        task="coupons.tasks.coupons_release_stale_reservations_task",
        every_minutes=1,
        description="Gives back coupons held by checkouts whose reservation time is up (every minute).",
    ),
    PeriodicJob(
        name=REMIND_TASK_NAME,
        task="coupons.tasks.coupons_remind_expiring_task",
        crontab={"minute": "0", "hour": "10"},
        description="Notifies members of unused coupons about to expire (daily at 10:00).",
    ),
)


def coupons_beat_schedules_register(using: str = "default", **_kwargs) -> list[str]:
    """Create the coupon periodic tasks that are missing; return the names created (post_migrate receiver)."""
    return periodic_tasks_ensure(JOBS, using=using)

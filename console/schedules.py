"""The console's periodic jobs, registered in django-celery-beat's tables (see infra.beat)."""

from infra.beat import PeriodicJob, periodic_tasks_ensure

REFRESH_TASK_NAME = "console: refresh the dashboard's daily figures"

JOBS = (
    PeriodicJob(
        name=REFRESH_TASK_NAME,
        task="console.refresh_daily_figures",
        # After midnight, once the points expiry (00:15) has written yesterday's expirations.
        crontab={"minute": "40", "hour": "0"},
        description="Stores the dashboard's figures of the days before today (daily at 00:40; safe to rerun).",
    ),
)


def console_beat_schedules_register(using: str = "default", **_kwargs) -> list[str]:
    """Create the console's periodic tasks that are missing; return the names created (post_migrate receiver)."""
    return periodic_tasks_ensure(JOBS, using=using)

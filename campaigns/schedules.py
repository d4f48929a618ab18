"""The channels' schedules, kept in django-celery-beat's tables (editable in the console; see infra/beat.py)."""

from infra.beat import PeriodicJob, periodic_tasks_ensure

JOBS = (
    # Every minute: held messages go out within a minute of the quiet hours' end, retries within a minute of their time.
    PeriodicJob(name="campaigns: send the outbox", task="campaigns.drain_outbox", every_minutes=1),
    PeriodicJob(name="campaigns: deliver webhooks", task="campaigns.deliver_webhooks", every_minutes=1),
    # Scheduled campaigns start within 5 minutes of their send time; a run shows finished within a minute of its
    # last message leaving.
    PeriodicJob(name="campaigns: run due campaigns", task="campaigns.run_due_campaigns", every_minutes=5),
    PeriodicJob(name="campaigns: check campaign runs", task="campaigns.check_campaign_runs", every_minutes=1),
)


def schedules_ensure(*, using: str = "default") -> list[str]:
    return periodic_tasks_ensure(JOBS, using=using)

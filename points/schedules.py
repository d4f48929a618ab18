"""The points jobs' schedules, kept in django-celery-beat's tables so they can be edited in the console.

`schedules_ensure` creates a missing schedule and leaves an existing one (and any console edit) alone; it
runs after every migrate (points.apps) and from `manage.py setup_schedules`. Never CELERY_BEAT_SCHEDULE:
beat would overwrite console edits with it at every start.
"""

from infra.beat import PeriodicJob, periodic_tasks_ensure

SCHEDULES = (
    # (name, task, crontab fields)
    ("points: release pending points", "points.release_pending_points", {"minute": "5", "hour": "*"}),
    ("points: expire points", "points.expire_points", {"minute": "15", "hour": "0"}),
    # Mid-morning: the inbox message is there when members open the app (channels respect quiet hours).
    ("points: remind members of expiring points", "points.remind_expiring_points", {"minute": "0", "hour": "10"}),
    # Daily: the first run in a month grants that month's tier gifts; later runs find them granted.
    ("points: monthly tier gifts", "points.grant_tier_monthly_gifts", {"minute": "0", "hour": "9"}),
    # Every minute: an auction is settled within a minute of its end (each close is idempotent).
    ("points: close auctions", "points.close_auctions", {"minute": "*", "hour": "*"}),
    # Every minute: a mini-program checkout order whose time is up gives back what it held; refunds WeChat Pay could
    # not take at once are asked for again (points.services.checkout_orders; each step is idempotent).
    ("points: release expired checkout orders", "points.expire_checkout_orders", {"minute": "*", "hour": "*"}),
    # Every 5 minutes: a refund WeChat Pay took but still processes is asked about until it says SUCCESS, CLOSED or
    # ABNORMAL (its refund notification usually tells first; either is idempotent).
    ("points: follow checkout refunds", "points.follow_checkout_refunds", {"minute": "*/5", "hour": "*"}),
)


def schedules_ensure(*, using: str = "default") -> list[str]:
    """Create the points jobs' periodic tasks that are missing; return the names created."""
    jobs = [PeriodicJob(name=name, task=task, crontab=fields) for name, task, fields in SCHEDULES]
    return periodic_tasks_ensure(jobs, using=using)

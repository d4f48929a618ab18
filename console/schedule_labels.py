"""What each periodic job does, in the staff member's language, for the console's schedules.

django-celery-beat keys a schedule by its name, which the apps register in English (infra/beat.py) and a
merchant may rename; the console shows beside it what the job's task does, translated. Every task that has a
schedule after migrate is named here (tests/console/test_schedule_labels.py).
"""

from django.utils.translation import gettext_lazy as _

SCHEDULE_LABELS = {
    "members.tasks.tier_evaluation_task": _("Reviews members' tiers: moves them up or down"),
    "members.tasks.plans_expire_task": _("Ends paid plans past their end"),
    "members.tasks.member_import_sweep_task": _("Deletes old import files and their rows with errors"),
    "points.release_pending_points": _("Makes pending points available"),
    "points.expire_points": _("Expires points past their end"),
    "points.remind_expiring_points": _("Reminds members of points about to expire"),
    "points.grant_tier_monthly_gifts": _("Grants the tiers' monthly gifts"),
    "points.close_auctions": _("Settles auctions that have ended"),
    "points.expire_checkout_orders": _("Releases unpaid mini-program orders and asks again for refunds"),
    "points.follow_checkout_refunds": _("Follows refunds WeChat Pay is still processing"),
    "coupons.tasks.coupons_expire_task": _("Expires coupons past their end"),
    "coupons.tasks.coupons_release_stale_reservations_task": _("Gives back coupons held by unfinished checkouts"),
    "coupons.tasks.coupons_remind_expiring_task": _("Reminds members of coupons about to expire"),
    "campaigns.drain_outbox": _("Sends the outbox's messages (WeChat, SMS, e-mail)"),
    "campaigns.deliver_webhooks": _("Delivers events to the merchant's webhooks"),
    "campaigns.run_due_campaigns": _("Starts scheduled campaigns at their time"),
    "campaigns.check_campaign_runs": _("Marks campaign runs finished"),
    "console.refresh_daily_figures": _("Stores the dashboard's daily figures"),
}


def schedule_label(task: str) -> str:
    """The job's description in the active language, or its task's name where it is not one of ours."""
    return str(SCHEDULE_LABELS.get(task, task))

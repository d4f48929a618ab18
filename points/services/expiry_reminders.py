"""The points expiry reminder: tell members, some days ahead, how many of their points are about to expire.

Set-based: the database sums, per member, what the available lots expiring in (now, now + reminder days]
still hold (a GROUP BY in member id chunks, on the lots' open-by-member index), then `notify_many` writes one
notification per member and chunk. The dedupe key names the member and the date (in the project's time
zone) of the soonest of those expiries, so the daily run reminds a member once per expiry date, however
often it runs; when that date has passed and more points are due, the next reminder names the next date.

Every reminder is also sent as the `points_expiring` domain signal (after commit). With `notify=False` (the daily
job's choice when settings.POINTS_EXPIRY_REMINDERS_BY_CAMPAIGN is on) only the signal goes: the merchant's
editable points_expiring campaign delivers the reminder (campaigns.services.triggers), so no member gets two.
"""

from datetime import datetime, timedelta

from django.db.models import Min, Sum
from django.utils import timezone

from members.models import Member, Notification, PointsLot
from members.services.notifications import NotificationDraft, notify_many
from members.signals import points_expiring, send_after_commit
from points.models import PointsPolicy

REMINDER_CHUNK_SIZE = 5000
# Frozen and closed accounts cannot spend their points: reminding them to would only confuse.
SILENT_STATUSES = (Member.Status.FROZEN, Member.Status.CLOSED)


def points_expiring_dedupe_key(*, member_id: int, expires_on) -> str:
    return f"points_expiring:{member_id}:{expires_on.isoformat()}"


def points_expiry_remind(*, now: datetime, chunk_size: int = REMINDER_CHUNK_SIZE, notify: bool = True) -> int:
    """Notify each member of the points that expire within the policy's reminder days; return how many.

    Nothing happens when the policy's `reminder_days` is 0. Safe to run twice, or twice at once: a member
    is notified once per soonest expiry date (the dedupe key). With `notify=False` no notification is written:
    the reminders only go out as the `points_expiring` signal, and the number returned is theirs.
    """
    days = PointsPolicy.load().reminder_days
    if not days:
        return 0
    due = PointsLot.objects.filter(
        is_active=True, remaining__gt=0, expires_at__gt=now, expires_at__lte=now + timedelta(days=days)
    ).exclude(member__status__in=SILENT_STATUSES)
    notified = 0
    last_member_id = 0
    while True:
        rows = list(
            due.filter(member_id__gt=last_member_id)
            .values("member_id")
            .annotate(points=Sum("remaining"), first_expires_at=Min("expires_at"))
            .order_by("member_id")[:chunk_size]
        )
        if not rows:
            return notified
        drafts = []
        for row in rows:
            expires_on = timezone.localtime(row["first_expires_at"]).date()
            drafts.append(
                NotificationDraft(
                    member_id=row["member_id"],
                    params={"points": row["points"], "days": days, "expires_on": expires_on.isoformat()},
                    dedupe_key=points_expiring_dedupe_key(member_id=row["member_id"], expires_on=expires_on),
                )
            )
        if notify:
            notified += notify_many(kind=Notification.Kind.POINTS_EXPIRING, drafts=drafts, now=now)
        else:
            notified += len(drafts)
        reminders = [{**draft.params, "member_id": draft.member_id, "key": draft.dedupe_key} for draft in drafts]
        send_after_commit(points_expiring, reminders=reminders)
        last_member_id = rows[-1]["member_id"]

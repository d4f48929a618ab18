"""The coupon expiry reminder: tell members, some days ahead, that an unused coupon is about to expire.

How far ahead is the template's `reminder_days` (0: never), because it depends on the offer: a voucher worth
a visit deserves a week's notice, a free-shipping code none at all. Set-based: one keyset walk per distinct
value of `reminder_days` (a handful, however many templates there are) over the available coupons whose end
falls in (now, now + that many days], then `notify_many` per chunk. One notification per coupon, deduped by
the coupon's id, so a coupon is reminded of once however often the job runs.

Every reminder is also sent as the `coupon_expiring` domain signal (after commit). With `notify=False` (the daily
job's choice when settings.COUPON_EXPIRY_REMINDERS_BY_CAMPAIGN is on) only the signal goes: the merchant's editable
coupon_expiring campaign delivers the reminder (campaigns.services.triggers), once per coupon.
"""

from datetime import datetime, timedelta

from django.utils import timezone

from coupons.models import Coupon, CouponTemplate
from infra.translation import translations_of
from members.models import Member, Notification
from members.services.notifications import NotificationDraft, notify_many
from members.signals import coupon_expiring, send_after_commit

REMINDER_CHUNK_SIZE = 5000
# Frozen and closed accounts cannot use their coupons: reminding them to would only confuse.
SILENT_STATUSES = (Member.Status.FROZEN, Member.Status.CLOSED)


def coupon_expiring_dedupe_key(*, coupon_id: int) -> str:
    return f"coupon_expiring:{coupon_id}"


def coupons_expiry_remind(*, now: datetime, chunk_size: int = REMINDER_CHUNK_SIZE, notify: bool = True) -> int:
    """Notify the holders of available coupons that expire within their template's reminder days.

    Returns how many notifications were written (with `notify=False`: how many reminders were signalled, none
    written). Safe to run twice, or twice at once (one per coupon).
    """
    notified = 0
    reminder_days = (
        CouponTemplate.objects.filter(reminder_days__gt=0)
        .values_list("reminder_days", flat=True)
        .distinct()
        .order_by("reminder_days")
    )
    for days in list(reminder_days):
        due = Coupon.objects.filter(
            status=Coupon.Status.AVAILABLE,
            valid_until__gt=now,
            valid_until__lte=now + timedelta(days=days),
            template__reminder_days=days,
        ).exclude(member__status__in=SILENT_STATUSES)
        last_id = 0
        while True:
            rows = list(
                due.filter(pk__gt=last_id)
                .order_by("pk")
                .values_list("pk", "member_id", "template_id", "valid_until")[:chunk_size]
            )
            if not rows:
                break
            names = _template_names({template_id for _pk, _member, template_id, _until in rows})
            drafts = [
                NotificationDraft(
                    member_id=member_id,
                    params={
                        "coupon": names[template_id],
                        "coupon_id": coupon_id,
                        "expires_on": timezone.localtime(valid_until).date().isoformat(),
                    },
                    dedupe_key=coupon_expiring_dedupe_key(coupon_id=coupon_id),
                )
                for coupon_id, member_id, template_id, valid_until in rows
            ]
            if notify:
                notified += notify_many(kind=Notification.Kind.COUPON_EXPIRING, drafts=drafts, now=now)
            else:
                notified += len(drafts)
            send_after_commit(
                coupon_expiring,
                reminders=[
                    {
                        "member_id": member_id,
                        "coupon_id": coupon_id,
                        "template_id": template_id,
                        "expires_on": timezone.localtime(valid_until).date().isoformat(),
                        "key": coupon_expiring_dedupe_key(coupon_id=coupon_id),
                    }
                    for coupon_id, member_id, template_id, valid_until in rows
                ],
            )
            last_id = rows[-1][0]
    return notified


def _template_names(template_ids: set[int]) -> dict[int, dict[str, str]]:
    """Each template's name in every language: each member is reminded in their own (members.services.notifications)."""
    return {
        template.pk: translations_of(template, "name")
        for template in CouponTemplate.objects.filter(pk__in=template_ids)
    }

"""What the sender asks of every message at send time: its category, consent, quiet hours, retry delays.

Hong Kong's PDPO treats direct marketing apart: it needs the member's consent to marketing as well as to the
channel, and each marketing SMS or e-mail carries an opt-out. Messages about the member's own account (points
about to expire, a tier change) are transactional: the channel's consent is enough and they say so.
"""

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.utils.translation import gettext_noop

from campaigns.models import Category
from members.models import Member, Notification, OutboxMessage

Channel = OutboxMessage.Channel
Kind = Notification.Kind

# A coupon received or about to expire invites a purchase: marketing. Every kind is listed (a test says so); one
# that was not would be marketing, the safe side.
CATEGORY_BY_KIND = {
    Kind.POINTS_EXPIRING: Category.TRANSACTIONAL,
    Kind.TIER_CHANGED: Category.TRANSACTIONAL,
    Kind.CHECKOUT_REFUNDED: Category.TRANSACTIONAL,  # the member's own money given back
    Kind.COUPON_ISSUED: Category.MARKETING,
    Kind.COUPON_EXPIRING: Category.MARKETING,
}
CHANNEL_CONSENT = {
    Channel.WECHAT_SUBSCRIBE: ("consent_wechat", "wechat_openid"),
    Channel.SMS: ("consent_sms", "phone"),
    Channel.EMAIL: ("consent_email", "email"),
}
# Channels that wake a phone: held through the quiet hours. E-mail waits in the mailbox and goes at once.
QUIET_CHANNELS = frozenset({Channel.WECHAT_SUBSCRIBE, Channel.SMS})


def category_of(kind: str, params: dict | None = None) -> str:
    """A kind's category; a campaign's message says itself whether it is transactional (a points expiry campaign:
    campaigns.services.campaigns marks the notifications of campaigns that are not marketing)."""
    if kind == Kind.CAMPAIGN:
        return Category.TRANSACTIONAL if (params or {}).get("transactional") is True else Category.MARKETING
    return CATEGORY_BY_KIND.get(kind, Category.MARKETING)


def consent_problem(member: Member, *, channel: str, category: str) -> str:
    """Return why `member` may not get a message of `category` on `channel` now ("" when they may). Stored in
    English in the delivery log, marked for translation: the console shows it in the staff member's language."""
    if member.status == Member.Status.CLOSED:
        return gettext_noop("member closed")
    if member.status == Member.Status.FROZEN and category == Category.MARKETING:
        return gettext_noop("member frozen")  # frozen after the message was written (held for quiet hours, queued)
    consent_field, address_field = CHANNEL_CONSENT[channel]
    if not getattr(member, consent_field):
        return gettext_noop("no consent to this channel")
    if category == Category.MARKETING and not member.consent_marketing:
        return gettext_noop("no consent to marketing")
    if not getattr(member, address_field):
        return gettext_noop("no address")
    return ""


def _quiet_window() -> tuple[time, time] | None:
    text = (settings.CHANNEL_QUIET_HOURS or "").strip()
    if not text:
        return None
    start, end = (time.fromisoformat(part.strip()) for part in text.split("-"))
    return start, end


def quiet_hours_end(*, channel: str, now: datetime) -> datetime | None:
    """Return when the quiet hours around `now` end (in TIME_ZONE), or None when `channel` may be sent now."""
    window = _quiet_window()
    if window is None or channel not in QUIET_CHANNELS:
        return None
    start, end = window
    local = now.astimezone(ZoneInfo(settings.TIME_ZONE))
    clock = local.time()
    quiet = (start <= clock or clock < end) if start > end else (start <= clock < end)
    if not quiet:
        return None
    end_at = local.replace(hour=end.hour, minute=end.minute, second=0, microsecond=0)
    if end_at <= local:
        end_at += timedelta(days=1)
    return end_at


def retry_delay(*, attempts: int, base_seconds: int) -> timedelta:
    """Back-off after the `attempts`-th failed try: base, 2 x base, 4 x base, ... capped at a day."""
    return timedelta(seconds=min(base_seconds * 2 ** max(attempts - 1, 0), 86_400))

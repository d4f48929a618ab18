"""Member notifications: write inbox messages (one or many at once) and their outbox rows; mark them read.

Any app notifies a member here (points about to expire, a coupon about to expire, ...); `campaigns` delivers
the outbox. Every notification carries a dedupe key that is unique in the database, so a job that runs twice
(or two overlapping runs) writes each notification once: `notify_many` inserts with ON CONFLICT DO NOTHING
(`bulk_create(ignore_conflicts=True)`) and writes outbox rows only for the notifications new to it; the
outbox's unique (notification, channel) backs that up when two runs overlap.

The text is rendered in the member's language when the notification is written, from the message of its
kind (MESSAGES) and its parameters, which are stored with it. A parameter that is a merchant's text (a coupon's
or a tier's name) may be given in every language ({language: text}, infra.translation.translations_of): the
member's language is picked, with the merchant's default language as the fallback, before the text is rendered
and the parameters stored.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.utils import translation
from django.utils.translation import gettext_lazy as _

from infra.bulk_sql import field_in
from infra.errors import InvalidInput, NotFound
from infra.translation import in_language, is_translations
from members.models import Member, Notification, OutboxMessage
from members.selectors.notifications import member_unread_count

MAX_DEDUPE_KEY_LENGTH = Notification._meta.get_field("dedupe_key").max_length
MAX_IDS_PER_MARK = 500
INSERT_BATCH_SIZE = 1000
Kind = Notification.Kind


@dataclass(frozen=True)
class Message:
    """The text of one kind of notification: gettext messages with named parameters."""

    title: str
    body: str
    params: tuple[str, ...]


MESSAGES = {
    Kind.POINTS_EXPIRING: Message(
        title=_("Your points expire soon"),
        body=_("%(points)s of your points will expire in the next %(days)s days, the first on %(expires_on)s."),
        params=("points", "days", "expires_on"),
    ),
    Kind.COUPON_EXPIRING: Message(
        title=_("Your coupon expires soon"),
        body=_("Your coupon “%(coupon)s” expires on %(expires_on)s. Use it before then."),
        params=("coupon", "expires_on"),
    ),
    Kind.COUPON_ISSUED: Message(
        title=_("You have a new coupon"),
        body=_("“%(coupon)s” is now in your coupons."),
        params=("coupon",),
    ),
    Kind.TIER_CHANGED: Message(
        title=_("Your tier has changed"),
        body=_("You are now a %(tier)s member."),
        params=("tier",),
    ),
    # A mini-program payment that could not be honoured (points.services.checkout_orders): `why` says why, in every
    # language.
    Kind.CHECKOUT_REFUNDED: Message(
        title=_("Your payment was refunded"),
        body=_("Your payment of %(amount)s for order %(order)s was refunded: %(why)s"),
        params=("amount", "order", "why"),
    ),
    # A campaign's own text (campaigns.services.campaigns renders it per member in their language first).
    Kind.CAMPAIGN: Message(title="%(title)s", body="%(body)s", params=("title", "body")),
}


@dataclass(frozen=True)
class NotificationDraft:
    """One notification to write: to whom, with which parameters, under which dedupe key."""

    member_id: int
    params: dict
    dedupe_key: str


# -- rendering -------------------------------------------------------------------------------------------------
def _message_for(kind: str) -> Message:
    message = MESSAGES.get(kind)
    if message is None:
        raise InvalidInput.for_field("kind", _("Unknown kind of notification: %(kind)s.") % {"kind": kind})
    return message


def _params_in(params: dict, locale: str) -> dict:
    """The parameters with each merchant text given in every language picked in `locale`."""
    return {name: in_language(value, locale) if is_translations(value) else value for name, value in params.items()}


def _check_draft(message: Message, draft: NotificationDraft) -> None:
    errors = {}
    if not isinstance(draft.params, dict):
        errors["params"] = [str(_("Give the parameters as an object."))]
    else:
        missing = [name for name in message.params if name not in draft.params]
        if missing:
            errors["params"] = [str(_("Missing parameters: %(names)s.") % {"names": ", ".join(missing)})]
    if not draft.dedupe_key or len(draft.dedupe_key) > MAX_DEDUPE_KEY_LENGTH:
        errors["dedupe_key"] = [
            str(_("Give a key of 1 to %(max)d characters.") % {"max": MAX_DEDUPE_KEY_LENGTH}),
        ]
    if errors:
        raise InvalidInput.for_field_errors(errors)


def _channels(member: dict) -> list[str]:
    """Return the outbox channels a member consented to and can be reached on (the inbox needs none)."""
    channels = []
    if member["consent_wechat"] and member["wechat_openid"]:
        channels.append(OutboxMessage.Channel.WECHAT_SUBSCRIBE)
    if member["consent_sms"] and member["phone"]:
        channels.append(OutboxMessage.Channel.SMS)
    if member["consent_email"] and member["email"]:
        channels.append(OutboxMessage.Channel.EMAIL)
    return channels


MEMBER_FIELDS = ("pk", "locale", "consent_wechat", "wechat_openid", "consent_sms", "phone", "consent_email", "email")


# -- writing ---------------------------------------------------------------------------------------------------
@transaction.atomic
def notify_many(
    *,
    kind: str,
    drafts: Iterable[NotificationDraft],
    now: datetime,
    channels: dict[int, Iterable[str]] | None = None,
) -> int:
    """Write the notifications of `kind` not written before, with their outbox messages; return how many.

    `channels` (member id -> channels), when given, narrows each member's outbox to those channels (a campaign
    sends only on the channels it chose, and marketing only to members who consented to marketing).

    Set-based, in one transaction: callers pass chunks (a few thousand drafts). A draft whose dedupe key is
    already used (by an earlier run, or earlier in the same chunk) writes nothing; a draft for a member that
    does not exist is skipped. Raises InvalidInput (unknown kind, a missing parameter, a bad dedupe key)
    before anything is written.
    """
    message = _message_for(kind)
    by_key: dict[str, NotificationDraft] = {}
    for draft in drafts:
        _check_draft(message, draft)
        by_key.setdefault(draft.dedupe_key, draft)
    if not by_key:
        return 0
    existing = set(
        Notification.objects.filter(field_in(Notification, "dedupe_key", list(by_key))).values_list(
            "dedupe_key", flat=True
        )
    )
    fresh = [draft for key, draft in by_key.items() if key not in existing]
    if not fresh:
        return 0
    member_ids = sorted({draft.member_id for draft in fresh})
    members = {
        row["pk"]: row for row in Member.objects.filter(field_in(Member, "id", member_ids)).values(*MEMBER_FIELDS)
    }
    fresh = [draft for draft in fresh if draft.member_id in members]
    texts = {}
    for locale in {members[draft.member_id]["locale"] for draft in fresh}:
        with translation.override(locale):
            texts[locale] = (str(message.title), str(message.body))
    rows = []
    for draft in fresh:
        locale = members[draft.member_id]["locale"]
        title, body = texts[locale]
        params = _params_in(draft.params, locale)
        rows.append(
            Notification(
                member_id=draft.member_id,
                kind=kind,
                title=(title % params)[:200],
                body=body % params,
                params=params,
                locale=locale,
                dedupe_key=draft.dedupe_key,
                created_at=now,
            )
        )
    Notification.objects.bulk_create(rows, batch_size=INSERT_BATCH_SIZE, ignore_conflicts=True)
    written = Notification.objects.filter(
        field_in(Notification, "dedupe_key", [draft.dedupe_key for draft in fresh])
    ).values_list("pk", "member_id", "dedupe_key")
    outbox = []
    count = 0
    for notification_id, member_id, key in written:
        if by_key[key].member_id != member_id:  # the key was taken for another member meanwhile: not ours
            continue
        count += 1
        wanted = _channels(members[member_id])
        if channels is not None:
            allowed = set(channels.get(member_id, ()))
            wanted = [channel for channel in wanted if channel in allowed]
        outbox.extend(
            OutboxMessage(notification_id=notification_id, channel=channel, next_attempt_at=now, created_at=now)
            for channel in wanted
        )
    OutboxMessage.objects.bulk_create(outbox, batch_size=INSERT_BATCH_SIZE, ignore_conflicts=True)
    return count


def notify(*, member_id: int, kind: str, params: dict, dedupe_key: str, now: datetime) -> Notification:
    """Notify one member (inbox, and outbox messages for the channels they consented to); return the notification.

    Idempotent by `dedupe_key`: a second call returns the notification the first one wrote.
    Raises NotFound (no such member), InvalidInput (unknown kind, a missing parameter, a bad dedupe key or
    one already used for another member).
    """
    if not Member.objects.filter(pk=member_id).exists():
        raise NotFound(_("No such member."))
    notify_many(
        kind=kind, drafts=[NotificationDraft(member_id=member_id, params=params, dedupe_key=dedupe_key)], now=now
    )
    notification = Notification.objects.get(dedupe_key=dedupe_key)
    if notification.member_id != member_id:
        raise InvalidInput.for_field("dedupe_key", _("This key is already used for another member."))
    return notification


def notification_mark_read(
    *, member_id: int, now: datetime, ids: list[int] | None = None, read_all: bool = False
) -> int:
    """Mark the member's own unread notifications read (those of `ids`, or all); return how many changed.

    Ids of other members' notifications, unknown ids and notifications already read change nothing.
    Raises InvalidInput (neither or both of ids and read_all, an empty or too long list of ids).
    """
    if read_all == (ids is not None):
        raise InvalidInput.for_field("non_field_errors", _("Give either a list of ids or all."))
    unread = Notification.objects.filter(member_id=member_id, read_at__isnull=True)
    if ids is not None:
        if not ids or len(ids) > MAX_IDS_PER_MARK:
            message = _("Give 1 to %(max)d ids.") % {"max": MAX_IDS_PER_MARK}
            raise InvalidInput.for_field("ids", message)
        unread = unread.filter(pk__in=ids)
    return unread.update(read_at=now)


@dataclass(frozen=True)
class NotificationsMarked:
    marked: int
    unread_count: int


@transaction.atomic
def notification_mark_read_by_member(
    *, member_id: int, now: datetime, ids: list[int] | None = None, read_all: bool = False
) -> NotificationsMarked:
    """The inbox's mark-read by the member: notification_mark_read, then how many it marked and how many are still
    unread (members.selectors.notifications.member_unread_count). Raises notification_mark_read's errors."""
    marked = notification_mark_read(member_id=member_id, now=now, ids=ids, read_all=read_all)
    return NotificationsMarked(marked=marked, unread_count=member_unread_count(member_id=member_id))

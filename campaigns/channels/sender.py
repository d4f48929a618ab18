"""The sender: delivers the members' outbox through WeChat subscribe messages, SMS and e-mail.

A beat job lists the due messages (pending, next attempt time passed) and fans them out as chunk tasks. For one
message the sender:
1. claims it by a conditional UPDATE that moves its next attempt time a lease ahead, so two workers (or a drain
   that listed it twice) never send it twice; a worker that dies mid-send leaves the lease to expire (see 5);
2. checks again what may have changed since the message was written: the member's consent to the channel (and to
   marketing, for a marketing message), the address, the template (WeChat needs one), the quiet hours (the
   message is held until they end), the subscription (WeChat: one send per acceptance);
3. takes a unit of the channel's rate limit per second and per minute (shared cache); without one the claim is
   given back and the chunk waits for the next second, or stops until the next run when the minute is spent;
4. sends, outside any transaction, and records the outcome: sent; refused by the provider (failed at once, and
   WeChat's 43101 revokes the subscription); or failed for now (tried again after a back-off doubling from
   CHANNEL_RETRY_SECONDS; after CHANNEL_MAX_ATTEMPTS tries it is failed: the dead letter).
Every outcome but a rate-limit wait writes a DeliveryAttempt, marked transactional or marketing.
5. Just before the provider is called, a "sending" attempt is written (committed: the sender runs outside any
   transaction). A message claimed again after its lease whose last attempt is still "sending" was being sent by
   a worker that died, and nobody knows whether the provider got it: that attempt becomes "unknown". SMS is sent
   again: the gateway's Idempotency-Key is the message's, so the gateway drops a copy. E-mail and WeChat have no
   such key, so the message is not sent again blindly: it ends failed, its attempt "unknown", for staff to see.
   What remains: a worker dying in that window loses an e-mail or WeChat message that had not reached the provider
   yet (at most once, never twice), and one dying between the provider's acceptance and our "sent" record shows
   "unknown" for a message that did arrive. E-mails also carry a Message-ID made from the message's id, so a copy
   sent by hand is recognised as the same message by most mail clients.
"""

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import translation
from django.utils.translation import gettext, gettext_noop

from campaigns.channels.policy import category_of, consent_problem, quiet_hours_end, retry_delay
from campaigns.channels.subscriptions import (
    wechat_subscription_give_back,
    wechat_subscription_refused,
    wechat_subscription_take,
)
from campaigns.channels.templates import member_values, render, wechat_fit, wechat_type
from campaigns.channels.unsubscribe import unsubscribe_url
from campaigns.models import Campaign, Category, DeliveryAttempt, MessageTemplate
from infra.errors import (
    DeliveryOutcomeUnknown,
    DeliveryRefused,
    DeliveryUnavailable,
    WechatSubscriptionRefused,
    WechatUnavailable,
)
from infra.mailer import mail_send
from infra.rate_limit import rate_take
from infra.sms import get_sms_client
from infra.wechat import get_wechat_client
from members.models import Notification, OutboxMessage, ProgramSettings

Channel = OutboxMessage.Channel
Status = OutboxMessage.Status
Outcome = DeliveryAttempt.Outcome
Kind = Notification.Kind
# Longer than any send can take (connect + read timeouts and a breaker's refusal), short enough to retry soon.
LEASE = timedelta(minutes=5)
# A paused campaign's messages wait, looked at again this often (its resume sends them at once).
PAUSED_RECHECK = timedelta(hours=1)
RATE_LIMITED = "rate_limited"
NOT_DUE = "not_due"
WECHAT_LANG = {"en": "en_US", "zh-hant": "zh_HK", "zh-hans": "zh_CN"}


@dataclass(frozen=True)
class SendResult:
    outcome: str  # a DeliveryAttempt.Outcome, RATE_LIMITED or NOT_DUE
    wait_seconds: float = 0.0


def outbox_due_ids(*, now: datetime, limit: int) -> list[int]:
    """Return the ids of pending messages whose time has come, oldest first (the outbox's partial index)."""
    return list(
        OutboxMessage.objects.filter(status=Status.PENDING, next_attempt_at__lte=now)
        .order_by("next_attempt_at", "pk")
        .values_list("pk", flat=True)[:limit]
    )


def outbox_send_chunk(
    *, ids: list[int], clock: Callable[[], datetime], sleep: Callable[[float], None], max_wait_seconds: float = 2.0
) -> Counter:
    """Send the messages of `ids` in order; return how many ended in each outcome.

    A rate limit that frees a unit within `max_wait_seconds` is waited for (`sleep`); a longer one (the minute's
    quota is spent) stops the chunk, and its remaining messages stay due for the next run.
    """
    counts = Counter()
    for outbox_id in ids:
        while True:
            result = outbox_send(outbox_id=outbox_id, now=clock())
            if result.outcome != RATE_LIMITED or result.wait_seconds > max_wait_seconds:
                break
            sleep(result.wait_seconds)
        counts[result.outcome] += 1
        if result.outcome == RATE_LIMITED:
            break
    return counts


def outbox_send(*, outbox_id: int, now: datetime) -> SendResult:
    """Deliver one outbox message if it is due (see the module's docstring)."""
    claimed = OutboxMessage.objects.filter(pk=outbox_id, status=Status.PENDING, next_attempt_at__lte=now).update(
        next_attempt_at=now + LEASE
    )
    if not claimed:
        return SendResult(NOT_DUE)
    message = OutboxMessage.objects.select_related("notification__member__tier").get(pk=outbox_id)
    notification, member = message.notification, message.notification.member
    category = category_of(notification.kind, notification.params)
    log = _Log(message=message, category=category, now=now)
    died = _attempt_left_sending(message)
    if died is not None:
        if message.channel != Channel.SMS:
            log.attempt_id = died
            return log.finish(status=Status.FAILED, outcome=Outcome.UNKNOWN, detail=DIED_DETAIL, tried=True)
        # SMS: the lost attempt counts, and the message goes again under the same Idempotency-Key.
        DeliveryAttempt.objects.filter(pk=died).update(outcome=Outcome.UNKNOWN, detail=DIED_DETAIL)
        message.attempts += 1
        OutboxMessage.objects.filter(pk=message.pk).update(attempts=message.attempts)

    problem = consent_problem(member, channel=message.channel, category=category)
    if problem:
        return log.finish(status=Status.SKIPPED, outcome=Outcome.SKIPPED, detail=problem)
    campaign_status = _campaign_status(notification)
    if campaign_status == Campaign.Status.FINISHED:
        return log.finish(status=Status.SKIPPED, outcome=Outcome.SKIPPED, detail=gettext_noop("campaign finished"))
    if campaign_status == Campaign.Status.PAUSED:
        OutboxMessage.objects.filter(pk=message.pk).update(next_attempt_at=now + PAUSED_RECHECK)
        return SendResult(NOT_DUE)
    template = (
        MessageTemplate.objects.filter(
            kind=notification.kind, channel=message.channel, locale=member.locale, is_active=True
        )
        .order_by("pk")
        .first()
    )
    if message.channel == Channel.WECHAT_SUBSCRIBE and template is None:
        return log.finish(status=Status.SKIPPED, outcome=Outcome.SKIPPED, detail=gettext_noop("no WeChat template"))
    quiet_until = quiet_hours_end(channel=message.channel, now=now)
    if quiet_until is not None:
        return log.hold(until=quiet_until, detail=f"quiet hours until {quiet_until:%Y-%m-%d %H:%M}")
    per_second, per_minute = settings.CHANNEL_RATE_LIMITS.get(message.channel, (0, 0))
    wait = rate_take(f"channel:{message.channel}", limits=[(1, per_second), (60, per_minute)], now=now.timestamp())
    if wait:
        OutboxMessage.objects.filter(pk=message.pk).update(next_attempt_at=now)  # give the claim back
        return SendResult(RATE_LIMITED, wait)
    if message.channel == Channel.WECHAT_SUBSCRIBE and not wechat_subscription_take(
        member_id=member.pk, template_id=template.wechat_template_id, now=now
    ):
        return log.finish(status=Status.SKIPPED, outcome=Outcome.SKIPPED, detail=gettext_noop("no WeChat subscription"))

    log.sending()
    try:
        reference = _deliver(message=message, member=member, template=template, category=category)
    except WechatSubscriptionRefused as exc:
        wechat_subscription_refused(member_id=member.pk, template_id=template.wechat_template_id, now=now)
        return log.finish(status=Status.FAILED, outcome=Outcome.REFUSED, detail=str(exc.message), tried=True)
    except DeliveryRefused as exc:
        return log.finish(status=Status.FAILED, outcome=Outcome.REFUSED, detail=str(exc.message), tried=True)
    except DeliveryOutcomeUnknown as exc:
        if message.channel != Channel.SMS:  # no idempotency key: sent again, it could arrive twice
            return log.finish(status=Status.FAILED, outcome=Outcome.UNKNOWN, detail=str(exc.message), tried=True)
        return log.failed(detail=str(exc.message))  # the gateway drops a copy by its Idempotency-Key
    except (DeliveryUnavailable, WechatUnavailable) as exc:
        if message.channel == Channel.WECHAT_SUBSCRIBE:
            wechat_subscription_give_back(member_id=member.pk, template_id=template.wechat_template_id)
        return log.failed(detail=str(exc.message))
    return log.finish(status=Status.SENT, outcome=Outcome.SENT, reference=reference, tried=True)


DIED_DETAIL = gettext_noop("the sender stopped during the send: it may have been delivered")


def _campaign_status(notification) -> str | None:
    """The status of the campaign a message belongs to (None for a message of no campaign): a finished campaign
    delivers nothing more and a paused one waits, also for messages written before (queued, held for quiet hours)."""
    campaign_id = (notification.params or {}).get("campaign") if notification.kind == Kind.CAMPAIGN else None
    if campaign_id is None:
        return None
    return Campaign.objects.filter(pk=campaign_id).values_list("status", flat=True).first()


def outbox_release_paused(*, campaign_id: int, now: datetime) -> int:
    """Make a resumed campaign's waiting messages due now; return how many."""
    return OutboxMessage.objects.filter(
        status=Status.PENDING,
        next_attempt_at__gt=now,
        notification__kind=Kind.CAMPAIGN,
        notification__params__campaign=campaign_id,
    ).update(next_attempt_at=now)


def _attempt_left_sending(message: OutboxMessage) -> int | None:
    """The id of the message's last attempt if it is still "sending" (its worker died during the call)."""
    last = DeliveryAttempt.objects.filter(outbox_message_id=message.pk).order_by("-pk").values("pk", "outcome").first()
    return last["pk"] if last and last["outcome"] == Outcome.SENDING else None


@dataclass
class _Log:
    """Writes a message's new state and its DeliveryAttempt together.

    A call to the provider has one attempt row: written "sending" before the call (`sending`), given its outcome
    after it. Everything else the sender decides (skipped, held) is a row of its own.
    """

    message: OutboxMessage
    category: str
    now: datetime
    attempt_id: int | None = None

    @transaction.atomic
    def _write(self, *, outcome, detail="", reference="", tried=False, **fields) -> SendResult:
        attempts = self.message.attempts + (1 if tried else 0)
        OutboxMessage.objects.filter(pk=self.message.pk).update(attempts=attempts, **fields)
        row = {"outcome": outcome, "attempt": attempts, "detail": detail[:500], "provider_reference": reference[:100]}
        if self.attempt_id is not None:
            DeliveryAttempt.objects.filter(pk=self.attempt_id).update(**row)
        else:
            DeliveryAttempt.objects.create(
                outbox_message=self.message, channel=self.message.channel, category=self.category,
                created_at=self.now, **row,
            )  # fmt: skip
        return SendResult(outcome)

    def finish(self, *, status, outcome, detail="", reference="", tried=False) -> SendResult:
        sent_at = self.now if status == Status.SENT else None
        return self._write(
            outcome=outcome, detail=detail, reference=reference, tried=tried,
            status=status, sent_at=sent_at, next_attempt_at=None, last_error="" if sent_at else detail[:1000],
        )  # fmt: skip

    def sending(self) -> None:
        """Record the call about to be made (committed before it: the sender runs outside any transaction)."""
        self.attempt_id = DeliveryAttempt.objects.create(
            outbox_message=self.message,
            channel=self.message.channel,
            category=self.category,
            outcome=Outcome.SENDING,
            attempt=self.message.attempts + 1,
            created_at=self.now,
        ).pk

    def hold(self, *, until, detail) -> SendResult:
        return self._write(outcome=Outcome.HELD, detail=detail, next_attempt_at=until)

    def failed(self, *, detail) -> SendResult:
        attempts = self.message.attempts + 1
        if attempts >= settings.CHANNEL_MAX_ATTEMPTS:
            return self.finish(status=Status.FAILED, outcome=Outcome.DEAD, detail=detail, tried=True)
        delay = retry_delay(attempts=attempts, base_seconds=settings.CHANNEL_RETRY_SECONDS)
        return self._write(
            outcome=Outcome.RETRY, detail=detail, tried=True, next_attempt_at=self.now + delay, last_error=detail
        )


def _message_id(message) -> str:
    domain = (settings.DEFAULT_FROM_EMAIL.rpartition("@")[2] or "localhost").strip("<> ")
    return f"<outbox-{message.pk}@{domain}>"


def _deliver(*, message, member, template, category) -> str:
    """Render and hand the message to its channel's client; return the provider's reference."""
    notification = message.notification
    with translation.override(member.locale):  # merchant names ({tier}) in the member's language
        values = {**member_values(member, program_name=ProgramSettings.load().program_name), **notification.params}
    rendered = render(template=template, title=notification.title, body=notification.body, values=values)
    marketing = category == Category.MARKETING
    if message.channel == Channel.WECHAT_SUBSCRIBE:
        data = {}
        for keyword, value in rendered.wechat_data.items():
            fitted = wechat_fit(keyword, value) if wechat_type(keyword) else None
            if fitted is None:
                raise DeliveryRefused(f"{keyword} does not fit WeChat's limit: {value}")
            data[keyword] = fitted
        get_wechat_client().send_subscribe_message(
            openid=member.wechat_openid,
            template_id=rendered.wechat_template_id,
            data=data,
            page=rendered.wechat_page,
            lang=WECHAT_LANG.get(member.locale, "zh_HK"),
        )
        return ""
    link = unsubscribe_url(member_id=member.pk, channel=message.channel) if marketing else ""
    with translation.override(member.locale):
        footer = gettext("Reply STOP or open %(url)s to stop these messages.") % {"url": link} if marketing else ""
    if message.channel == Channel.SMS:
        text = f"{rendered.text}\n{footer}" if footer else rendered.text
        return get_sms_client().send(to=member.phone, text=text, reference=f"outbox-{message.pk}", category=category)
    headers = {"X-Message-Category": category, "Message-ID": _message_id(message)}
    if marketing:
        headers |= {"List-Unsubscribe": f"<{link}>", "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}
        with translation.override(member.locale):
            footer = gettext("To stop these e-mails, open %(url)s") % {"url": link}
    text = f"{rendered.text}\n\n--\n{footer}" if footer else rendered.text
    mail_send(to=member.email, subject=rendered.subject or notification.title, text=text, headers=headers)
    return ""

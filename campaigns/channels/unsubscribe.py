"""Unsubscribe paths of marketing SMS and e-mail: a signed link and a reply keyword, honoured at once.

The link carries the member and the channel, signed with SECRET_KEY (django.core.signing, its own salt), so it
needs no table and cannot be forged or turned to another member; it is good for LINK_MAX_AGE (as long as the
consent records are kept). Opening it (GET) only shows a page asking to confirm, in the member's language:
mail scanners and link previews open every link of a message, and must not unsubscribe anyone. The page's button
POSTs to the same address, as a mail client's one-click List-Unsubscribe does (RFC 8058: `List-Unsubscribe-Post:
List-Unsubscribe=One-Click`), and the POST withdraws that channel's consent in the same request and writes a
ConsentRecord with its date (campaigns/channels/pages.py). A reply keyword (STOP, 退訂, ...) forwarded by the SMS
gateway withdraws the SMS consent of the member with that phone. Withdrawing again changes nothing and records
nothing.
"""

from datetime import datetime, timedelta

from django.conf import settings
from django.core import signing
from django.db import transaction
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from campaigns.models import ConsentRecord
from infra.errors import NotFound
from members.formats import normalize_phone
from members.models import Member, OutboxMessage
from members.services.locks import lock_member
from members.services.membership import member_update_profile

SALT = "campaigns.unsubscribe"
LINK_MAX_AGE = timedelta(days=3 * 365)


class UnsubscribeLinkInvalid(NotFound):
    """Damaged, forged, or naming a member or channel that does not exist."""

    code = "unsubscribe_link_invalid"
    message = _("This unsubscribe link is not valid.")


class UnsubscribeLinkExpired(NotFound):
    code = "unsubscribe_link_expired"
    message = _("This unsubscribe link has expired.")
    status = 410


CONSENT_FIELD = {
    OutboxMessage.Channel.SMS: "consent_sms",
    OutboxMessage.Channel.EMAIL: "consent_email",
    OutboxMessage.Channel.WECHAT_SUBSCRIBE: "consent_wechat",
}
ADDRESS_FIELD = {
    OutboxMessage.Channel.SMS: "phone",
    OutboxMessage.Channel.EMAIL: "email",
    OutboxMessage.Channel.WECHAT_SUBSCRIBE: "wechat_openid",
}
# Replies that mean "stop": English, Cantonese and Mandarin usage, compared without case or spaces.
STOP_KEYWORDS = frozenset({"STOP", "UNSUBSCRIBE", "TD", "T", "退訂", "退订", "取消訂閱", "取消订阅"})


def unsubscribe_token(*, member_id: int, channel: str) -> str:
    return signing.dumps({"m": member_id, "c": channel}, salt=SALT)


def unsubscribe_url(*, member_id: int, channel: str) -> str:
    path = reverse("unsubscribe", kwargs={"token": unsubscribe_token(member_id=member_id, channel=channel)})
    return settings.PUBLIC_BASE_URL.rstrip("/") + path


@transaction.atomic
def consent_withdraw(*, member_id: int, channel: str, source: str, now: datetime) -> bool:
    """Withdraw a member's consent to `channel` at once; return whether it changed (and was recorded)."""
    member = lock_member(member_id=member_id)
    field = CONSENT_FIELD[channel]
    if not getattr(member, field):
        return False
    member_update_profile(member_id=member.pk, now=now, **{field: False})
    ConsentRecord.objects.create(
        member=member,
        member_number=member.member_number,
        channel=channel,
        consented=False,
        source=source,
        address=getattr(member, ADDRESS_FIELD[channel]) or "",
        recorded_at=now,
    )
    return True


def unsubscribe_link_read(*, token: str) -> tuple[Member, str]:
    """Return the member and channel a link names. Raises UnsubscribeLinkInvalid or UnsubscribeLinkExpired."""
    try:
        data = signing.loads(token, salt=SALT, max_age=LINK_MAX_AGE)
        member_id, channel = int(data["m"]), data["c"]
    except signing.SignatureExpired as exc:
        raise UnsubscribeLinkExpired() from exc
    except (signing.BadSignature, KeyError, TypeError, ValueError) as exc:
        raise UnsubscribeLinkInvalid() from exc
    member = Member.objects.filter(pk=member_id).first()
    if channel not in CONSENT_FIELD or member is None:
        raise UnsubscribeLinkInvalid()
    return member, channel


def unsubscribe_by_token(*, token: str, now: datetime) -> str:
    """Honour an unsubscribe link (its POST); return its channel. Raises UnsubscribeLinkInvalid or
    UnsubscribeLinkExpired (both NotFound)."""
    member, channel = unsubscribe_link_read(token=token)
    consent_withdraw(member_id=member.pk, channel=channel, source=ConsentRecord.Source.LINK, now=now)
    return channel


def unsubscribe_by_reply(*, phone: str, text: str, now: datetime) -> bool:
    """Honour an SMS reply; return whether it was a stop keyword of a member's phone. Raises InvalidPhone."""
    if "".join((text or "").split()).upper() not in STOP_KEYWORDS:
        return False
    phone = normalize_phone(phone)
    member_id = Member.objects.filter(phone=phone).values_list("pk", flat=True).first()
    if member_id is None:
        return False
    consent_withdraw(member_id=member_id, channel=OutboxMessage.Channel.SMS, source=ConsentRecord.Source.REPLY, now=now)
    return True

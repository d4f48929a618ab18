"""What staff do to one member from the member page besides moving balances: freeze and unfreeze, tags, and
anonymisation on request under Hong Kong's PDPO.

Each writes the member row under its lock and leaves a django-simple-history row naming the staff member, the time
and the reason (`_history_user`, `_history_date`, `_change_reason`), so the audit log reads them with every other
manual change. Balances move through their ledgers (members.services.ledger, .stored_value), never here.
"""

import re
import secrets
from datetime import datetime

from django.db import transaction
from django.utils.translation import gettext as _

from members.errors import ActionReasonRequired, MemberAlreadyAnonymised, MemberStatusConflict
from members.models import (
    Member,
    MemberAnonymisation,
    MemberToken,
    Notification,
    OutboxMessage,
    Tag,
    WechatSession,
)
from members.services.locks import lock_member
from members.services.member_import import member_import_errors_scrub
from members.signals import member_anonymising

# The personal fields scrubbed by an anonymisation, with what each becomes (the pseudonym replaces the name). The
# member's history rows get the same values: a past version must not keep what the live row no longer holds.
SCRUBBED_FIELDS = {
    "phone": None,
    "email": "",
    "birthday": None,
    "gender": "",
    "wechat_openid": None,
    "wechat_unionid": "",
}
CONSENT_FIELDS = ("consent_marketing", "consent_sms", "consent_email", "consent_wechat")
ADDRESS_FIELDS = ("phone", "email", "wechat_openid", "wechat_unionid")
INBOX_TEXT_FIELDS = ["title", "body", "params"]


def _save_audited(member: Member, *, by, now: datetime, reason: str) -> None:
    """Save the locked member's row with a history row saying who changed it, when and why."""
    member._history_user = by
    member._history_date = now
    member._change_reason = reason[:100]  # simple-history's column
    member.save()


def _clean_reason(reason: str | None, *, required: bool) -> str:
    reason = (reason or "").strip()
    if required and not reason:
        raise ActionReasonRequired.for_field("reason")
    return reason


@transaction.atomic
def member_freeze(*, member_id: int, reason: str, frozen_by, now: datetime) -> Member:
    """Freeze an active member: their sign-ins stop working until unfrozen; nothing is taken from them.

    Raises ActionReasonRequired, MemberStatusConflict (not active), NotFound.
    """
    reason = _clean_reason(reason, required=True)
    member = lock_member(member_id=member_id)
    if member.status != Member.Status.ACTIVE:
        raise MemberStatusConflict()
    member.status = Member.Status.FROZEN
    _save_audited(member, by=frozen_by, now=now, reason=_("Frozen: %(reason)s") % {"reason": reason})
    return member


@transaction.atomic
def member_unfreeze(*, member_id: int, reason: str, unfrozen_by, now: datetime) -> Member:
    """Make a frozen member active again. Raises ActionReasonRequired, MemberStatusConflict, NotFound."""
    reason = _clean_reason(reason, required=True)
    member = lock_member(member_id=member_id)
    if member.status != Member.Status.FROZEN:
        raise MemberStatusConflict()
    member.status = Member.Status.ACTIVE
    _save_audited(member, by=unfrozen_by, now=now, reason=_("Unfrozen: %(reason)s") % {"reason": reason})
    return member


@transaction.atomic
def member_tags_set(*, member_id: int, tag_ids, changed_by, now: datetime) -> tuple[list[str], list[str]]:
    """Give the member exactly these tags; return (names added, names removed). Raises NotFound.

    The history row's reason names what was added and removed (simple-history keeps no many-to-many here).
    """
    member = lock_member(member_id=member_id)
    wanted = set(Tag.objects.filter(pk__in=list(tag_ids)).values_list("pk", flat=True))
    current = set(member.tags.values_list("pk", flat=True))
    added_ids, removed_ids = wanted - current, current - wanted
    if not added_ids and not removed_ids:
        return [], []
    names = dict(Tag.objects.filter(pk__in=added_ids | removed_ids).values_list("pk", "name"))
    added = sorted(names[pk] for pk in added_ids)
    removed = sorted(names[pk] for pk in removed_ids)
    member.tags.set(wanted)
    reason = _("Tags: +%(added)s −%(removed)s") % {
        "added": ", ".join(added) or "—",
        "removed": ", ".join(removed) or "—",
    }
    _save_audited(member, by=changed_by, now=now, reason=reason)
    return added, removed


def _name_pattern(name: str) -> re.Pattern:
    # A Latin name only as a whole word ("Al" is not in "Always"); a Chinese name has no word boundary in Chinese
    # text ("陳大文您好"), so it is matched wherever it stands.
    pattern = re.escape(name)
    return re.compile(rf"\b{pattern}\b" if name.isascii() else pattern)


def _names_replaced(value, names: list[re.Pattern], pseudonym: str):
    if isinstance(value, str):
        for name in names:
            value = name.sub(pseudonym, value)
        return value
    if isinstance(value, dict):
        return {key: _names_replaced(item, names, pseudonym) for key, item in value.items()}
    if isinstance(value, list):
        return [_names_replaced(item, names, pseudonym) for item in value]
    return value


def _inbox_names_replace(*, member_id: int, names: set[str], pseudonym: str) -> None:
    """Write the pseudonym where the member's inbox messages name them (a campaign's `{name}` was filled in when it
    was sent): in their titles, texts and stored parameters. Longest names first, so a name containing another is
    replaced whole."""
    names = [_name_pattern(name) for name in sorted((n for n in names if n and n.strip()), key=len, reverse=True)]
    if not names:
        return
    changed = []
    for notification in Notification.objects.filter(member_id=member_id).only("pk", "title", "body", "params"):
        replaced = [_names_replaced(getattr(notification, field), names, pseudonym) for field in INBOX_TEXT_FIELDS]
        if replaced != [getattr(notification, field) for field in INBOX_TEXT_FIELDS]:
            for field, value in zip(INBOX_TEXT_FIELDS, replaced, strict=True):
                setattr(notification, field, value)
            changed.append(notification)
    Notification.objects.bulk_update(changed, INBOX_TEXT_FIELDS, batch_size=500)


@transaction.atomic
def member_anonymise(*, member_id: int, reason: str, requested_by, now: datetime) -> MemberAnonymisation:
    """Scrub a member's personal data for good on their request (PDPO), keeping their accounts under a pseudonym.

    Name, phone, e-mail, birthday, gender, WeChat ids, consents and tags are cleared from the member and from every
    past version of it in its history; sign-ins are revoked and the WeChat session deleted; the member is closed.
    Ledgers, lots, purchases, coupons and orders stay with the member row, so every balance and report still adds
    up. Higher apps erase their own copies of the member's addresses in the same transaction (the
    `member_anonymising` signal: campaigns' consent records, delivery log and webhook payloads), the outbox
    messages' last errors (a provider may repeat the address) are cleared, and the inbox messages that name the
    member and the imports' rows with errors that name one of its addresses (a repeated phone) name the pseudonym
    instead. Who asked, when and why is kept in MemberAnonymisation. Irreversible.

    Raises ActionReasonRequired, MemberAlreadyAnonymised (a second request), NotFound.
    """
    reason = _clean_reason(reason, required=True)
    member = lock_member(member_id=member_id)
    if MemberAnonymisation.objects.filter(member_id=member.pk).exists():
        raise MemberAlreadyAnonymised()
    pseudonym = f"anon-{secrets.token_hex(8)}"
    addresses = {getattr(member, field) for field in ADDRESS_FIELDS}
    names = {member.name}
    for *row, name in Member.history.filter(id=member.pk).values_list(*ADDRESS_FIELDS, "name"):
        addresses.update(row)
        names.add(name)
    member_anonymising.send(
        sender=None,
        member_id=member.pk,
        member_number=member.member_number,
        addresses=sorted(str(address) for address in addresses if address),
    )
    OutboxMessage.objects.filter(notification__member_id=member.pk).exclude(last_error="").update(last_error="")
    member_import_errors_scrub(addresses=addresses, replacement=pseudonym)
    _inbox_names_replace(member_id=member.pk, names=names, pseudonym=pseudonym)
    Member.history.filter(id=member.pk).update(name=pseudonym, **SCRUBBED_FIELDS)
    for field, value in SCRUBBED_FIELDS.items():
        setattr(member, field, value)
    for field in CONSENT_FIELDS:
        setattr(member, field, False)
    member.name = pseudonym
    member.consent_updated_at = now
    member.status = Member.Status.CLOSED
    member.tags.clear()
    MemberToken.objects.filter(member_id=member.pk, revoked_at__isnull=True).update(revoked_at=now)
    WechatSession.objects.filter(member_id=member.pk).delete()
    _save_audited(member, by=requested_by, now=now, reason=_("Anonymised on request"))
    return MemberAnonymisation.objects.create(
        member=member, pseudonym=pseudonym, reason=reason, requested_by=requested_by, anonymised_at=now
    )

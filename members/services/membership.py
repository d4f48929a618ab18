"""Members' lifecycle: created as a visitor by WeChat login, active once a phone is bound (joining)."""

from datetime import datetime

from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from infra.errors import InvalidInput
from members.errors import PhoneTaken
from members.formats import new_member_number, normalize_phone
from members.models import Member, MemberToken, Tier, WechatSession
from members.services.locks import lock_member
from members.signals import member_joined, send_after_commit

PROFILE_FIELDS = frozenset(
    {
        "name",
        "gender",
        "birthday",
        "email",
        "locale",
        "home_store",
        "consent_marketing",
        "consent_sms",
        "consent_email",
        "consent_wechat",
    }
)
CONSENT_FIELDS = frozenset({"consent_marketing", "consent_sms", "consent_email", "consent_wechat"})


def entry_tier():
    return Tier.objects.order_by("rank").first()


def member_create(*, now: datetime, **fields) -> Member:
    """Create a member with a fresh member number (retrying on the rare collision)."""
    if fields.get("phone"):
        fields["phone"] = normalize_phone(fields["phone"])
    for _attempt in range(5):
        member = Member(member_number=new_member_number(), **fields)
        member.full_clean(exclude=["member_number"], validate_unique=False)
        try:
            with transaction.atomic():
                member.save()
                return member
        except IntegrityError as exc:
            if fields.get("phone") and Member.objects.filter(phone=fields["phone"]).exists():
                raise PhoneTaken.for_field("phone") from exc
            if Member.objects.filter(member_number=member.member_number).exists():
                continue
            raise
    raise RuntimeError("could not allocate a member number")


@transaction.atomic
def member_login_wechat(*, openid: str, unionid: str, session_key: str, now: datetime) -> Member:
    """Find the member of a WeChat openid or create a visitor for it; keep the session key server-side."""
    member = Member.objects.filter(wechat_openid=openid).first()
    if member is None:
        try:
            with transaction.atomic():
                member = member_create(now=now, wechat_openid=openid, wechat_unionid=unionid or "")
        except IntegrityError:  # a concurrent first login of the same openid won
            member = Member.objects.get(wechat_openid=openid)
    elif unionid and member.wechat_unionid != unionid:
        Member.objects.filter(pk=member.pk).update(wechat_unionid=unionid)
    WechatSession.objects.update_or_create(member=member, defaults={"session_key": session_key})
    return member


@transaction.atomic
def member_bind_phone(*, member_id: int, phone: str, now: datetime) -> Member:
    """Bind a verified phone to a member.

    When the phone already belongs to an imported member without an openid, the openid moves onto that
    member and the visitor row is merged away (its tokens follow). Raises PhoneTaken, InvalidPhone.
    """
    phone = normalize_phone(phone)
    member = lock_member(member_id=member_id)
    if member.phone == phone:
        return member
    owner = Member.objects.select_for_update().filter(phone=phone).first()
    if owner is None:
        if member.phone:
            raise InvalidInput.for_field("phone", _("A phone is already bound to this member."))
        member.phone = phone
        try:
            with transaction.atomic():
                member.save(update_fields=["phone", "updated_at"])
        except IntegrityError:
            # Another member bound the phone meanwhile (no row to lock until it was written): theirs now.
            raise PhoneTaken.for_field("phone") from None
        return member
    if owner.wechat_openid or member.status != Member.Status.VISITOR or member.points_entries.exists():
        raise PhoneTaken.for_field("phone")
    return _merge_visitor_into(visitor=member, owner=owner)


def _merge_visitor_into(*, visitor: Member, owner: Member) -> Member:
    openid, unionid = visitor.wechat_openid, visitor.wechat_unionid
    MemberToken.objects.filter(member=visitor).update(member=owner)
    WechatSession.objects.filter(member=owner).delete()
    WechatSession.objects.filter(member=visitor).update(member=owner)
    visitor.delete()
    owner.wechat_openid = openid
    owner.wechat_unionid = unionid or owner.wechat_unionid
    owner.save(update_fields=["wechat_openid", "wechat_unionid", "updated_at"])
    return owner


@transaction.atomic
def member_join(*, member_id: int, source: str, now: datetime, **profile) -> Member:
    """Make a member active: requires a bound phone; records the join source and the entry tier."""
    member = lock_member(member_id=member_id)
    if not member.phone:
        raise InvalidInput.for_field("phone", _("Bind a phone before joining."), code="phone_required")
    if source not in Member.JoinSource.values:
        raise InvalidInput.for_field("source", _("Unknown join source."))
    _apply_profile(member, profile, now=now)
    if member.status == Member.Status.VISITOR:
        member.status = Member.Status.ACTIVE
        member.join_source = member.join_source or source
        member.joined_at = member.joined_at or now
        member.tier = member.tier or entry_tier()
        send_after_commit(member_joined, member_id=member.pk, source=member.join_source)
    member.full_clean(validate_unique=False)
    member.save()
    return member


@transaction.atomic
def member_update_profile(*, member_id: int, now: datetime, **profile) -> Member:
    """Change a member's own profile fields and consents. Raises InvalidInput."""
    member = lock_member(member_id=member_id)
    _apply_profile(member, profile, now=now)
    member.full_clean(validate_unique=False)
    member.save()
    return member


def _apply_profile(member, profile, *, now):
    unknown = set(profile) - PROFILE_FIELDS
    if unknown:
        raise InvalidInput.for_fields(sorted(unknown), _("This field cannot be changed."))
    consents_stamp(member, [name for name, value in profile.items() if getattr(member, name) != value], now=now)
    for name, value in profile.items():
        setattr(member, name, value)


def consents_stamp(member: Member, changed, *, now: datetime) -> None:
    """Date the member's consents when any of the fields `changed` is one (the member's own change, or staff's on
    the member form; an import dates them in its writer)."""
    if CONSENT_FIELDS.intersection(changed):
        member.consent_updated_at = now

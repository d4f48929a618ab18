"""The writers of coupon state: issuing, claiming, reserving, redeeming, voiding and the scheduled jobs.

Bulk issue jobs live in coupons.services.bulk, partner code pools in coupons.services.partner_codes, the
coupons that follow a purchase (post-payment rules, refunds) in coupons.services.post_payment.

Lock order everywhere: the member row (members.services.locks.lock_member), then the new coupon rows, then the
template row (taken by the conditional UPDATE of issued_count, last, so that it is held for the commit only;
a partner pool's codes are the exception: they are picked under the template row). Nothing here reads the
clock: `now` comes in.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from functools import partial
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from coupons.codes import generate_code, is_valid_code, normalize_code
from coupons.errors import (
    ERROR_BY_REASON,
    ClaimWindowClosed,
    CouponAlreadyRedeemed,
    CouponNotFound,
    CouponNotReserved,
    InvalidCouponCode,
    LimitReached,
    NotInAudience,
    SoldOut,
    TemplateInactive,
)
from coupons.models import Coupon, CouponTemplate, PartnerCode
from coupons.pricing import discount_for
from coupons.rules import Cart, Check, coupon_check, is_in_audience
from coupons.selectors import is_partner_code
from coupons.services.claim_hints import claim_hint_limit_reached, claim_hint_sold_out, claim_hints_read
from infra.errors import InvalidInput, NotFound
from infra.translation import translations_of
from members.models import Member
from members.selectors import member_lookup
from members.services.idempotency import IdempotentResult, idempotency_request_hash, idempotency_run
from members.services.locks import lock_member
from members.services.notifications import notify
from members.signals import coupon_redeemed, coupons_issued, send_after_commit

CODE_ATTEMPTS = 5
# Coupons a member receives without asking are announced in their inbox (and consented channels); a coupon the
# member claimed, bought or won is shown to them by the screen they did it on.
ANNOUNCED_SOURCES = frozenset(
    {
        Coupon.Source.POST_PAYMENT,
        Coupon.Source.BIRTHDAY,
        Coupon.Source.REFERRAL,
        Coupon.Source.MANUAL,
    }
)
DEFAULT_RESERVATION_SECONDS = 300
MAX_RESERVATION_SECONDS = 3600
EXPIRE_CHUNK_SIZE = 5000


@dataclass(frozen=True)
class Redemption:
    coupon: Coupon
    discount_amount: Decimal
    label: str
    is_replay: bool = False


# -- issuing ---------------------------------------------------------------------------------------------------
def coupon_validity(*, template: CouponTemplate, issued_at: datetime) -> tuple[datetime, datetime | None]:
    """Return (valid_from, valid_until) of a coupon issued at `issued_at`: the earlier end applies."""
    valid_from = max(issued_at, template.valid_from) if template.valid_from else issued_at
    ends = [end for end in (template.valid_until,) if end is not None]
    if template.valid_days:
        ends.append(issued_at + timedelta(days=template.valid_days))
    return valid_from, min(ends) if ends else None


def _template_get(template_id: int) -> CouponTemplate:
    template = CouponTemplate.objects.filter(pk=template_id).first()
    if template is None:
        raise NotFound(_("No such coupon offer."))
    return template


def _last_sequence(*, template_id: int, member_id: int) -> int:
    """How many coupons of the template the member was ever given: their sequence numbers run 1, 2, ..."""
    last = (
        Coupon.objects.filter(template_id=template_id, member_id=member_id)
        .order_by("-member_sequence")
        .values_list("member_sequence", flat=True)
        .first()
    )
    return last or 0


@transaction.atomic
def coupon_template_issue_to_member(
    *,
    template_id: int,
    member_id: int,
    source: str,
    now: datetime,
    issued_by_id: int | None = None,
    issue_key: str | None = None,
    enforce_member_limit: bool = True,
    issued_for_purchase_id: int | None = None,
    post_payment_rule_id: int | None = None,
) -> Coupon:
    """Issue one coupon of a template to a member: the core of every way a coupon is given.

    Takes one unit of the quota by a conditional UPDATE (see _coupon_issue); the member's row lock serialises
    their issues, so the per-member limit holds. With an `issue_key`, a second call returns the first coupon.
    Raises NotFound, TemplateInactive, ClaimWindowClosed (the template's validity has ended), LimitReached,
    SoldOut.
    """
    lock_member(member_id=member_id)
    if issue_key:
        existing = Coupon.objects.filter(issue_key=issue_key).first()
        if existing is not None:
            return existing
    template = _template_get(template_id)
    valid_from, valid_until = _issuable_validity(template=template, now=now)
    sequence = _last_sequence(template_id=template.pk, member_id=member_id) + 1
    if enforce_member_limit and template.per_member_limit is not None and sequence > template.per_member_limit:
        raise LimitReached()
    return _coupon_issue(
        template=template,
        member_id=member_id,
        member_sequence=sequence,
        source=source,
        now=now,
        valid_from=valid_from,
        valid_until=valid_until,
        issued_by_id=issued_by_id,
        issue_key=issue_key,
        issued_for_purchase_id=issued_for_purchase_id,
        post_payment_rule_id=post_payment_rule_id,
    )


def _issuable_validity(*, template: CouponTemplate, now: datetime) -> tuple[datetime, datetime | None]:
    """Return (valid_from, valid_until) of a coupon issued now. Raises TemplateInactive, ClaimWindowClosed."""
    if not template.is_active:
        raise TemplateInactive()
    valid_from, valid_until = coupon_validity(template=template, issued_at=now)
    if valid_until is not None and valid_until <= now:
        raise ClaimWindowClosed(_("This offer has ended."))
    return valid_from, valid_until


def _coupon_issue(
    *,
    template: CouponTemplate,
    member_id: int,
    member_sequence: int,
    source: str,
    now: datetime,
    valid_from: datetime,
    valid_until: datetime | None,
    **fields,
) -> Coupon:
    """Insert a checked coupon and take its unit of quota, inside the caller's transaction (member row locked).

    Raises SoldOut, LimitReached (the member's sequence number was taken meanwhile).
    """
    is_pool = template.code_source == CouponTemplate.CodeSource.PARTNER_POOL
    if is_pool:  # pool codes are picked while the template row is held (see _coupon_insert_partner_code)
        _quota_take(template_id=template.pk)
    coupon = _coupon_insert(
        template=template,
        member_id=member_id,
        member_sequence=member_sequence,
        source=source,
        issued_at=now,
        valid_from=valid_from,
        valid_until=valid_until,
        **fields,
    )
    if source in ANNOUNCED_SOURCES:
        notify(
            member_id=member_id,
            kind="coupon_issued",
            params={"coupon": translations_of(template, "name")},  # told in the member's language
            dedupe_key=f"coupon_issued:{coupon.code}",
            now=now,
        )
    send_after_commit(coupons_issued, coupon_ids=[coupon.pk])
    if not is_pool:
        # The unit of quota last: every issue of an offer queues on its template row, which this UPDATE holds to
        # the commit; taken last, a flash sale's claim holds it for its COMMIT only. Sold out rolls the coupon
        # back with the caller's transaction (a savepoint when nested).
        _quota_take(template_id=template.pk)
    return coupon


def _quota_take(*, template_id: int) -> None:
    """Take one unit of a template's quota by a conditional UPDATE (its row stays locked to the commit).

    Raises SoldOut.
    """
    taken = (
        CouponTemplate.objects.filter(pk=template_id)
        .filter(Q(quota__isnull=True) | Q(issued_count__lt=F("quota")))
        .update(issued_count=F("issued_count") + 1)
    )
    if not taken:
        raise SoldOut()


def _coupon_insert(*, template: CouponTemplate, **fields) -> Coupon:
    if template.code_source == CouponTemplate.CodeSource.PARTNER_POOL:
        return _coupon_insert_partner_code(template=template, **fields)
    # A fresh code collides with about 1 in 10**14 odds; retry rather than check first (that would race).
    for attempt in range(CODE_ATTEMPTS):
        code = generate_code(prefix=template.code_prefix, body_length=template.code_length)
        try:
            with transaction.atomic():
                return Coupon.objects.create(template=template, code=code, **fields)
        except IntegrityError:
            if Coupon.objects.filter(code=code).exists() and attempt + 1 < CODE_ATTEMPTS:
                continue
            if Coupon.objects.filter(
                template=template, member_id=fields["member_id"], member_sequence=fields["member_sequence"]
            ).exists():
                raise LimitReached() from None
            raise
    raise AssertionError("unreachable")


def _coupon_insert_partner_code(*, template: CouponTemplate, **fields) -> Coupon:
    # The caller holds the template row (its quota UPDATE), so two issues never take the same pool code;
    # skip_locked keeps a bulk chunk holding codes from blocking this one anyway.
    partner_code = (
        PartnerCode.objects.select_for_update(skip_locked=True)
        .filter(template_id=template.pk, used_at__isnull=True)
        .order_by("pk")
        .first()
    )
    if partner_code is None:
        raise SoldOut(_("All partner codes of this offer have been given out."))
    try:
        with transaction.atomic():
            coupon = Coupon.objects.create(template=template, code=partner_code.code, **fields)
    except IntegrityError:
        if Coupon.objects.filter(
            template=template, member_id=fields["member_id"], member_sequence=fields["member_sequence"]
        ).exists():
            raise LimitReached() from None
        raise
    PartnerCode.objects.filter(pk=partner_code.pk).update(used_at=fields["issued_at"])
    return coupon


def coupon_claim_precheck(*, template: CouponTemplate, member: Member, now: datetime) -> None:
    """Refuse a claim early, without locks: window, audience, sold out (the locked path decides for real).

    Raises TemplateInactive, ClaimWindowClosed, NotInAudience, SoldOut.
    """
    if not template.is_active:
        raise TemplateInactive()
    if (
        (template.claim_starts_at and now < template.claim_starts_at)
        or (template.claim_ends_at and now >= template.claim_ends_at)
        or (template.valid_until and now >= template.valid_until)
    ):
        raise ClaimWindowClosed()
    if not is_in_audience(
        template=template,
        member=member,
        tier_ids=template.tiers.values_list("pk", flat=True),
        tag_ids=template.tags.values_list("pk", flat=True),
        member_tag_ids=member.tags.values_list("pk", flat=True),
    ):
        raise NotInAudience()


def coupon_claim(*, member_id: int, template_id: int, now: datetime) -> Coupon:
    """Claim a coupon for a member in the mini program (also the flash-sale path).

    A flash sale's refusals cost one cache read: once the database has said sold out, or that the member holds
    their limit, the shared cache's hints (coupons.services.claim_hints) answer the next claims before any
    query. The database alone decides every coupon issued.
    Raises NotFound (no such claimable offer), TemplateInactive, ClaimWindowClosed, NotInAudience,
    LimitReached, SoldOut.
    """
    hints = claim_hints_read(template_id=template_id, member_id=member_id)
    # The member's own limit first: a member who holds theirs hears limit_reached, even when sold out.
    if hints.is_limit_reached:
        raise LimitReached()
    if hints.is_sold_out:
        raise SoldOut()
    try:
        coupon, per_member_limit = _coupon_claim(member_id=member_id, template_id=template_id, now=now)
    except LimitReached:
        claim_hint_limit_reached(hints=hints)
        raise
    except SoldOut:
        claim_hint_sold_out(hints=hints)
        raise
    if per_member_limit is not None and coupon.member_sequence >= per_member_limit:
        # After the commit: a rolled-back issue must not leave the member refused.
        transaction.on_commit(partial(claim_hint_limit_reached, hints=hints), robust=True)
    return coupon


@transaction.atomic
def _coupon_claim(*, member_id: int, template_id: int, now: datetime) -> tuple[Coupon, int | None]:
    template = CouponTemplate.objects.filter(pk=template_id, is_claimable=True).first()
    if template is None:
        raise NotFound(_("No such coupon offer."))
    # The member's row first: it serialises the member's claims, so their limit holds. Refusals never touch the
    # template's row, and an issue holds it for its COMMIT only (_coupon_issue). A sold-out offer skips the
    # audience queries (a member who holds theirs still hears limit_reached).
    member = lock_member(member_id=member_id)
    is_sold_out = template.quota is not None and template.issued_count >= template.quota
    if not (is_sold_out and template.is_active):
        coupon_claim_precheck(template=template, member=member, now=now)
    sequence = _last_sequence(template_id=template.pk, member_id=member_id) + 1
    if template.per_member_limit is not None and sequence > template.per_member_limit:
        raise LimitReached()
    if is_sold_out:
        raise SoldOut()
    valid_from, valid_until = _issuable_validity(template=template, now=now)
    coupon = _coupon_issue(
        template=template,
        member_id=member_id,
        member_sequence=sequence,
        source=Coupon.Source.CLAIM,
        now=now,
        valid_from=valid_from,
        valid_until=valid_until,
    )
    return coupon, template.per_member_limit


# -- using a coupon --------------------------------------------------------------------------------------------
def _coupon_for_member(*, member_id: int, coupon_id: int | None = None, code: str | None = None) -> Coupon:
    """Lock and return a coupon the member holds. Raises InvalidCouponCode, CouponNotFound (also for a coupon
    another member holds)."""
    queryset = Coupon.objects.select_for_update(of=("self",)).select_related("template").filter(member_id=member_id)
    if code is not None:
        code = normalize_code(code)
        if not is_valid_code(code) and not is_partner_code(code):
            raise InvalidCouponCode.for_field("code")
        coupon = queryset.filter(code=code).first()
    elif coupon_id is not None:
        coupon = queryset.filter(pk=coupon_id).first()
    else:
        raise InvalidInput.for_field("code", _("Give a coupon code."))
    if coupon is None:
        raise CouponNotFound()
    return coupon


def _check_or_raise(coupon: Coupon, cart: Cart, now: datetime) -> Check:
    check = coupon_check(
        coupon=coupon, template_store_ids=coupon.template.stores.values_list("pk", flat=True), cart=cart, now=now
    )
    if check.reason is not None:
        raise ERROR_BY_REASON[check.reason]()
    return check


@transaction.atomic
def coupon_reserve(
    *,
    member_id: int,
    cart: Cart,
    now: datetime,
    coupon_id: int | None = None,
    code: str | None = None,
    ttl_seconds: int = DEFAULT_RESERVATION_SECONDS,
) -> tuple[Coupon, Check]:
    """Hold a coupon for one checkout (`cart.reference`) for `ttl_seconds`; the same checkout may renew it.

    Raises InvalidInput (no reference, bad TTL), the errors of the coupon look-up, and the error of the
    first reason the coupon does not fit the cart (coupon_expired, coupon_reserved, min_spend_not_met, ...).
    """
    if not cart.reference:
        raise InvalidInput.for_field("reference", _("Name the checkout that holds the coupon."))
    if not 0 < ttl_seconds <= MAX_RESERVATION_SECONDS:
        raise InvalidInput.for_field("ttl_seconds", _("Hold a coupon for 1 second to 1 hour."))
    coupon = _coupon_for_member(member_id=member_id, coupon_id=coupon_id, code=code)
    check = _check_or_raise(coupon, cart, now)
    coupon.status = Coupon.Status.RESERVED
    coupon.reserved_until = now + timedelta(seconds=ttl_seconds)
    coupon.reservation_reference = cart.reference
    coupon.save(update_fields=["status", "reserved_until", "reservation_reference"])
    return coupon, check


@transaction.atomic
def coupon_release(*, member_id: int, coupon_id: int, reference: str, now: datetime) -> Coupon:
    """Give a reserved coupon back to the member (the checkout was abandoned). Releasing twice is harmless.

    Raises CouponNotFound, CouponNotReserved (held by another checkout, or already used).
    """
    coupon = _coupon_for_member(member_id=member_id, coupon_id=coupon_id)
    if coupon.status == Coupon.Status.AVAILABLE:
        return coupon
    if coupon.status != Coupon.Status.RESERVED or coupon.reservation_reference != reference:
        raise CouponNotReserved()
    coupon.status = Coupon.Status.AVAILABLE
    coupon.reserved_until = None
    coupon.reservation_reference = ""
    coupon.save(update_fields=["status", "reserved_until", "reservation_reference"])
    return coupon


@transaction.atomic
def coupon_redeem(
    *,
    member_id: int,
    cart: Cart,
    now: datetime,
    coupon_id: int | None = None,
    code: str | None = None,
    purchase_id: int | None = None,
    external_id: str = "",
) -> Redemption:
    """Use a coupon on a purchase, at most once even when two tills try at the same moment.

    The row is locked, checked against the cart, then moved by a conditional UPDATE from available/reserved
    (the backstop if a lock were ever skipped). A retry with the same store and `external_id` returns the
    first redemption. Raises InvalidCouponCode, CouponNotFound, CouponAlreadyRedeemed and the
    error of the first reason the coupon does not fit (coupon_expired, coupon_void, wrong_store, ...).
    """
    coupon = _coupon_for_member(member_id=member_id, coupon_id=coupon_id, code=code)
    if (
        coupon.status == Coupon.Status.REDEEMED
        and external_id
        and coupon.redeemed_reference == external_id
        and coupon.redeemed_store_id == cart.store_id
    ):
        label = discount_for(coupon.template, coupon.discount_amount or 0).label
        return Redemption(coupon=coupon, discount_amount=coupon.discount_amount, label=label, is_replay=True)
    check = _check_or_raise(coupon, cart, now)
    changed = Coupon.objects.filter(pk=coupon.pk, status__in=(Coupon.Status.AVAILABLE, Coupon.Status.RESERVED)).update(
        status=Coupon.Status.REDEEMED,
        redeemed_at=now,
        redeemed_store_id=cart.store_id,
        redeemed_channel=cart.channel,
        redeemed_purchase_id=purchase_id,
        redeemed_reference=external_id,
        discount_amount=check.discount.amount,
        reserved_until=None,
        reservation_reference="",
    )
    if not changed:
        raise CouponAlreadyRedeemed()
    send_after_commit(coupon_redeemed, coupon_id=coupon.pk, member_id=coupon.member_id)
    coupon.refresh_from_db()
    return Redemption(coupon=coupon, discount_amount=check.discount.amount, label=check.discount.label)


@transaction.atomic
def coupon_redeem_at_till(
    *,
    code: str,
    cart: Cart,
    external_id: str,
    now: datetime,
    render: Callable[[Member, Redemption], Any],
    card_code: str = "",
    phone: str = "",
    member_number: str = "",
    idempotency_key: str | None = None,
    request_data: Mapping[str, Any] | None = None,
) -> IdempotentResult:
    """coupon_redeem at a store's till (`cart.store_id`) for the member it names by exactly one of card code, phone
    or member number (members.selectors.member_lookup), answered with `render(member, redemption)`.

    With an idempotency key, a retry with the same key and request (`request_data`, the body as sent) gets the
    first answer again (members.services.idempotency): the card code changes every minute, so the request is
    fingerprinted with the member it named instead. Raises member_lookup's and coupon_redeem's errors,
    IdempotencyKeyReused, InvalidInput (a bad key).
    """
    member = member_lookup(now=now, card_code=card_code, phone=phone, member_number=member_number)

    def redeem():
        redemption = coupon_redeem(member_id=member.pk, code=code, cart=cart, external_id=external_id, now=now)
        return 200, render(member, redemption)

    if idempotency_key is None:
        status_code, body = redeem()
        return IdempotentResult(status_code=status_code, body=body, is_replay=False)
    fingerprint = {name: value for name, value in (request_data or {}).items() if name != "card_code"}
    fingerprint["member_id"] = member.pk
    return idempotency_run(
        scope=f"pos:{cart.store_id}:coupon_redeem",
        key=idempotency_key,
        request_hash=idempotency_request_hash(fingerprint),
        action=redeem,
    )


@transaction.atomic
def coupons_void(*, coupon_ids: list[int], now: datetime, voided_by_id: int | None = None, reason: str = "") -> int:
    """Cancel coupons that are still usable (available or reserved); return how many were voided.

    Redeemed, expired and already void coupons are left as they are.
    """
    return Coupon.objects.filter(
        pk__in=coupon_ids, status__in=(Coupon.Status.AVAILABLE, Coupon.Status.RESERVED)
    ).update(
        status=Coupon.Status.VOID,
        voided_at=now,
        voided_by_id=voided_by_id,
        void_reason=reason[:200],
        reserved_until=None,
        reservation_reference="",
    )


# -- scheduled jobs --------------------------------------------------------------------------------------------
@transaction.atomic
def coupons_release_stale_reservations(*, now: datetime) -> int:
    """Give back every reservation whose time is up; return how many. Safe to run twice."""
    return Coupon.objects.filter(status=Coupon.Status.RESERVED, reserved_until__lte=now).update(
        status=Coupon.Status.AVAILABLE, reserved_until=None, reservation_reference=""
    )


def coupons_expire(*, now: datetime, chunk_size: int = EXPIRE_CHUNK_SIZE) -> int:
    """Mark available coupons past their end as expired, a chunk per transaction; return how many.

    Reserved coupons are left to their checkout (and to the stale-reservation job). Safe to run twice.
    """
    total = 0
    due = Coupon.objects.filter(status=Coupon.Status.AVAILABLE, valid_until__lte=now)
    while True:
        with transaction.atomic():
            ids = list(due.order_by("pk").values_list("pk", flat=True)[:chunk_size])
            if not ids:
                return total
            total += Coupon.objects.filter(pk__in=ids, status=Coupon.Status.AVAILABLE).update(
                status=Coupon.Status.EXPIRED
            )

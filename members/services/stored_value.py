"""The stored-value ledger: top-up (with an offer's bonus), spend, refund and adjust, keeping the invariant

    sum(amount of entries) == Member.stored_value_balance >= 0

Every writer locks the member row first (the same lock as the points ledger), checks, inserts append-only
entries and moves the cached balance with an F() update. Keys are unique in the database: a top-up's key
derives from the payment (provider, transaction id), so a replayed payment writes nothing new.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from django.db import IntegrityError, transaction
from django.db.models import F, Sum
from django.db.models.functions import Coalesce
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from infra.errors import InvalidInput
from infra.translation import texts_kept
from members.errors import (
    IdempotencyKeyReused,
    InsufficientStoredValue,
    InvalidMoneyAmount,
    MemberNotActive,
    ReasonRequired,
    RefundExceedsSpend,
    TopUpOfferUnavailable,
)
from members.models import Member, MemberPlanSubscription, PaymentUse, StoredValueEntry, TopUpOffer
from members.selectors.holds import stored_value_available
from members.services.locks import lock_member
from members.services.payments import payment_already_used, payment_use_record, wechat_payment_confirm
from members.services.plans import payment_reference_clean, tier_period_grant

Kind = StoredValueEntry.Kind
CENT = Decimal("0.01")
MAX_AMOUNT = Decimal("9999999999.99")


@dataclass(frozen=True)
class TopUpResult:
    top_up: StoredValueEntry
    bonus: StoredValueEntry | None
    balance: Decimal
    is_replay: bool
    tier_grant: MemberPlanSubscription | None = None


def money(value, *, field: str = "amount") -> Decimal:
    """Return a positive amount with at most 2 decimal places, or raise InvalidMoneyAmount naming the field."""
    try:
        amount = Decimal(str(value)) if not isinstance(value, Decimal) else value
    except (InvalidOperation, ValueError, TypeError):
        amount = None
    if (
        amount is None
        or isinstance(value, bool | float)
        or not amount.is_finite()
        or amount <= 0
        or amount > MAX_AMOUNT
        or amount != amount.quantize(CENT, rounding=ROUND_HALF_UP)
    ):
        raise InvalidMoneyAmount.for_field(field)
    return amount.quantize(CENT)


def _insert(**fields) -> StoredValueEntry:
    try:
        with transaction.atomic():
            return StoredValueEntry.objects.create(**fields)
    except IntegrityError as exc:
        # The member lock serialises writers of one member; a clash here is one key used for two members.
        raise IdempotencyKeyReused() from exc


def _credit(*, member, kind, amount, idempotency_key, now, **fields) -> StoredValueEntry:
    balance = member.stored_value_balance + amount
    entry = _insert(
        member=member, kind=kind, amount=amount, balance_after=balance, idempotency_key=idempotency_key,
        created_at=now, **fields,
    )  # fmt: skip
    Member.objects.filter(pk=member.pk).update(stored_value_balance=F("stored_value_balance") + amount)
    member.stored_value_balance = balance
    return entry


def stored_value_top_up_by_member(
    *, member_id: int, offer_id: int, provider: str, transaction_id: str, now: datetime
) -> TopUpResult:
    """stored_value_top_up for the member's own request: the payment (`transaction_id`, the WeChat Pay order
    number) must first be confirmed by WeChat Pay as this member's, for the offer's price. A replay of a
    recorded payment answers without asking again. Raises stored_value_top_up's errors, PaymentNotConfirmed,
    PaymentAmountMismatch, PaymentProviderUnavailable.
    """
    provider, transaction_id = payment_reference_clean(provider, transaction_id)
    if not StoredValueEntry.objects.filter(idempotency_key=f"top_up:{provider}:{transaction_id}").exists():
        offer = TopUpOffer.objects.available(now=now).filter(pk=offer_id).first()
        if offer is None:
            raise TopUpOfferUnavailable.for_field("offer")
        wechat_payment_confirm(
            member_id=member_id, out_trade_no=transaction_id, field="transaction_id", amount=offer.pay_amount
        )
    return stored_value_top_up(
        member_id=member_id, offer_id=offer_id, provider=provider, transaction_id=transaction_id, now=now
    )


@transaction.atomic
def stored_value_top_up(
    *, member_id: int, offer_id: int, provider: str, transaction_id: str, now: datetime, created_by=None
) -> TopUpResult:
    """Record a paid top-up: the amount paid plus the offer's bonus (two entries).

    The payment itself happened outside this system; (provider, transaction id) identifies it. Replaying the
    same payment for the same member and offer returns the first result and writes nothing.
    Raises TopUpOfferUnavailable, PaymentAlreadyUsed (same payment, other member or offer), MemberNotActive,
    InvalidInput (empty provider or transaction id).
    """
    provider, transaction_id = payment_reference_clean(provider, transaction_id)
    key = f"top_up:{provider}:{transaction_id}"
    member = lock_member(member_id=member_id)
    first = StoredValueEntry.objects.filter(idempotency_key=key).first()
    if first is not None:
        if first.member_id != member_id or first.offer_id != offer_id:
            raise payment_already_used()
        bonus = StoredValueEntry.objects.filter(idempotency_key=f"bonus:{provider}:{transaction_id}").first()
        grant = MemberPlanSubscription.objects.filter(stored_value_entry=first).first()
        return TopUpResult(
            top_up=first, bonus=bonus, balance=member.stored_value_balance, is_replay=True, tier_grant=grant
        )
    payment_use_record(
        provider=provider, transaction_id=transaction_id, member_id=member_id, purpose=PaymentUse.Purpose.TOP_UP,
        now=now,
    )  # fmt: skip
    if member.status != Member.Status.ACTIVE:
        raise MemberNotActive()
    offer = TopUpOffer.objects.available(now=now).select_related("tier").filter(pk=offer_id).first()
    if offer is None:
        raise TopUpOfferUnavailable.for_field("offer")
    common = {"offer": offer, "provider": provider, "transaction_id": transaction_id, "source": "top_up",
              "created_by": created_by}  # fmt: skip
    top_up = _credit(member=member, kind=Kind.TOP_UP, amount=offer.pay_amount, idempotency_key=key, now=now, **common)
    bonus = None
    if offer.bonus_amount > 0:
        bonus = _credit(
            member=member, kind=Kind.BONUS, amount=offer.bonus_amount,
            idempotency_key=f"bonus:{provider}:{transaction_id}", now=now, **common,
        )  # fmt: skip
    grant = None
    if offer.tier_id is not None and offer.tier_duration_value:
        grant = tier_period_grant(
            member=member, tier=offer.tier, duration_value=offer.tier_duration_value,
            duration_unit=offer.tier_duration_unit, provider=provider, transaction_id=transaction_id, now=now,
            stored_value_entry=top_up, note=gettext("Top-up: %(offer)s") % {"offer": offer.name},
        )  # fmt: skip
    return TopUpResult(
        top_up=top_up, bonus=bonus, balance=member.stored_value_balance, is_replay=False, tier_grant=grant
    )


def _existing(idempotency_key: str, **expected) -> StoredValueEntry | None:
    """Return the entry already written under `idempotency_key` (a retry), or None. Raises IdempotencyKeyReused
    when that entry is another request's (a field differs from `expected`)."""
    entry = StoredValueEntry.objects.filter(idempotency_key=idempotency_key).first()
    if entry is not None and any(getattr(entry, field) != value for field, value in expected.items()):
        raise IdempotencyKeyReused()
    return entry


@transaction.atomic
def stored_value_spend(
    *,
    member_id: int,
    amount,
    idempotency_key: str,
    now: datetime,
    purchase_id: int | None = None,
    source: str = "",
    created_by=None,
) -> StoredValueEntry:
    """Pay with stored value (what is not held for a checkout). A retry with the same key returns the first entry.

    Raises InvalidMoneyAmount, InsufficientStoredValue, IdempotencyKeyReused.
    """
    amount = money(amount)
    member = lock_member(member_id=member_id)
    if (existing := _existing(idempotency_key, member_id=member_id, kind=Kind.SPEND, amount=-amount)) is not None:
        return existing
    if amount > stored_value_available(member):  # what a checkout holds is not the member's to spend elsewhere
        raise InsufficientStoredValue.for_field("amount")
    balance = member.stored_value_balance - amount
    entry = _insert(
        member=member, kind=Kind.SPEND, amount=-amount, balance_after=balance, idempotency_key=idempotency_key,
        purchase_id=purchase_id, source=source, created_by=created_by, created_at=now,
    )  # fmt: skip
    Member.objects.filter(pk=member.pk).update(stored_value_balance=F("stored_value_balance") - amount)
    return entry


@transaction.atomic
def stored_value_refund(
    *, spend_entry_id: int, amount, idempotency_key: str, now: datetime, source: str = "", created_by=None
) -> StoredValueEntry:
    """Give back (part of) a spend. The refunds of one spend never exceed it.

    Raises InvalidMoneyAmount, RefundExceedsSpend, IdempotencyKeyReused, InvalidInput (not a spend).
    """
    amount = money(amount)
    spend = StoredValueEntry.objects.filter(pk=spend_entry_id, kind=Kind.SPEND).first()
    if spend is None:
        raise InvalidInput.for_field("spend_entry_id", _("This is not a stored-value payment."))
    member = lock_member(member_id=spend.member_id)
    existing = _existing(
        idempotency_key, member_id=spend.member_id, kind=Kind.REFUND, amount=amount, refund_of_id=spend.pk
    )
    if existing is not None:
        return existing
    refunded = spend.refunds.aggregate(total=Coalesce(Sum("amount"), Decimal(0)))["total"]
    if refunded + amount > -spend.amount:
        raise RefundExceedsSpend.for_field("amount")
    return _credit(
        member=member, kind=Kind.REFUND, amount=amount, idempotency_key=idempotency_key, now=now,
        refund_of=spend, purchase_id=spend.purchase_id, source=source, created_by=created_by,
    )  # fmt: skip


@transaction.atomic
def stored_value_adjust(
    *, member_id: int, amount, reason: str, created_by, idempotency_key: str, now: datetime
) -> StoredValueEntry:
    """Correct a balance by hand (amount > 0 adds, < 0 removes); the reason and the staff user are kept.

    Raises ReasonRequired, InvalidMoneyAmount, InsufficientStoredValue.
    """
    if not (reason or "").strip():
        raise ReasonRequired.for_field("reason")
    try:
        signed = amount if isinstance(amount, Decimal) else Decimal(str(amount))
    except (InvalidOperation, ValueError):
        raise InvalidMoneyAmount.for_field("amount") from None
    magnitude = money(abs(signed) if signed.is_finite() else signed)
    delta = magnitude if signed > 0 else -magnitude
    member = lock_member(member_id=member_id)
    if (existing := _existing(idempotency_key, member_id=member_id, kind=Kind.ADJUSTMENT, amount=delta)) is not None:
        return existing
    if delta < 0 and -delta > stored_value_available(member):  # never below what checkouts hold
        raise InsufficientStoredValue.for_field("amount")
    return _credit(
        member=member, kind=Kind.ADJUSTMENT, amount=delta, idempotency_key=idempotency_key, now=now,
        source="console", reason=reason.strip(), created_by=created_by,
    )  # fmt: skip


def stored_value_drift(*, member_ids=None) -> list[tuple[int, Decimal, Decimal]]:
    """Return (member id, cached balance, sum of entries) for every member where the two disagree."""
    from django.db.models import OuterRef, Q, Subquery

    entries = (
        StoredValueEntry.objects.filter(member=OuterRef("pk"))
        .values("member")
        .annotate(total=Sum("amount"))
        .values("total")
    )
    members = Member.objects.annotate(entries_sum=Coalesce(Subquery(entries), Decimal(0))).filter(
        ~Q(entries_sum=F("stored_value_balance"))
    )
    if member_ids is not None:
        members = members.filter(pk__in=member_ids)
    return list(members.order_by("pk").values_list("pk", "stored_value_balance", "entries_sum"))


@transaction.atomic
def stored_value_grant(
    *,
    member_id: int,
    amount,
    idempotency_key: str,
    now: datetime,
    source: str,
    reason: str | Mapping[str, str] = "",
    created_by=None,
) -> StoredValueEntry:
    """Give stored value that was not paid for (a points-mall reward, a goodwill gift): one `bonus` entry.

    `reason` is one text or merchant content in every language ({language: text}: a reward's name), kept as it is
    now for readers in every language (StoredValueEntry.reason_shown, as the points ledger's).
    The caller's key makes it idempotent: a retry with the same key returns the first entry; the same key
    for another member or amount is refused. Raises InvalidMoneyAmount, IdempotencyKeyReused, InvalidInput
    (no source), NotFound (no such member).
    """
    amount = money(amount)
    if not (source or "").strip():
        raise InvalidInput.for_field("source", _("This field is required."))
    text, texts = texts_kept(reason, max_length=StoredValueEntry._meta.get_field("reason").max_length)
    member = lock_member(member_id=member_id)
    if (existing := _existing(idempotency_key, member_id=member_id, kind=Kind.BONUS, amount=amount)) is not None:
        return existing
    return _credit(
        member=member, kind=Kind.BONUS, amount=amount, idempotency_key=idempotency_key, now=now,
        source=source.strip(), reason=text, reason_texts=texts, created_by=created_by,
    )  # fmt: skip

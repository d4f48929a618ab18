"""The points ledger: credit, debit and adjust, keeping the invariant

    sum(delta of entries other than `pending`) == points_balance - points_debt

and, for lots, sum(remaining of active lots) == points_balance. Every writer locks the member row first,
so concurrent writers of one member serialise; the idempotency key (unique in the database) makes a
retried call return the first entry instead of writing a second one.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from django.db import IntegrityError, transaction
from django.db.models import Case, F, PositiveIntegerField, Q, When
from django.db.models.functions import Coalesce
from django.utils.translation import gettext_lazy as _

from infra.bulk_sql import field_in, set_based
from infra.errors import NotFound
from infra.translation import texts_kept
from members import sql
from members.errors import (
    IdempotencyKeyReused,
    InsufficientPoints,
    InvalidAmount,
    PointsAmountTooLarge,
    PointsBalanceTooLarge,
    ReasonRequired,
)
from members.models import Member, PointsAllocation, PointsEntry, PointsLot, Purchase
from members.models.ledger import MAX_POINTS_BALANCE, MAX_POINTS_PER_ENTRY
from members.selectors.holds import points_available
from members.services.locks import lock_member

Kind = PointsEntry.Kind


@dataclass(frozen=True)
class LedgerDrift:
    member_id: int
    points_balance: int
    points_debt: int
    entries_sum: int
    active_lots_sum: int


def _existing(*, idempotency_key, member_id, kind, delta):
    entry = PointsEntry.objects.filter(idempotency_key=idempotency_key).first()
    if entry is None:
        return None
    if (entry.member_id, entry.kind, entry.delta) != (member_id, kind, delta):
        raise IdempotencyKeyReused()
    return entry


def _check_amount(points):
    if not isinstance(points, int) or isinstance(points, bool) or points <= 0:
        raise InvalidAmount.for_field("points")
    if points > MAX_POINTS_PER_ENTRY:
        message = _("At most %(max)s points at a time.") % {"max": MAX_POINTS_PER_ENTRY}
        raise PointsAmountTooLarge.for_field("points", message)


def _check_ceiling(*, balance: int, pending: int, points: int) -> None:
    """Refuse a credit that would take a member's points (available plus pending) past MAX_POINTS_BALANCE."""
    if balance + pending + points > MAX_POINTS_BALANCE:
        message = _("A member holds at most %(max)s points.") % {"max": MAX_POINTS_BALANCE}
        raise PointsBalanceTooLarge.for_field("points", message)


REASON_MAX_LENGTH = PointsEntry._meta.get_field("reason").max_length


def _reason_fields(reason: str | Mapping[str, str]) -> dict:
    """The entry's `reason` and `reason_texts` from one text (kept as it is) or a {language: text} mapping (merchant
    content as it is now: infra.translation.texts_kept)."""
    text, texts = texts_kept(reason, max_length=REASON_MAX_LENGTH)
    return {"reason": text, "reason_texts": texts}


def _insert_entry(**fields):
    try:
        with transaction.atomic():
            return PointsEntry.objects.create(**fields)
    except IntegrityError as exc:
        # Only reachable when two writers used one key for two members (the member lock serialises
        # writers of the same member); report it as the domain error it is.
        raise IdempotencyKeyReused() from exc


@transaction.atomic
def points_credit(
    *,
    member_id: int,
    points: int,
    kind: str = Kind.ACCRUAL,
    idempotency_key: str,
    now: datetime,
    activates_at: datetime | None = None,
    expires_at: datetime | None = None,
    purchase_id: int | None = None,
    source: str = "",
    reason: str | Mapping[str, str] = "",
    breakdown: dict | None = None,
    created_by=None,
) -> PointsEntry:
    """Add points to a member: a new lot, debt repaid first.

    Points that activate later are recorded as a `pending` memo entry with an inactive lot;
    `points_activate_lot` moves them into the balance. `reason` is one text (typed by staff, or the system's own
    text as its gettext_noop msgid) or merchant content in every language ({language: text}, translations_of), kept
    as it is now for readers in every language (PointsEntry.reason_shown). Raises InvalidAmount,
    PointsAmountTooLarge, PointsBalanceTooLarge (past MAX_POINTS_BALANCE, pending points counted),
    IdempotencyKeyReused.
    """
    _check_amount(points)
    activates_at = activates_at or now
    is_pending = activates_at > now
    entry_kind = Kind.PENDING if is_pending else kind
    member = lock_member(member_id=member_id)
    existing = _existing(idempotency_key=idempotency_key, member_id=member_id, kind=entry_kind, delta=points)
    if existing:
        return existing
    _check_ceiling(balance=member.points_balance, pending=member.points_pending, points=points)

    entry_fields = {
        "member": member,
        "kind": entry_kind,
        "delta": points,
        "idempotency_key": idempotency_key,
        "purchase_id": purchase_id,
        "source": source,
        **_reason_fields(reason),
        "breakdown": breakdown or {},
        "created_by": created_by,
        "created_at": now,
    }
    lot_fields = {"member": member, "points": points, "activates_at": activates_at, "expires_at": expires_at}
    if is_pending:
        entry = _insert_entry(**entry_fields, balance_after=member.points_balance, debt_after=member.points_debt)
        PointsLot.objects.create(entry=entry, remaining=points, is_active=False, **lot_fields)
        Member.objects.filter(pk=member.pk).update(points_pending=F("points_pending") + points)
        return entry

    kept, repaid = _repay_debt_first(member, points)
    entry = _insert_entry(
        **entry_fields, balance_after=member.points_balance + kept, debt_after=member.points_debt - repaid
    )
    PointsLot.objects.create(entry=entry, remaining=kept, is_active=True, **lot_fields)
    _move_balance(member, kept=kept, repaid=repaid)
    return entry


def _repay_debt_first(member, points):
    """Split a credit into (kept, repaid): points debt is repaid before the balance grows."""
    repaid = min(member.points_debt, points)
    return points - repaid, repaid


def _move_balance(member, *, kept, repaid, activated_pending=0):
    Member.objects.filter(pk=member.pk).update(
        points_balance=F("points_balance") + kept,
        points_debt=F("points_debt") - repaid,
        points_pending=F("points_pending") - activated_pending,
    )


@transaction.atomic
def points_activate_lot(*, lot_id: int, now: datetime) -> PointsEntry | None:
    """Make a pending lot's points available (an `accrual` entry); a second call does nothing."""
    lot = PointsLot.objects.select_related("entry").get(pk=lot_id)
    member = lock_member(member_id=lot.member_id)
    lot = PointsLot.objects.select_related("entry").get(pk=lot_id)  # re-read under the member lock
    if lot.is_active:
        return None
    kept, repaid = _repay_debt_first(member, lot.points)
    entry = _insert_entry(
        member=member,
        kind=Kind.ACCRUAL,
        delta=lot.points,
        balance_after=member.points_balance + kept,
        debt_after=member.points_debt - repaid,
        idempotency_key=f"activate:{lot.pk}",
        purchase_id=lot.entry.purchase_id,
        source=lot.entry.source,
        reason=lot.entry.reason,
        reason_texts=lot.entry.reason_texts,
        breakdown=lot.entry.breakdown,
        created_at=now,
    )
    PointsLot.objects.filter(pk=lot.pk).update(is_active=True, remaining=kept)
    _move_balance(member, kept=kept, repaid=repaid, activated_pending=lot.points)
    return entry


@transaction.atomic
def points_debit(
    *,
    member_id: int,
    points: int,
    kind: str = Kind.REDEMPTION,
    idempotency_key: str,
    now: datetime,
    allow_debt: bool = False,
    purchase_id: int | None = None,
    source: str = "",
    reason: str | Mapping[str, str] = "",
    breakdown: dict | None = None,
    created_by=None,
) -> PointsEntry:
    """Take points from a member, drawing from active lots soonest-expiring first.

    Only points not held for a checkout may be taken (members.services.holds). With allow_debt (refund
    claw-backs), holds are ignored and what the balance cannot cover becomes points_debt instead of a negative
    balance. `reason` as for points_credit. Raises InsufficientPoints, InvalidAmount, PointsAmountTooLarge,
    IdempotencyKeyReused.
    """
    _check_amount(points)
    member = lock_member(member_id=member_id)
    existing = _existing(idempotency_key=idempotency_key, member_id=member_id, kind=kind, delta=-points)
    if existing:
        return existing
    # Points held for a checkout are not the member's to spend elsewhere; a claw-back (allow_debt) ignores holds.
    if points > points_available(member) and not allow_debt:
        raise InsufficientPoints.for_field("points")

    taken = min(points, member.points_balance)
    owed = points - taken
    entry = _insert_entry(
        member=member,
        kind=kind,
        delta=-points,
        balance_after=member.points_balance - taken,
        debt_after=member.points_debt + owed,
        idempotency_key=idempotency_key,
        purchase_id=purchase_id,
        source=source,
        **_reason_fields(reason),
        breakdown=breakdown or {},
        created_by=created_by,
        created_at=now,
    )
    _draw_from_lots(member=member, entry=entry, points=taken)
    Member.objects.filter(pk=member.pk).update(
        points_balance=F("points_balance") - taken, points_debt=F("points_debt") + owed
    )
    return entry


@dataclass(frozen=True)
class PurchaseSpend:
    """The points a purchase spends, under the ledger entry's idempotency key, and why (kept on the entry)."""

    points: int
    key: str
    breakdown: dict = field(default_factory=dict)


@dataclass(frozen=True)
class PurchaseEarn:
    """The points a purchase earns, under the ledger entry's idempotency key: usable from `activates_at` (None: at
    once; later: pending until then), until `expires_at` (None: never), and why (kept on the entry)."""

    points: int
    key: str
    activates_at: datetime | None = None
    expires_at: datetime | None = None
    breakdown: dict = field(default_factory=dict)


NOTHING_SPENT = PurchaseSpend(points=0, key="")
NOTHING_EARNED = PurchaseEarn(points=0, key="")


@dataclass(frozen=True)
class PurchasePoints:
    """What `points_purchase_settle` wrote: the entries, the earned lot, the member's balances afterwards."""

    spend_entry: PointsEntry | None
    earn_entry: PointsEntry | None
    earn_lot: PointsLot | None
    points_balance: int
    points_debt: int


def points_purchase_settle(
    *,
    member: Member,
    purchase: Purchase,
    now: datetime,
    spend: PurchaseSpend = NOTHING_SPENT,
    earn: PurchaseEarn = NOTHING_EARNED,
) -> PurchasePoints:
    """Spend points on a new purchase and earn points from it; the same ledger as `points_debit(kind=redemption)`
    followed by `points_credit(kind=accrual)`.

    For checkout: the caller has locked `member` (lock_member) in the current transaction, so the row it holds
    is current, has just recorded `purchase` (purchase_record), and gives keys no entry holds yet (derived from
    that purchase); the unique keys stay the backstop (IdempotencyKeyReused). The spend
    draws from active lots soonest-expiring first; pending earnings (activating later) get a `pending` memo entry
    and an inactive lot, as with points_credit; debt is repaid first. On PostgreSQL it is one statement
    (data-modifying CTEs); elsewhere a few (both entries in one INSERT, one UPDATE of the lots, one of the member).
    Raises InsufficientPoints, InvalidAmount, PointsAmountTooLarge, PointsBalanceTooLarge, IdempotencyKeyReused.
    """
    spent, earned = spend.points, earn.points
    if spent:
        _check_amount(spent)
    if earned:
        _check_amount(earned)
    balance, debt = member.points_balance, member.points_debt
    if spent > points_available(member):  # a checkout's own hold is settled before its purchase spends
        raise InsufficientPoints.for_field("points")
    if earned:
        _check_ceiling(balance=balance - spent, pending=member.points_pending, points=earned)
    common = {"member": member, "purchase_id": purchase.pk, "created_at": now}
    spend_entry = earn_entry = None
    if spent:
        balance -= spent
        spend_entry = PointsEntry(
            kind=Kind.REDEMPTION, delta=-spent, balance_after=balance, debt_after=debt, idempotency_key=spend.key,
            source="checkout", breakdown=spend.breakdown, **common,
        )  # fmt: skip
    kept = repaid = pending = 0
    activates_at = earn.activates_at or now
    if earned:
        if activates_at > now:
            pending, kind = earned, Kind.PENDING
        else:
            repaid = min(debt, earned)
            kept, kind = earned - repaid, Kind.ACCRUAL
            balance, debt = balance + kept, debt - repaid
        earn_entry = PointsEntry(
            kind=kind, delta=earned, balance_after=balance, debt_after=debt, idempotency_key=earn.key,
            source="purchase", breakdown=earn.breakdown, **common,
        )  # fmt: skip
    earn_lot = None
    if earn_entry is not None:
        earn_lot = PointsLot(
            member=member, entry=earn_entry, points=earned, remaining=earned if pending else kept,
            is_active=not pending, activates_at=activates_at, expires_at=earn.expires_at,
        )  # fmt: skip
    moves = {"points_balance": kept - spent, "points_debt": -repaid, "points_pending": pending}
    if spend_entry is None and earn_entry is None:  # nothing spent, nothing earned: nothing to write
        return PurchasePoints(
            spend_entry=None, earn_entry=None, earn_lot=None, points_balance=balance, points_debt=debt
        )
    write = sql.points_settle if set_based() else _settle_orm
    with transaction.atomic(savepoint=False):
        try:
            write(member=member, spend_entry=spend_entry, earn_entry=earn_entry, earn_lot=earn_lot,
                  spend=spent, moves=moves)  # fmt: skip
        except IntegrityError as exc:  # a key already written: the caller's keys were not new
            raise IdempotencyKeyReused() from exc
    return PurchasePoints(
        spend_entry=spend_entry, earn_entry=earn_entry, earn_lot=earn_lot, points_balance=balance, points_debt=debt
    )


def _settle_orm(*, member, spend_entry, earn_entry, earn_lot, spend, moves):
    PointsEntry.objects.bulk_create([entry for entry in (spend_entry, earn_entry) if entry is not None])
    if spend_entry is not None:
        _draw_from_lots_at_once(member=member, entry=spend_entry, points=spend)
    if earn_lot is not None:
        earn_lot.entry = earn_entry  # its id is known now
        PointsLot.objects.bulk_create([earn_lot])
    updates = {name: F(name) + delta for name, delta in moves.items() if delta}
    if updates:
        Member.objects.filter(pk=member.pk).update(**updates)


def _draw_from_lots_at_once(*, member, entry, points):
    """Draw `points` from the member's active lots, soonest expiry first: one read, one UPDATE, one INSERT."""
    lots = (
        PointsLot.objects.filter(member=member, is_active=True, remaining__gt=0)
        .order_by(F("expires_at").asc(nulls_last=True), "pk")
        .values_list("pk", "remaining")
    )
    takes, left, start, page = {}, points, 0, 50
    while left:  # pages instead of iterator(): a server-side cursor costs three round trips on PostgreSQL
        rows = list(lots[start : start + page])
        for lot_id, remaining in rows:
            takes[lot_id] = min(remaining, left)
            left -= takes[lot_id]
            if not left:
                break
        if len(rows) < page:
            break
        start, page = start + page, 500
    if left:  # the lots disagree with the cached balance: refuse rather than write a broken ledger
        raise InsufficientPoints.for_field("points", "ledger lots do not cover the balance")
    if len(takes) == 1:
        ((lot_id, take),) = takes.items()
        PointsLot.objects.filter(pk=lot_id).update(remaining=F("remaining") - take)
    else:
        PointsLot.objects.filter(pk__in=list(takes)).update(
            remaining=Case(
                *(When(pk=lot_id, then=F("remaining") - take) for lot_id, take in takes.items()),
                default=F("remaining"),
                output_field=PositiveIntegerField(),
            )
        )
    PointsAllocation.objects.bulk_create(
        PointsAllocation(entry=entry, lot_id=lot_id, points=take) for lot_id, take in takes.items()
    )


def _draw_from_lots(*, member, entry, points):
    if not points:
        return
    lots = (
        PointsLot.objects.filter(member=member, is_active=True, remaining__gt=0)
        .order_by(F("expires_at").asc(nulls_last=True), "pk")
        .only("pk", "remaining")
    )
    allocations = []
    left = points
    for lot in lots.iterator(chunk_size=200):
        take = min(lot.remaining, left)
        allocations.append(PointsAllocation(entry=entry, lot_id=lot.pk, points=take))
        PointsLot.objects.filter(pk=lot.pk).update(remaining=F("remaining") - take)
        left -= take
        if not left:
            break
    if left:  # the lots disagree with the cached balance: refuse rather than write a broken ledger
        raise InsufficientPoints.for_field("points", "ledger lots do not cover the balance")
    PointsAllocation.objects.bulk_create(allocations)


def points_adjust(
    *, member_id: int, points: int, reason: str, created_by, idempotency_key: str, now: datetime
) -> PointsEntry:
    """Add (points > 0) or remove (points < 0) points by hand; the reason and the staff user are kept.

    Raises ReasonRequired, InsufficientPoints, InvalidAmount, PointsAmountTooLarge, PointsBalanceTooLarge.
    """
    if not (reason or "").strip():
        raise ReasonRequired.for_field("reason")
    if points > 0:
        return points_credit(
            member_id=member_id,
            points=points,
            kind=Kind.ADDITION,
            idempotency_key=idempotency_key,
            now=now,
            source="console",
            reason=reason.strip(),
            created_by=created_by,
        )
    return points_debit(
        member_id=member_id,
        points=-points,
        kind=Kind.REMOVAL,
        idempotency_key=idempotency_key,
        now=now,
        source="console",
        reason=reason.strip(),
        created_by=created_by,
    )


def points_ledger_drift(*, member_ids=None) -> list[LedgerDrift]:
    """Return every member whose cached balance disagrees with its entries or its lots (set-based)."""
    from django.db.models import OuterRef, Subquery, Sum

    entries = (
        PointsEntry.objects.filter(member=OuterRef("pk"))
        .exclude(kind=Kind.PENDING)
        .values("member")
        .annotate(total=Sum("delta"))
        .values("total")
    )
    lots = (
        PointsLot.objects.filter(member=OuterRef("pk"), is_active=True)
        .values("member")
        .annotate(total=Sum("remaining"))
        .values("total")
    )
    members = Member.objects.annotate(
        entries_sum=Coalesce(Subquery(entries), 0), active_lots_sum=Coalesce(Subquery(lots), 0)
    ).filter(~Q(entries_sum=F("points_balance") - F("points_debt")) | ~Q(active_lots_sum=F("points_balance")))
    if member_ids is not None:
        members = members.filter(pk__in=member_ids)
    return [
        LedgerDrift(m.pk, m.points_balance, m.points_debt, m.entries_sum, m.active_lots_sum)
        for m in members.order_by("pk")
    ]


@transaction.atomic
def points_credit_openings(
    *,
    openings: list[tuple[int, int, str]],
    now: datetime,
    expires_at: datetime | None = None,
    source: str = "import",
    reason: str = "",
    created_by=None,
    skip_written: bool = False,
) -> int:
    """Credit opening balances to many members at once: (member_id, points, idempotency_key) triples.

    The bulk twin of `points_credit(kind="opening")` for imports, with the same invariants: members are
    locked in primary-key order; each credit is one `opening` entry plus one active lot; debt is repaid
    first; balances move by F() updates; a key already written for the same member, kind and points is
    skipped (so a re-run writes nothing twice). With skip_written, any key already written is skipped
    whatever it recorded (an import writes a member's opening balance once, never again, even when a
    later file carries another figure). `reason` is one text for every entry (the system's own as its msgid, shown
    translated; no languages are written: the bulk statements leave `reason_texts` NULL). Returns the number of
    entries written.
    Raises InvalidAmount, PointsAmountTooLarge, PointsBalanceTooLarge, IdempotencyKeyReused, ValueError (a member
    or key listed twice).
    """
    if not openings:
        return 0
    for _member_id, points, _key in openings:
        _check_amount(points)
    member_ids = [member_id for member_id, _points, _key in openings]
    keys = [key for _member_id, _points, key in openings]
    if len(set(member_ids)) != len(member_ids) or len(set(keys)) != len(keys):
        raise ValueError("points_credit_openings takes each member and each key once")
    balances = {
        member_id: (balance, debt, pending)
        for member_id, balance, debt, pending in Member.objects.select_for_update()
        .filter(field_in(Member, "id", member_ids))
        .order_by("pk")
        .values_list("pk", "points_balance", "points_debt", "points_pending")
    }
    if len(balances) != len(member_ids):
        raise NotFound()
    existing = {
        key: (member_id, kind, delta)
        for key, member_id, kind, delta in PointsEntry.objects.filter(
            field_in(PointsEntry, "idempotency_key", keys)
        ).values_list("idempotency_key", "member_id", "kind", "delta")
    }
    credits = []  # (member_id, points, key, balance after, debt after, kept, repaid)
    for member_id, points, key in openings:
        if key in existing:
            if not skip_written and existing[key] != (member_id, Kind.OPENING, points):
                raise IdempotencyKeyReused()
            continue
        balance, debt, pending = balances[member_id]
        _check_ceiling(balance=balance, pending=pending, points=points)
        repaid = min(debt, points)
        kept = points - repaid
        credits.append((member_id, points, key, balance + kept, debt - repaid, kept, repaid))
    if not credits:
        return 0
    fields = {"source": source, "reason": reason, "created_by": created_by, "now": now, "expires_at": expires_at}
    try:
        with transaction.atomic():
            if set_based():
                sql.points_openings_insert(credits, **fields)
            else:
                _insert_openings_orm(credits, **fields)
    except IntegrityError as exc:  # a key taken between the read above and the insert
        raise IdempotencyKeyReused() from exc
    _move_balances([(member_id, kept, repaid) for member_id, *_rest, kept, repaid in credits])
    return len(credits)


def _insert_openings_orm(credits, *, source, reason, created_by, now, expires_at):
    entries = PointsEntry.objects.bulk_create(
        PointsEntry(
            member_id=member_id, kind=Kind.OPENING, delta=points, balance_after=balance_after, debt_after=debt_after,
            idempotency_key=key, source=source, reason=reason, created_by=created_by, created_at=now,
        )
        for member_id, points, key, balance_after, debt_after, _kept, _repaid in credits
    )  # fmt: skip
    PointsLot.objects.bulk_create(
        PointsLot(
            member_id=member_id, entry=entry, points=points, remaining=kept, is_active=True, activates_at=now,
            expires_at=expires_at,
        )
        for entry, (member_id, points, _key, _balance, _debt, kept, _repaid) in zip(entries, credits, strict=True)
    )  # fmt: skip


def _move_balances(moves):
    """Add `kept` to points_balance and take `repaid` from points_debt of each (member_id, kept, repaid).

    PostgreSQL: one relative UPDATE ... FROM UNNEST(...) (members/sql.py). Elsewhere (the reference): one relative
    F() update per distinct (kept, repaid) pair, for all the members it moves. The same effect as one F() update per
    member, without a CASE per row that bulk_update would build.
    """
    if set_based():
        sql.points_balances_move(moves)
        return
    members_by_move = {}
    for member_id, kept, repaid in moves:
        members_by_move.setdefault((kept, repaid), []).append(member_id)
    for (kept, repaid), member_ids in members_by_move.items():
        Member.objects.filter(pk__in=member_ids).update(
            points_balance=F("points_balance") + kept, points_debt=F("points_debt") - repaid
        )


@transaction.atomic
def points_cancel_pending(
    *,
    lot_id: int,
    points: int,
    idempotency_key: str,
    now: datetime,
    purchase_id: int | None = None,
    source: str = "",
    reason: str | Mapping[str, str] = "",
    breakdown: dict | None = None,
) -> PointsEntry:
    """Cancel points of a pending (not yet active) lot, e.g. when the purchase that earned them is refunded.

    Writes a negative `pending` memo entry (pending entries do not count in the balance) and lowers the
    lot and points_pending. A lot cancelled to zero is closed (active, nothing left) so it never activates.
    Raises InvalidAmount, InsufficientPoints (the lot is active or has fewer points), IdempotencyKeyReused.
    """
    _check_amount(points)
    member_id = PointsLot.objects.filter(pk=lot_id).values_list("member_id", flat=True).first()
    if member_id is None:
        raise NotFound()
    member = lock_member(member_id=member_id)
    existing = _existing(idempotency_key=idempotency_key, member_id=member_id, kind=Kind.PENDING, delta=-points)
    if existing:
        return existing
    lot = PointsLot.objects.get(pk=lot_id)
    if lot.is_active or points > lot.remaining:
        raise InsufficientPoints.for_field("points", "the lot is no longer pending or has fewer points")
    entry = _insert_entry(
        member=member,
        kind=Kind.PENDING,
        delta=-points,
        balance_after=member.points_balance,
        debt_after=member.points_debt,
        idempotency_key=idempotency_key,
        purchase_id=purchase_id,
        source=source,
        **_reason_fields(reason),
        breakdown=breakdown or {},
        created_at=now,
    )
    closed = lot.points == points
    PointsLot.objects.filter(pk=lot.pk).update(
        points=F("points") - points, remaining=F("remaining") - points, is_active=closed
    )
    Member.objects.filter(pk=member.pk).update(points_pending=F("points_pending") - points)
    return entry


@transaction.atomic
def points_expire_due_lots(*, now: datetime, member_ids: list[int]) -> int:
    """Expire every available lot of these members whose expiry has passed, set-based; return how many lots.

    The scheduled expiry: the members are locked in primary-key order, then a few statements write one
    `expiration` entry per lot (key `expire:<lot>`, balance_after running per member in expiry order), its
    allocation, empty the lots and lower each balance by what expired (debt untouched: expiry only takes what the
    lots hold). A lot emptied once is never due again, so a second run writes nothing; a key already taken (a lot
    expired twice) aborts the chunk. Pending lots are left alone.
    """
    member_ids = sorted(set(member_ids))
    if not member_ids:
        return 0
    # The id range beside the list lets the planner lock the chunk through the primary key instead of
    # scanning and sorting the whole members table.
    list(
        Member.objects.select_for_update()
        .filter(field_in(Member, "id", member_ids), pk__gte=member_ids[0], pk__lte=member_ids[-1])
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    if set_based():
        return sql.points_expire_due(now=now, member_ids=member_ids)
    return _expire_due_lots_orm(now=now, member_ids=member_ids)


def _expire_due_lots_orm(*, now, member_ids) -> int:
    """The portable path (SQLite): a handful of bulk statements per chunk, balances computed in Python."""
    balances = dict(Member.objects.filter(pk__in=member_ids).values_list("pk", "points_balance"))
    debts = dict(Member.objects.filter(pk__in=member_ids).values_list("pk", "points_debt"))
    due = list(
        PointsLot.objects.filter(member_id__in=member_ids, is_active=True, remaining__gt=0, expires_at__lte=now)
        .order_by("member_id", "expires_at", "pk")
        .values_list("pk", "member_id", "remaining", "expires_at")
    )
    if not due:
        return 0
    rows, expired = [], {}
    for lot_id, member_id, remaining, _expires_at in due:
        expired[member_id] = expired.get(member_id, 0) + remaining
        rows.append(
            PointsEntry(
                member_id=member_id,
                kind=Kind.EXPIRATION,
                delta=-remaining,
                balance_after=balances[member_id] - expired[member_id],
                debt_after=debts[member_id],
                idempotency_key=f"expire:{lot_id}",
                source="expiry",
                breakdown={"lot_id": lot_id},
                created_at=now,
            )
        )
    entries = PointsEntry.objects.bulk_create(rows)
    PointsAllocation.objects.bulk_create(
        PointsAllocation(entry_id=entry.pk, lot_id=lot_id, points=remaining)
        for entry, (lot_id, _member_id, remaining, _expires_at) in zip(entries, due, strict=True)
    )
    PointsLot.objects.filter(pk__in=[lot_id for lot_id, *_rest in due]).update(remaining=0)
    _move_balances([(member_id, -points, 0) for member_id, points in sorted(expired.items())])
    return len(due)

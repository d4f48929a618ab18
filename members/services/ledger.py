"""The points ledger: credit, debit and adjust, keeping the invariant

    sum(delta of entries other than `pending`) == points_balance - points_debt

and, for lots, sum(remaining of active lots) == points_balance. Every writer locks the member row first,
so concurrent writers of one member serialise; the idempotency key (unique in the database) makes a
retried call return the first entry instead of writing a second one.
"""

from dataclasses import dataclass
from datetime import datetime

from django.db import IntegrityError, connection, transaction
from django.db.models import F, Q
from django.db.models.functions import Coalesce

from members.errors import IdempotencyKeyReused, InsufficientPoints, InvalidAmount, NotFound, ReasonRequired
from members.models import Member, PointsAllocation, PointsEntry, PointsLot
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
        raise InvalidAmount(fields={"points": [str(InvalidAmount.message)]})


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
    reason: str = "",
    breakdown: dict | None = None,
    created_by=None,
) -> PointsEntry:
    """Add points to a member: a new lot, debt repaid first.

    Points that activate later are recorded as a `pending` memo entry with an inactive lot;
    `points_activate_lot` moves them into the balance. Raises InvalidAmount, IdempotencyKeyReused.
    """
    _check_amount(points)
    activates_at = activates_at or now
    is_pending = activates_at > now
    entry_kind = Kind.PENDING if is_pending else kind
    member = lock_member(member_id=member_id)
    existing = _existing(idempotency_key=idempotency_key, member_id=member_id, kind=entry_kind, delta=points)
    if existing:
        return existing

    if is_pending:
        entry = _insert_entry(
            member=member,
            kind=entry_kind,
            delta=points,
            balance_after=member.points_balance,
            debt_after=member.points_debt,
            idempotency_key=idempotency_key,
            purchase_id=purchase_id,
            source=source,
            reason=reason,
            breakdown=breakdown or {},
            created_by=created_by,
            created_at=now,
        )
        PointsLot.objects.create(
            member=member,
            entry=entry,
            points=points,
            remaining=points,
            is_active=False,
            activates_at=activates_at,
            expires_at=expires_at,
        )
        Member.objects.filter(pk=member.pk).update(points_pending=F("points_pending") + points)
        return entry

    repaid = min(member.points_debt, points)
    kept = points - repaid
    entry = _insert_entry(
        member=member,
        kind=entry_kind,
        delta=points,
        balance_after=member.points_balance + kept,
        debt_after=member.points_debt - repaid,
        idempotency_key=idempotency_key,
        purchase_id=purchase_id,
        source=source,
        reason=reason,
        breakdown=breakdown or {},
        created_by=created_by,
        created_at=now,
    )
    PointsLot.objects.create(
        member=member,
        entry=entry,
        points=points,
        remaining=kept,
        is_active=True,
        activates_at=activates_at,
        expires_at=expires_at,
    )
    Member.objects.filter(pk=member.pk).update(
        points_balance=F("points_balance") + kept, points_debt=F("points_debt") - repaid
    )
    return entry


@transaction.atomic
def points_activate_lot(*, lot_id: int, now: datetime) -> PointsEntry | None:
    """Make a pending lot's points available (an `accrual` entry); a second call does nothing."""
    lot = PointsLot.objects.select_related("entry").get(pk=lot_id)
    member = lock_member(member_id=lot.member_id)
    lot = PointsLot.objects.select_related("entry").get(pk=lot_id)  # re-read under the member lock
    if lot.is_active:
        return None
    repaid = min(member.points_debt, lot.points)
    kept = lot.points - repaid
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
        breakdown=lot.entry.breakdown,
        created_at=now,
    )
    PointsLot.objects.filter(pk=lot.pk).update(is_active=True, remaining=kept)
    Member.objects.filter(pk=member.pk).update(
        points_balance=F("points_balance") + kept,
        points_debt=F("points_debt") - repaid,
        points_pending=F("points_pending") - lot.points,
    )
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
    reason: str = "",
    breakdown: dict | None = None,
    created_by=None,
) -> PointsEntry:
    """Take points from a member, drawing from active lots soonest-expiring first.

    With allow_debt (refund claw-backs), what the balance cannot cover becomes points_debt instead
    of a negative balance. Raises InsufficientPoints, InvalidAmount, IdempotencyKeyReused.
    """
    _check_amount(points)
    member = lock_member(member_id=member_id)
    existing = _existing(idempotency_key=idempotency_key, member_id=member_id, kind=kind, delta=-points)
    if existing:
        return existing
    if points > member.points_balance and not allow_debt:
        raise InsufficientPoints(fields={"points": [str(InsufficientPoints.message)]})

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
        reason=reason,
        breakdown=breakdown or {},
        created_by=created_by,
        created_at=now,
    )
    _draw_from_lots(member=member, entry=entry, points=taken)
    Member.objects.filter(pk=member.pk).update(
        points_balance=F("points_balance") - taken, points_debt=F("points_debt") + owed
    )
    return entry


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
        raise InsufficientPoints(fields={"points": ["ledger lots do not cover the balance"]})
    PointsAllocation.objects.bulk_create(allocations)


def points_adjust(
    *, member_id: int, points: int, reason: str, created_by, idempotency_key: str, now: datetime
) -> PointsEntry:
    """Add (points > 0) or remove (points < 0) points by hand; the reason and the staff user are kept.

    Raises ReasonRequired, InsufficientPoints, InvalidAmount.
    """
    if not (reason or "").strip():
        raise ReasonRequired(fields={"reason": [str(ReasonRequired.message)]})
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
) -> int:
    """Credit opening balances to many members at once: (member_id, points, idempotency_key) triples.

    The bulk twin of `points_credit(kind="opening")` for imports, with the same invariants: members are
    locked in primary-key order; each credit is one `opening` entry plus one active lot; debt is repaid
    first; balances move by F() updates; a key already written for the same member, kind and points is
    skipped (so a re-run writes nothing twice). Returns the number of entries written.
    Raises InvalidAmount, IdempotencyKeyReused, ValueError (a member or key listed twice).
    """
    if not openings:
        return 0
    for _member_id, points, _key in openings:
        _check_amount(points)
    member_ids = [member_id for member_id, _points, _key in openings]
    keys = [key for _member_id, _points, key in openings]
    if len(set(member_ids)) != len(member_ids) or len(set(keys)) != len(keys):
        raise ValueError("points_credit_openings takes each member and each key once")
    members = {
        member.pk: member
        for member in Member.objects.select_for_update()
        .filter(pk__in=member_ids)
        .order_by("pk")
        .only("pk", "points_balance", "points_debt")
    }
    if len(members) != len(member_ids):
        raise NotFound()
    existing = {
        key: (member_id, kind, delta)
        for key, member_id, kind, delta in PointsEntry.objects.filter(idempotency_key__in=keys).values_list(
            "idempotency_key", "member_id", "kind", "delta"
        )
    }
    entries, lots, moved = [], [], []
    for member_id, points, key in openings:
        if key in existing:
            if existing[key] != (member_id, Kind.OPENING, points):
                raise IdempotencyKeyReused()
            continue
        member = members[member_id]
        repaid = min(member.points_debt, points)
        kept = points - repaid
        entries.append(
            PointsEntry(
                member_id=member_id, kind=Kind.OPENING, delta=points, balance_after=member.points_balance + kept,
                debt_after=member.points_debt - repaid, idempotency_key=key, source=source, reason=reason,
                created_by=created_by, created_at=now,
            )
        )
        lots.append((member_id, points, kept))
        moved.append((member_id, kept, repaid))
    try:
        with transaction.atomic():
            PointsEntry.objects.bulk_create(entries)
    except IntegrityError as exc:  # a key taken between the read above and the insert
        raise IdempotencyKeyReused() from exc
    PointsLot.objects.bulk_create(
        PointsLot(
            member_id=member_id, entry=entry, points=points, remaining=kept, is_active=True, activates_at=now,
            expires_at=expires_at,
        )
        for entry, (member_id, points, kept) in zip(entries, lots, strict=True)
    )
    _move_balances(moved)
    return len(entries)


def _move_balances(moves):
    """Add `kept` to points_balance and take `repaid` from points_debt of each (member_id, kept, repaid).

    One relative UPDATE ... FROM (VALUES ...) per 300 members (PostgreSQL, SQLite >= 3.33): the same
    effect as one F() update per member, without a CASE per row that bulk_update would build.
    """
    if connection.vendor not in ("postgresql", "sqlite"):
        for member_id, kept, repaid in moves:
            Member.objects.filter(pk=member_id).update(
                points_balance=F("points_balance") + kept, points_debt=F("points_debt") - repaid
            )
        return
    table = connection.ops.quote_name(Member._meta.db_table)
    row = "(%s::bigint, %s::integer, %s::integer)" if connection.vendor == "postgresql" else "(%s, %s, %s)"
    with connection.cursor() as cursor:
        for start in range(0, len(moves), 300):
            chunk = moves[start : start + 300]
            cursor.execute(
                f"UPDATE {table} SET points_balance = {table}.points_balance + v.column2, "  # noqa: S608
                f"points_debt = {table}.points_debt - v.column3 "
                f"FROM (VALUES {', '.join([row] * len(chunk))}) AS v WHERE {table}.id = v.column1",
                [value for move in chunk for value in move],
            )

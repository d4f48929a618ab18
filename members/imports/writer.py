"""Write one chunk of validated rows; the caller holds the transaction, so a row's member, tags and
opening balance commit together (or not at all).

Per chunk: one locking read of the members the phones already belong to, one read of the opening
balances already written, one read (+ one insert when new) of the tags, one statement for the new members
(with their history rows, tag links, opening entries and lots, and the tier history of those the file put in
another tier than the entry tier), one for the changed ones (with their history rows), one insert of the
existing members' tag links and of the tier history of the tiers it changed, and the ledger's bulk opening credit
for existing members whose opening balance is not written yet (normally none).

On PostgreSQL every write is one statement per table and chunk (members/sql.py): INSERT ... SELECT FROM
UNNEST(typed arrays) RETURNING ..., UPDATE ... FROM UNNEST(...) RETURNING ..., chained by data-modifying WITH
clauses, the history rows copied from the rows the INSERT or UPDATE returns. Django's bulk_create/bulk_update and
simple-history's bulk history prepare every value of every object in Python (most of the import's time); typed
arrays leave that to the server. Every other database takes the portable ORM path (bulk_create, bulk_update,
`bulk_history_create`), which is the reference: tests/members/test_bulk_sql_equivalence.py runs both on PostgreSQL
and compares the rows they write, history included.

Opening balances of new members: a member created here has no balance, no debt and no entries, so the
ledger's opening credit reduces to what this module writes in the same statement as the member: the
member row carries points_balance = the opening points (debt 0), one `opening` entry (delta = balance
after = the points, debt after 0, the key opening:<phone>) and one active lot holding all of them. That
keeps the ledger's invariant (sum of entries = balance - debt) without the second pass that would lock,
read and update every new member again. An opening key already written (by a member who held the phone
before) is skipped, as the ledger's skip_written does. Members that existed before the chunk go through
members.services.ledger.points_credit_openings (locks, debt repaid first).
"""

import dataclasses
from dataclasses import dataclass
from datetime import datetime

from django.utils.translation import gettext_noop

from infra.bulk_sql import field_in, set_based
from members import sql
from members.formats import new_member_number
from members.imports.columns import CONSENT_COLUMNS
from members.imports.scope import ImportScope
from members.imports.validation import RowError
from members.models import Member, PointsEntry, PointsLot, Tag, Tier, TierHistory
from members.services.ledger import points_credit_openings
from members.services.lot_expiry import lot_expires_at
from members.services.tiers import tier_changes_announce

OPENING_SOURCE = "import"  # an import job's openings: "import:<job id>"
OPENING_KEY_PREFIX = "opening:"

# The import's own text, kept as its msgid: the points ledger shows the opening entries' reason translated.
CHANGE_REASON = gettext_noop("CSV import")
# The member fields a row may set (MemberRow.values keys) and those a visitor's joining by import sets.
IMPORT_FIELDS = ("name", "gender", "birthday", "email", "locale", "tier_id", "home_store_id", *CONSENT_COLUMNS)
JOIN_FIELDS = ("status", "join_source", "joined_at", "tier_id")
CONSENT_FIELDS = frozenset(CONSENT_COLUMNS)


@dataclass
class ChunkResult:
    created: int = 0
    updated: int = 0
    openings: int = 0
    errors: list = dataclasses.field(default_factory=list)  # RowErrors of rows refused while writing


@dataclass(frozen=True)
class ImportContext:
    """What stays the same for every chunk of one import."""

    now: datetime
    user: object = None
    entry_tier_id: int | None = None
    opening_expires_at: datetime | None = None
    scope: ImportScope = ImportScope()
    # Kept on what the import writes for the audit: tier history notes (the job's number after CHANGE_REASON) and
    # the opening entries' source (their reason is CHANGE_REASON, which every reader sees in their language).
    reason: str = CHANGE_REASON
    opening_source: str = OPENING_SOURCE

    @classmethod
    def build(cls, *, now, user=None, scope=None, job_id=None):
        return cls(
            now=now,
            user=user,
            entry_tier_id=Tier.objects.order_by("rank").values_list("pk", flat=True).first(),
            opening_expires_at=lot_expires_at(earned_at=now),
            scope=scope or ImportScope(),
            reason=f"{CHANGE_REASON} #{job_id}" if job_id else CHANGE_REASON,
            opening_source=f"{OPENING_SOURCE}:{job_id}" if job_id else OPENING_SOURCE,
        )


def opening_key(phone: str) -> str:
    return OPENING_KEY_PREFIX + phone


def allocate_member_numbers(count: int) -> list[str]:
    """Return `count` fresh member numbers, unique among themselves and in the database (one query a round)."""
    numbers: set[str] = set()
    while len(numbers) < count:
        batch = {new_member_number() for _ in range(count - len(numbers))} - numbers
        taken = set(
            Member.objects.filter(field_in(Member, "member_number", batch)).values_list("member_number", flat=True)
        )
        numbers |= batch - taken
    return list(numbers)


def write_chunk(rows, *, context: ImportContext) -> ChunkResult:
    """Upsert the members of `rows` (valid MemberRows, distinct phones) with their tags and opening balances."""
    result = ChunkResult()
    if not rows:
        return result
    existing = _lock_existing([row.phone for row in rows])
    rows = _within_scope(rows, existing, context=context, errors=result.errors)
    if not rows:
        return result
    written = _written_openings(rows)
    tag_ids = _tag_ids(rows)
    member_ids = {phone: current["id"] for phone, current in existing.items()}
    new_rows = [row for row in rows if row.phone not in existing]
    if new_rows:
        # phone -> opening points credited with the new member (its key not written before)
        openings = {
            row.phone: row.opening_points
            for row in new_rows
            if row.opening_points and opening_key(row.phone) not in written
        }
        insert = _insert_members_set_based if set_based() else _insert_members_orm
        member_ids |= insert(new_rows, openings=openings, tag_ids=tag_ids, context=context)
        result.openings = len(openings)

    tier_moves = []  # of the members that existed (the insert wrote the new members' first tier)
    changed, changed_fields = _changes(rows, existing, context=context, tier_moves=tier_moves)
    if changed:
        _update_members(changed, sorted({*changed_fields, "updated_at"}), context=context)
    _record_tier_moves(tier_moves, context=context)
    result.created, result.updated = len(new_rows), len(existing)

    old_rows = [row for row in rows if row.phone in existing]
    _add_tags(old_rows, member_ids, tag_ids)
    old_rows = [row for row in old_rows if opening_key(row.phone) not in written]
    result.openings += _credit_openings(old_rows, member_ids, context=context)
    return result


def _within_scope(rows, existing, *, context, errors):
    """Return the rows the import's scope may write, appending a RowError for each other one.

    Asked under the members' locks (`existing` is what _lock_existing read), so a member moved to another
    store, or created there, since the file was validated is refused too. A new member of a store-scoped
    import gets the importer's store when its row names none. Drops the refused members from `existing`.
    """
    scope = context.scope
    if scope.is_all_stores:
        return rows
    kept = []
    for row in rows:
        current = existing.get(row.phone)
        refusal = scope.member_refusal(current["home_store_id"]) if current is not None else None
        if refusal is not None:
            errors.append(RowError(row.row, "phone", refusal))
            del existing[row.phone]
        elif refusal := scope.store_refusal(row.values.get("home_store_id")):
            errors.append(RowError(row.row, "store", refusal))
            existing.pop(row.phone, None)
        else:
            if current is None:
                row.values.setdefault("home_store_id", scope.store_id)
            kept.append(row)
    return kept


def _tier_move(*, member_id, old_tier_id, new_tier_id, context):
    """The tier history row of a tier a file set: the record a manual override leaves (reason, note, staff user),
    so a tier set by import is seen in the member's tier history."""
    return TierHistory(
        member_id=member_id, old_tier_id=old_tier_id, new_tier_id=new_tier_id, reason=TierHistory.Reason.OVERRIDE,
        note=context.reason, created_by=context.user, created_at=context.now,
    )  # fmt: skip


def _first_tiers_orm(created, *, context):
    """Write the tier history of the new `created` members whose row put them in another tier than the entry tier."""
    TierHistory.objects.bulk_create(
        _tier_move(member_id=member.pk, old_tier_id=None, new_tier_id=member.tier_id, context=context)
        for member in created
        if member.tier_id != context.entry_tier_id
    )


def _record_tier_moves(moves, *, context):
    """Write the tier history of the tiers a file changed ((member id, old tier id, new tier id) triples); the
    members who moved are told and announced like any tier move."""
    if not moves:
        return
    TierHistory.objects.bulk_create(
        _tier_move(member_id=member_id, old_tier_id=old_tier_id, new_tier_id=new_tier_id, context=context)
        for member_id, old_tier_id, new_tier_id in moves
    )
    tier_changes_announce(
        changes=[
            (member_id, old_tier_id, new_tier_id, TierHistory.Reason.OVERRIDE)
            for member_id, old_tier_id, new_tier_id in moves
            if old_tier_id is not None  # a member's first tier is no move (a member without one before)
        ],
        now=context.now,
    )


def _written_openings(rows):
    """Return the opening keys, among those of `rows` with opening points, that are already written."""
    keys = [opening_key(row.phone) for row in rows if row.opening_points]
    if not keys:
        return set()
    return set(
        PointsEntry.objects.filter(field_in(PointsEntry, "idempotency_key", keys)).values_list(
            "idempotency_key", flat=True
        )
    )


# Read back by _lock_existing only to be written again unchanged (never compared): on PostgreSQL as text.
CARRIED_TIMESTAMPS = ("joined_at", "consent_updated_at")


def _lock_existing(phones):
    """Lock the members holding `phones` (primary-key order) and return phone -> their current field values."""
    names = ("id", "phone", *IMPORT_FIELDS, *JOIN_FIELDS[:2], *CARRIED_TIMESTAMPS)
    if set_based():
        rows = sql.import_members_lock(phones=phones, names=names, as_text=CARRIED_TIMESTAMPS)
    else:
        rows = (
            Member.objects.select_for_update()
            .filter(field_in(Member, "phone", phones))
            .order_by("pk")
            .values_list(*names)
        )
    return {values[1]: dict(zip(names, values, strict=True)) for values in rows}


def _changes(rows, existing, *, context, tier_moves):
    """Return (the changed members as dicts of their new field values, the names of the fields changed).

    Appends (member id, old tier id, new tier id) to `tier_moves` for each tier a row changes.
    """
    now = context.now
    changed, changed_fields = [], set()
    for row in rows:
        current = existing.get(row.phone)
        if current is None:
            continue
        fields = [name for name, value in row.values.items() if current[name] != value]
        if "tier_id" in fields:
            tier_moves.append((current["id"], current["tier_id"], row.values["tier_id"]))
        for name in fields:
            current[name] = row.values[name]
        if not CONSENT_FIELDS.isdisjoint(fields):
            current["consent_updated_at"] = now
            fields.append("consent_updated_at")
        if current["status"] == Member.Status.VISITOR:  # the merchant vouches for this phone: it joins by import
            current["status"] = Member.Status.ACTIVE
            current["join_source"] = current["join_source"] or Member.JoinSource.IMPORT
            current["joined_at"] = current["joined_at"] or now
            current["tier_id"] = current["tier_id"] or context.entry_tier_id
            fields.extend(JOIN_FIELDS)
        if fields:
            current["updated_at"] = now
            changed.append(current)
            changed_fields.update(fields)
    return changed, changed_fields


def _insert_members_orm(rows, *, openings, tag_ids, context):
    """Create the members of `rows` with bulk_create, their history rows, tags and opening balances;
    return phone -> id."""
    now = context.now
    created = []
    for row, number in zip(rows, allocate_member_numbers(len(rows)), strict=True):
        member = Member(
            member_number=number, phone=row.phone, status=Member.Status.ACTIVE,
            join_source=Member.JoinSource.IMPORT, joined_at=now, points_balance=openings.get(row.phone, 0),
            **{"tier_id": context.entry_tier_id, **row.values},
        )  # fmt: skip
        if not CONSENT_FIELDS.isdisjoint(row.values):
            member.consent_updated_at = now
        created.append(member)
    Member.objects.bulk_create(created, batch_size=1000)
    member_ids = {member.phone: member.pk for member in created}
    _write_history(list(member_ids.values()), update=False, context=context)
    _first_tiers_orm(created, context=context)
    _add_tags(rows, member_ids, tag_ids)
    _insert_openings_orm(openings, member_ids, context=context)
    return member_ids


def _insert_openings_orm(openings, member_ids, *, context):
    """Write the opening entries and lots of new members (phone -> points) with bulk_create."""
    if not openings:
        return
    entries = PointsEntry.objects.bulk_create(
        _opening_entry(member_id=member_ids[phone], points=points, phone=phone, context=context)
        for phone, points in openings.items()
    )
    PointsLot.objects.bulk_create(
        _opening_lot(member_id=entry.member_id, entry_id=entry.pk, points=entry.delta, context=context)
        for entry in entries
    )


def _opening_entry(*, member_id, points, phone, context):
    """The `opening` entry of a new member (no balance, no debt before it)."""
    return PointsEntry(
        member_id=member_id, kind=PointsEntry.Kind.OPENING, delta=points, balance_after=points, debt_after=0,
        idempotency_key=opening_key(phone), source=context.opening_source, reason=CHANGE_REASON,
        created_by=context.user, created_at=context.now,
    )  # fmt: skip


def _opening_lot(*, member_id, entry_id, points, context):
    """The active lot of a new member's opening entry, holding all its points."""
    return PointsLot(
        member_id=member_id, entry_id=entry_id, points=points, remaining=points, is_active=True,
        activates_at=context.now, expires_at=context.opening_expires_at,
    )  # fmt: skip


def _member_columns(rows, *, openings, context):
    """Return (field by attname, the value of each field a bulk_create would write, column values per row).

    The columns a row may set get one list each, in row order (the field's default where a cell was
    empty), member_number's is None (drawn by the caller); every other field takes its constant value.
    """
    now = context.now
    template = Member(
        status=Member.Status.ACTIVE, join_source=Member.JoinSource.IMPORT, joined_at=now,
        tier_id=context.entry_tier_id,
    )  # fmt: skip
    fields = {field.attname: field for field in Member._meta.concrete_fields if not field.primary_key}
    constants = {name: field.pre_save(template, add=True) for name, field in fields.items()}
    arrays = {
        "member_number": None,
        "phone": [row.phone for row in rows],
        "consent_updated_at": [None if CONSENT_FIELDS.isdisjoint(row.values) else now for row in rows],
    }
    if openings:
        arrays["points_balance"] = [openings.get(row.phone, 0) for row in rows]
    for name in sorted({name for row in rows for name in row.values}):
        default = constants[name]
        arrays[name] = [row.values.get(name, default) for row in rows]
    return fields, constants, arrays


def tags_ensure(rows):
    """Create the tags `rows` name that do not exist yet (race-safe: two chunks may create the same tag)."""
    _tag_ids(rows)


def _tag_ids(rows):
    """Return tag name -> id for the tags of `rows`, creating the missing tags."""
    names = {name for row in rows for name in row.tags}
    if not names:
        return {}
    tag_ids = dict(Tag.objects.filter(name__in=names).values_list("name", "pk"))
    missing = names - tag_ids.keys()
    if missing:
        Tag.objects.bulk_create([Tag(name=name) for name in sorted(missing)], ignore_conflicts=True)
        tag_ids |= dict(Tag.objects.filter(name__in=missing).values_list("name", "pk"))
    return tag_ids


def _add_tags(rows, member_ids, tag_ids):
    pairs = [(member_ids[row.phone], tag_ids[name]) for row in rows for name in row.tags]
    if not pairs:
        return
    through = Member.tags.through
    if not set_based():
        through.objects.bulk_create(
            [through(member_id=member_id, tag_id=tag_id) for member_id, tag_id in pairs],
            ignore_conflicts=True,  # tags are added, never removed: a re-import keeps the pairs it finds
        )
        return
    sql.import_tags_add(pairs)


def _credit_openings(rows, member_ids, *, context):
    """Credit the opening balances of `rows` (members that existed before the chunk) through the ledger."""
    wanted = {opening_key(row.phone): row for row in rows if row.opening_points}
    if not wanted:
        return 0
    # An opening balance is written once per member: a re-import (even with another figure) skips it.
    openings = [(member_ids[row.phone], row.opening_points, key) for key, row in wanted.items()]
    return points_credit_openings(
        openings=openings, now=context.now, expires_at=context.opening_expires_at, source=context.opening_source,
        reason=CHANGE_REASON, created_by=context.user, skip_written=True,
    )  # fmt: skip


def _update_members(members, field_names, *, context):
    """Write `field_names` of `members` (dicts of field values with their "id"), with their history rows.

    PostgreSQL: one UPDATE ... FROM UNNEST(typed arrays) RETURNING the new rows, which a WITH clause copies into
    the history (members/sql.py); elsewhere bulk_update and simple-history's bulk history (the reference).
    """
    if set_based():
        sql.import_members_update(members=members, field_names=field_names, stamp=_stamp(context))
        return
    Member.objects.bulk_update(
        [Member(pk=member["id"], **{name: member[name] for name in field_names}) for member in members],
        field_names,
        batch_size=1000,
    )
    _write_history([member["id"] for member in members], update=True, context=context)


def _stamp(context) -> "sql.HistoryStamp":
    return sql.HistoryStamp(date=context.now, reason=CHANGE_REASON, user_id=getattr(context.user, "pk", None))


def _write_history(member_ids, *, update, context):
    """One historical row per member, as each member is now (simple-history's bulk history: the ORM path)."""
    Member.history.bulk_history_create(
        Member.objects.filter(pk__in=member_ids).order_by("pk"),
        batch_size=1000,
        update=update,
        default_user=context.user,
        default_change_reason=CHANGE_REASON,
        default_date=context.now,
    )


def _insert_members_set_based(rows, *, openings, tag_ids, context):
    """Create the members of `rows` in one statement (members/sql.py, which says how); return phone -> id."""
    fields, constants, arrays = _member_columns(rows, openings=openings, context=context)
    tagged = [(row.phone, tag_ids[name]) for row in rows for name in row.tags]
    opening = None
    if openings:
        opening = sql.ImportOpening(
            entry=_opening_entry(member_id=None, points=0, phone="", context=context),
            lot=_opening_lot(member_id=None, entry_id=None, points=0, context=context),
            key_prefix=OPENING_KEY_PREFIX,
        )
    first_tier = sql.FirstTier(
        move=_tier_move(member_id=None, old_tier_id=None, new_tier_id=None, context=context),
        entry_tier_id=context.entry_tier_id,
    )
    return sql.import_members_insert(
        phones=[row.phone for row in rows], fields=fields, constants=constants, arrays=arrays, tagged=tagged,
        opening=opening, first_tier=first_tier, stamp=_stamp(context),
    )  # fmt: skip

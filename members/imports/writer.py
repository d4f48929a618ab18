"""Write one chunk of validated rows; the caller holds the transaction, so a row's member, tags and
opening balance commit together (or not at all).

Per chunk: one locking read of the members the phones already belong to, one read of taken member
numbers, bulk inserts/updates of members with their history rows (simple-history's bulk helpers), one
read + one bulk insert for tags and their through rows, and the ledger's bulk opening credit.

History: simple-history's bulk helpers (bulk_create_with_history / bulk_update_with_history) build one
historical model instance per row in Python, which cost more than the import itself. We write the same
historical rows set-based instead: INSERT INTO historicalmember (...) SELECT ... FROM member WHERE id IN
(...) right after the members are written, so each history row is exactly the state committed. Updates
go through one UPDATE ... FROM (VALUES ...) per batch on PostgreSQL and SQLite (bulk_update's CASE per
row and field is quadratic-ish in Python); other vendors fall back to bulk_update.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import connection
from django.db.models import Q

from members.formats import new_member_number
from members.imports.columns import CONSENT_COLUMNS
from members.models import Member, PointsEntry, ProgramSettings, Tag, Tier
from members.services.ledger import points_credit_openings

CHANGE_REASON = "CSV import"


@dataclass
class ChunkResult:
    created: int = 0
    updated: int = 0
    openings: int = 0


@dataclass(frozen=True)
class ImportContext:
    """What stays the same for every chunk of one import."""

    now: datetime
    user: object = None
    entry_tier_id: int | None = None
    opening_expires_at: datetime | None = None

    @classmethod
    def build(cls, *, now, user=None):
        expiry_days = ProgramSettings.load().points_expiry_days
        return cls(
            now=now,
            user=user,
            entry_tier_id=Tier.objects.order_by("rank").values_list("pk", flat=True).first(),
            opening_expires_at=now + timedelta(days=expiry_days) if expiry_days else None,
        )


def opening_key(phone: str) -> str:
    return f"opening:{phone}"


def allocate_member_numbers(count: int) -> list[str]:
    """Return `count` fresh member numbers, unique among themselves and in the database (one query a round)."""
    numbers: set[str] = set()
    while len(numbers) < count:
        batch = {new_member_number() for _ in range(count - len(numbers))} - numbers
        taken = set(Member.objects.filter(member_number__in=batch).values_list("member_number", flat=True))
        numbers |= batch - taken
    return list(numbers)


def write_chunk(rows, *, context: ImportContext) -> ChunkResult:
    """Upsert the members of `rows` (valid MemberRows, distinct phones) with their tags and opening balances."""
    result = ChunkResult()
    if not rows:
        return result
    now = context.now
    existing = {
        member.phone: member
        for member in Member.objects.select_for_update().filter(phone__in=[row.phone for row in rows]).order_by("pk")
    }
    new_rows = [row for row in rows if row.phone not in existing]
    numbers = allocate_member_numbers(len(new_rows))
    created = []
    for row, number in zip(new_rows, numbers, strict=True):
        member = Member(
            member_number=number, phone=row.phone, status=Member.Status.ACTIVE,
            join_source=Member.JoinSource.IMPORT, joined_at=now, **{"tier_id": context.entry_tier_id, **row.values},
        )  # fmt: skip
        if any(column in row.values for column in CONSENT_COLUMNS):
            member.consent_updated_at = now
        created.append(member)
    if created:
        Member.objects.bulk_create(created, batch_size=1000)
        _write_history([member.pk for member in created], history_type="+", context=context)

    changed, changed_fields = [], set()
    for row in rows:
        member = existing.get(row.phone)
        if member is None:
            continue
        fields = {name for name, value in row.values.items() if getattr(member, name) != value}
        for name in fields:
            setattr(member, name, row.values[name])
        if fields & set(CONSENT_COLUMNS):
            member.consent_updated_at = now
            fields.add("consent_updated_at")
        if member.status == Member.Status.VISITOR:  # the merchant vouches for this phone: it joins by import
            member.status = Member.Status.ACTIVE
            member.join_source = member.join_source or Member.JoinSource.IMPORT
            member.joined_at = member.joined_at or now
            member.tier_id = member.tier_id or context.entry_tier_id
            fields |= {"status", "join_source", "joined_at", "tier_id"}
        if fields:
            member.updated_at = now
            changed.append(member)
            changed_fields |= fields
    if changed:
        _update_members(changed, sorted({*changed_fields, "updated_at"}))
        _write_history([member.pk for member in changed], history_type="~", context=context)
    result.created, result.updated = len(created), len(existing)

    members = {member.phone: member for member in created} | existing
    _add_tags(rows, members)
    result.openings = _credit_openings(rows, members, context=context)
    return result


def _add_tags(rows, members):
    names = {name for row in rows for name in row.tags}
    if not names:
        return
    tag_ids = dict(Tag.objects.filter(name__in=names).values_list("name", "pk"))
    missing = names - tag_ids.keys()
    if missing:
        Tag.objects.bulk_create([Tag(name=name) for name in sorted(missing)], ignore_conflicts=True)
        tag_ids |= dict(Tag.objects.filter(name__in=missing).values_list("name", "pk"))
    through = Member.tags.through
    through.objects.bulk_create(
        [through(member_id=members[row.phone].pk, tag_id=tag_ids[name]) for row in rows for name in row.tags],
        ignore_conflicts=True,  # tags are added, never removed: a re-import keeps the pairs it finds
    )


def _credit_openings(rows, members, *, context):
    wanted = {opening_key(row.phone): row for row in rows if row.opening_points}
    if not wanted:
        return 0
    # An opening balance is written once per member: a re-import (even with another figure) skips it.
    done = set(PointsEntry.objects.filter(Q(idempotency_key__in=wanted)).values_list("idempotency_key", flat=True))
    openings = [(members[row.phone].pk, row.opening_points, key) for key, row in wanted.items() if key not in done]
    return points_credit_openings(
        openings=openings, now=context.now, expires_at=context.opening_expires_at, source="import",
        created_by=context.user,
    )  # fmt: skip


HISTORY_OWN_FIELDS = {"history_id", "history_date", "history_change_reason", "history_type", "history_user"}


def _write_history(member_ids, *, history_type, context):
    """Insert one historical row per member, copied from the member table (what simple-history would write)."""
    if not member_ids:
        return
    history = Member.history.model
    qn = connection.ops.quote_name
    columns = [qn(f.column) for f in history._meta.concrete_fields if f.name not in HISTORY_OWN_FIELDS]
    own = [qn(history._meta.get_field(name).column) for name in ("history_date", "history_change_reason",
                                                                   "history_type", "history_user")]  # fmt: skip
    user_id = getattr(context.user, "pk", None)
    history_date = history._meta.get_field("history_date").get_db_prep_save(context.now, connection)
    with connection.cursor() as cursor:
        for start in range(0, len(member_ids), 500):
            chunk = member_ids[start : start + 500]
            cursor.execute(
                f"INSERT INTO {qn(history._meta.db_table)} ({', '.join(columns + own)}) "  # noqa: S608
                f"SELECT {', '.join(columns)}, %s, %s, %s, %s FROM {qn(Member._meta.db_table)} "
                f"WHERE id IN ({', '.join(['%s'] * len(chunk))})",
                [history_date, CHANGE_REASON, history_type, user_id, *chunk],
            )


def _update_members(members, field_names):
    """Write `field_names` of `members`: one UPDATE ... FROM (VALUES ...) per batch."""
    if connection.vendor not in ("postgresql", "sqlite"):
        Member.objects.bulk_update(members, field_names, batch_size=1000)
        return
    fields = [Member._meta.get_field(name) for name in field_names]
    qn = connection.ops.quote_name
    table = qn(Member._meta.db_table)
    is_postgres = connection.vendor == "postgresql"
    assignments = ", ".join(
        f"{qn(field.column)} = "
        + (f"CAST(v.column{number} AS {field.db_type(connection)})" if is_postgres else f"v.column{number}")
        for number, field in enumerate(fields, start=2)
    )
    batch = max(1, 900 // (len(fields) + 1))
    placeholder = "(" + ", ".join(["%s::bigint" if is_postgres else "%s"] + ["%s"] * len(fields)) + ")"
    with connection.cursor() as cursor:
        for start in range(0, len(members), batch):
            chunk = members[start : start + batch]
            params = []
            for member in chunk:
                params.append(member.pk)
                params.extend(field.get_db_prep_save(getattr(member, field.attname), connection) for field in fields)
            cursor.execute(
                f"UPDATE {table} SET {assignments} FROM (VALUES {', '.join([placeholder] * len(chunk))}) AS v "  # noqa: S608
                f"WHERE {table}.id = v.column1",
                params,
            )

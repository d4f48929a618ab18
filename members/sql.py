"""The members app's raw SQL: PostgreSQL statements that do in one round trip what the ORM does in many, on paths
a benchmark shows they pay (bench/pos_purchase.py for the purchase and its points, bench/tier_evaluation.py for the
tier review, bench/expire_points.py for expiry, bench/import_members.py for opening balances).

Each statement has its portable ORM twin beside its caller, which is the reference and runs on every database, and
a test that runs both on the same data on PostgreSQL and compares every row written
(tests/members/test_sql_equivalence.py, tests/members/test_bulk_sql_equivalence.py). The caller asks
`infra.bulk_sql.set_based()` (or the vendor) in one place; nothing here runs on another database.
"""

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import connection

from infra.bulk_sql import pg_array
from members.errors import InsufficientPoints
from members.formats import new_member_number
from members.models import (
    Member,
    MemberPlanSubscription,
    PointsAllocation,
    PointsEntry,
    PointsLot,
    Purchase,
    PurchaseItem,
    TierHistory,
)

Reason = TierHistory.Reason
Kind = PointsEntry.Kind


def _columns_and_values(obj, *, exclude: tuple[str, ...] = ()) -> tuple[list[str], list]:
    """The columns of an unsaved model instance (primary key aside) and their values as the database takes them."""
    fields = [f for f in type(obj)._meta.concrete_fields if not f.primary_key and f.attname not in exclude]
    return [f.column for f in fields], [f.get_db_prep_save(f.pre_save(obj, True), connection) for f in fields]


def purchase_insert(*, purchase: Purchase, items: list[PurchaseItem]) -> None:
    """Insert `purchase` and its `items` and, for a member, move their purchase statistics, in one statement.

    The same rows as the ORM's save, bulk_create and UPDATE in members.services.purchases (data-modifying CTEs:
    the till's sale pays one round trip, and no query compilation, instead of three). Sets `purchase.pk`.
    Raises IntegrityError as the ORM would (an external id already taken).
    """
    qn = connection.ops.quote_name
    columns, values = _columns_and_values(purchase)
    params = {f"p{index}": value for index, value in enumerate(values)}
    placeholders = ", ".join(f"%(p{index})s" for index in range(len(values)))
    ctes = [
        f"new_purchase AS (INSERT INTO {qn(Purchase._meta.db_table)} ({', '.join(map(qn, columns))}) "
        f"VALUES ({placeholders}) RETURNING id)"
    ]
    if items:
        item_columns = _columns_and_values(items[0], exclude=("purchase_id",))[0]
        rows = []
        for row, item in enumerate(items):
            item_values = _columns_and_values(item, exclude=("purchase_id",))[1]
            params.update({f"i{row}_{index}": value for index, value in enumerate(item_values)})
            rows.append("(" + ", ".join(f"%(i{row}_{index})s" for index in range(len(item_values))) + ")")
        names = ", ".join(map(qn, item_columns))
        ctes.append(
            f"new_items AS (INSERT INTO {qn(PurchaseItem._meta.db_table)} (purchase_id, {names}) "
            f"SELECT new_purchase.id, item.* FROM new_purchase, (VALUES {', '.join(rows)}) AS item({names}))"
        )
    if purchase.member_id:
        # members.services.purchases.purchase_member_updates, in SQL
        params.update(member=purchase.member_id, paid=purchase.paid_amount, at=purchase.purchased_at)
        ctes.append(
            f"member_statistics AS (UPDATE {qn(Member._meta.db_table)} SET purchase_count = purchase_count + 1, "
            f"total_spend = total_spend + %(paid)s, "
            f"first_purchase_at = LEAST(COALESCE(first_purchase_at, %(at)s), %(at)s), "
            f"last_purchase_at = GREATEST(COALESCE(last_purchase_at, %(at)s), %(at)s) WHERE id = %(member)s)"
        )
    with connection.cursor() as cursor:
        cursor.execute(f"WITH {', '.join(ctes)} SELECT id FROM new_purchase", params)
        purchase.pk = cursor.fetchone()[0]
    # The instance is now a saved row, as Model.save() leaves it (Model._state, documented).
    purchase._state.adding, purchase._state.db = False, connection.alias


# -- the tier review ------------------------------------------------------------------------------------------
# The reference is members.services.tiers.tier_review_orm (ORM aggregates per chunk, decisions in Python, grouped
# UPDATEs). Here one statement per chunk aggregates the window, decides and writes: bench/tier_evaluation.py
# measured it against the reference on 200,000 members (see docs/ARCHITECTURE.md).
def _number(value) -> str:
    """A numeric SQL literal for a value read from our own Decimal/int columns (never user text)."""
    return f"{Decimal(value):f}"


def _case(subject: str, pairs, *, default: str = "NULL") -> str:
    if not pairs:
        return default
    whens = " ".join(f"WHEN {when} THEN {then}" for when, then in pairs)
    return f"CASE {subject} {whens} ELSE {default} END" if subject else f"CASE {whens} ELSE {default} END"


def tier_review_statement(*, policy, tiers, now, first_id, last_id, instant=False, member_ids=None):
    """Return `WITH ... decisions AS (...)` and its parameters: one row per active, not overridden member of the chunk
    with its score, old and new tier, old and new start of the grace period, and the reason of a tier move.

    The chunk is first_id..last_id, or the given member ids (our own integers, inlined). The tiers' thresholds are
    inlined as CASE expressions (numbers read from our own columns), so the preview can pass unsaved ones. The
    rules are those of members.selectors.tiers.tier_decide, CTE by CTE:
    window_purchases, window_points: the window's purchase and points indicators; held_tiers: the highest tier
    held for a period (plan or top-up); scores: the score; thresholds: the thresholds that apply to it; moves: the
    review's move; decisions: the move once a held tier applies.
    """
    if member_ids is None:
        ids = "BETWEEN %(first_id)s AND %(last_id)s"
    else:
        ids = f"IN ({', '.join(str(int(member_id)) for member_id in member_ids) or 'NULL'})"
    ordered = sorted(tiers, key=lambda tier: tier.rank)
    ctes = [*_score_ctes(policy=policy, ordered=ordered, ids=ids), *_decision_ctes(ordered=ordered, instant=instant)]
    params = {
        "first_id": first_id,
        "last_id": last_id,
        "window_start": now - timedelta(days=policy.window_days),
        "now": now,
        "grace_cutoff": now - timedelta(days=policy.grace_period_days),
        "time_zone": settings.TIME_ZONE,
    }
    return "WITH " + ", ".join(ctes), params


def _score_ctes(*, policy, ordered, ids: str) -> list[str]:
    """window_purchases, window_points, held_tiers and scores: each member's indicators over the window, the highest
    rank held for a period, the score."""
    weights = policy.weights()
    qn = connection.ops.quote_name
    purchase, entry, member = (qn(model._meta.db_table) for model in (Purchase, PointsEntry, Member))
    grant = qn(MemberPlanSubscription._meta.db_table)
    purchase_columns = [
        ("spend", "SUM(pu.paid_amount + pu.stored_value_amount)"),
        ("purchases", "COUNT(*)"),
        ("stores", "COUNT(DISTINCT pu.store_id)"),
        # the local day of the program's time zone, as the member's tier page counts it
        ("active_days", "COUNT(DISTINCT (pu.purchased_at AT TIME ZONE %(time_zone)s)::date)"),
    ]
    purchase_columns = [(name, expression) for name, expression in purchase_columns if weights[name]]
    terms, ctes, joins = [], [], []
    if purchase_columns:
        ctes.append(
            f"window_purchases AS (SELECT pu.member_id, "
            f"{', '.join(f'{sql} AS {name}' for name, sql in purchase_columns)} "
            f"FROM {purchase} pu WHERE pu.member_id {ids} "
            f"AND pu.purchased_at > %(window_start)s AND pu.purchased_at <= %(now)s AND pu.status <> 'refunded' "
            f"GROUP BY pu.member_id)"
        )
        joins.append("LEFT JOIN window_purchases ON window_purchases.member_id = m.id")
        terms += [f"COALESCE(window_purchases.{name}, 0) * {_number(weights[name])}" for name, _sql in purchase_columns]
    if weights["points"]:
        ctes.append(
            f"window_points AS (SELECT pe.member_id, SUM(pe.delta) AS points FROM {entry} pe "
            f"WHERE pe.member_id {ids} AND pe.kind = 'accrual' "
            f"AND pe.created_at > %(window_start)s AND pe.created_at <= %(now)s GROUP BY pe.member_id)"
        )
        joins.append("LEFT JOIN window_points ON window_points.member_id = m.id")
        terms.append(f"COALESCE(window_points.points, 0) * {_number(weights['points'])}")
    rank_of_grant = _case("gs.tier_id", [(str(t.pk), str(t.rank)) for t in ordered], default="0")
    ctes.append(
        f"held_tiers AS (SELECT gs.member_id, MAX({rank_of_grant}) AS grant_rank FROM {grant} gs "
        f"WHERE gs.member_id {ids} AND gs.ends_at > %(now)s AND gs.starts_at <= %(now)s GROUP BY gs.member_id)"
    )
    joins.append("LEFT JOIN held_tiers ON held_tiers.member_id = m.id")
    ctes.append(
        f"scores AS (SELECT m.id AS member_id, m.tier_id AS old_tier_id, m.tier_below_keep_since AS old_since, "
        f"ROUND({' + '.join(terms) or '0'}, 2) AS score, COALESCE(held_tiers.grant_rank, 0) AS grant_rank "
        f"FROM {member} m {' '.join(joins)} WHERE m.id {ids} AND m.status = 'active' "
        f"AND (m.tier_override_until IS NULL OR m.tier_override_until <= %(now)s))"
    )
    return ctes


def _decision_ctes(*, ordered, instant: bool) -> list[str]:
    """thresholds, moves and decisions: the thresholds that apply to each score, the review's move, the move once a
    held tier applies. Each reads the one CTE before it, so its columns go unqualified."""
    by_rank_desc = list(reversed(ordered))
    lower_of = list(zip(ordered[1:], ordered, strict=False))  # (tier, the tier one step below)
    reaches = [(f"score >= {_number(t.min_score_to_reach)}", t) for t in by_rank_desc]
    of_old = {  # the old tier's rank, score to keep, and the tier one step below with its score to keep
        "old_rank": _case("old_tier_id", [(str(t.pk), str(t.rank)) for t in ordered], default="0"),
        "keep_score": _case("old_tier_id", [(str(t.pk), _number(t.min_score_to_keep)) for t in ordered], default="0"),
        "lower_tier_id": _case("old_tier_id", [(str(t.pk), str(lower.pk)) for t, lower in lower_of]),
        "lower_keep_score": _case(
            "old_tier_id", [(str(t.pk), _number(lower.min_score_to_keep)) for t, lower in lower_of], default="0"
        ),
    }
    ctes = [
        f"thresholds AS (SELECT scores.*, "
        f"{_case('', [(when, str(t.rank)) for when, t in reaches], default='0')} AS reach_rank, "
        f"{_case('', [(when, str(t.pk)) for when, t in reaches])} AS reach_tier_id, "
        f"{', '.join(f'{sql} AS {name}' for name, sql in of_old.items())}, "
        f"{_case('grant_rank', [(str(t.rank), str(t.pk)) for t in ordered])} AS grant_tier_id FROM scores)"
    ]
    since = "COALESCE(old_since, %(now)s)"
    if instant:
        new_tier = "CASE WHEN reach_rank > old_rank THEN reach_tier_id ELSE old_tier_id END"
        new_since = "CASE WHEN reach_rank > old_rank OR score >= keep_score THEN NULL ELSE old_since END"
        reason = f"'{Reason.PURCHASE_UPGRADE}'"
    else:
        stays = "old_tier_id IS NULL OR score >= keep_score OR lower_tier_id IS NULL"
        new_tier = (
            f"CASE WHEN reach_rank > old_rank THEN reach_tier_id WHEN {stays} THEN old_tier_id "
            f"WHEN {since} <= %(grace_cutoff)s THEN lower_tier_id ELSE old_tier_id END"
        )
        new_since = (
            f"CASE WHEN reach_rank > old_rank THEN NULL WHEN {stays} THEN NULL "
            f"WHEN {since} <= %(grace_cutoff)s THEN "
            f"(CASE WHEN score >= lower_keep_score THEN NULL ELSE %(now)s END) ELSE {since} END"
        )
        reason = f"CASE WHEN reach_rank > old_rank THEN '{Reason.UPGRADE}' ELSE '{Reason.DOWNGRADE}' END"
    ctes.append(
        f"moves AS (SELECT member_id, old_tier_id, old_since, score, old_rank, grant_rank, grant_tier_id, "
        f"{new_tier} AS new_tier_id, {new_since} AS new_since, {reason} AS reason FROM thresholds)"
    )
    new_rank = _case("new_tier_id", [(str(t.pk), str(t.rank)) for t in ordered], default="0")
    held = f"grant_rank > 0 AND grant_rank > {new_rank}"
    # MATERIALIZED: computed once and planned on its own. Inlined into the UPDATE, PostgreSQL's estimate of the
    # changed rows falls to 1 and it re-runs the window aggregates in a nested loop for every member.
    ctes.append(
        f"decisions AS MATERIALIZED (SELECT member_id, old_tier_id, old_since, score, "
        f"CASE WHEN {held} THEN grant_tier_id ELSE new_tier_id END AS new_tier_id, "
        f"CASE WHEN {held} THEN NULL ELSE new_since END AS new_since, "
        f"CASE WHEN {held} AND grant_rank > old_rank THEN '{Reason.GRANT}' ELSE reason END AS reason FROM moves)"
    )
    return ctes


def tier_review_apply(*, policy, tiers, now, first_id, last_id, instant=False, member_ids=None) -> list[tuple]:
    """Review the chunk and write what changes in one statement: the members' new tier and grace state, and a
    TierHistory row per tier move. Returns the moves as (member id, old tier id, new tier id, reason) by member id.

    Each UPDATE is guarded by the tier and grace state the review read, so a concurrent instant upgrade (which
    locks the member row) is never overwritten from an older snapshot: that member waits for the next review.
    """
    cte, params = tier_review_statement(
        policy=policy, tiers=tiers, now=now, first_id=first_id, last_id=last_id, instant=instant,
        member_ids=member_ids,
    )  # fmt: skip
    qn = connection.ops.quote_name
    member, history = qn(Member._meta.db_table), qn(TierHistory._meta.db_table)
    sql = (
        f"{cte}, changes AS (SELECT * FROM decisions WHERE new_tier_id IS DISTINCT FROM old_tier_id "
        f"OR new_since IS DISTINCT FROM old_since), "
        f"applied AS (UPDATE {member} m SET tier_id = changes.new_tier_id, tier_below_keep_since = changes.new_since "
        f"FROM changes WHERE m.id = changes.member_id AND m.tier_id IS NOT DISTINCT FROM changes.old_tier_id "
        f"AND m.tier_below_keep_since IS NOT DISTINCT FROM changes.old_since "
        f"AND (m.tier_override_until IS NULL OR m.tier_override_until <= %(now)s) "
        f"RETURNING changes.member_id, changes.old_tier_id, changes.new_tier_id, changes.score, changes.reason) "
        f"INSERT INTO {history} (member_id, old_tier_id, new_tier_id, score, reason, note, created_at) "
        f"SELECT member_id, old_tier_id, new_tier_id, score, reason, '', %(now)s FROM applied "
        f"WHERE new_tier_id IS DISTINCT FROM old_tier_id ORDER BY member_id "
        f"RETURNING member_id, old_tier_id, new_tier_id, reason"
    )
    # A chunk's caller opens it with JIT off (infra.db_session.chunk_transaction): see tier_evaluate_chunk.
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return sorted(cursor.fetchall())


def tier_review_counts(*, policy, tiers, now, first_id, last_id) -> list[tuple]:
    """Count what a review would do, without writing: (old tier id, new tier id, in grace 0/1, members)."""
    cte, params = tier_review_statement(policy=policy, tiers=tiers, now=now, first_id=first_id, last_id=last_id)
    with connection.cursor() as cursor:
        cursor.execute(
            f"{cte} SELECT old_tier_id, new_tier_id, CASE WHEN new_since IS NULL THEN 0 ELSE 1 END, COUNT(*) "
            f"FROM decisions GROUP BY 1, 2, 3",
            params,
        )
        return cursor.fetchall()


def points_settle(*, member, spend_entry, earn_entry, earn_lot, spend, moves) -> None:
    """A purchase's points: its entries, the draw from the lots, allocations, the new lot and the member row, in
    one statement (reference: members.services.ledger._settle_orm). Sets the entries' and the lot's ids."""
    qn = connection.ops.quote_name
    entries, lots = qn(PointsEntry._meta.db_table), qn(PointsLot._meta.db_table)
    allocations, members = qn(PointsAllocation._meta.db_table), qn(Member._meta.db_table)
    written = [entry for entry in (spend_entry, earn_entry) if entry is not None]
    params = {"member": member.pk, "spend": spend}
    values = []
    for index, entry in enumerate(written):
        names = ("kind", "delta", "balance_after", "debt_after", "key", "purchase", "source", "breakdown", "created")
        row = (entry.kind, entry.delta, entry.balance_after, entry.debt_after, entry.idempotency_key,
               entry.purchase_id, entry.source, json.dumps(entry.breakdown), entry.created_at)  # fmt: skip
        params.update({f"{name}_{index}": value for name, value in zip(names, row, strict=True)})
        values.append(
            f"(%(member)s, %(kind_{index})s, %(delta_{index})s, %(balance_after_{index})s, %(debt_after_{index})s, "
            f"%(key_{index})s, %(purchase_{index})s, %(source_{index})s, '', %(breakdown_{index})s::jsonb, NULL, "
            f"%(created_{index})s)"
        )
    ctes = [
        f"new_entries AS (INSERT INTO {entries} (member_id, kind, delta, balance_after, debt_after, idempotency_key, "
        f"purchase_id, source, reason, breakdown, created_by_id, created_at) VALUES {', '.join(values)} "
        f"RETURNING id, idempotency_key)"
    ]
    if spend_entry is not None:
        params["spend_key"] = spend_entry.idempotency_key
        ctes += [
            # Soonest expiry first: each lot gives what the lots before it left of the spend.
            f"draw AS (SELECT id, LEAST(remaining, %(spend)s - (SUM(remaining) OVER (ORDER BY expires_at ASC NULLS "
            f"LAST, id) - remaining)) AS take FROM {lots} WHERE member_id = %(member)s AND is_active "
            f"AND remaining > 0)",
            "drawn_lots AS (SELECT id, take FROM draw WHERE take > 0)",
            f"lots_lowered AS (UPDATE {lots} lot SET remaining = lot.remaining - drawn_lots.take FROM drawn_lots "
            f"WHERE lot.id = drawn_lots.id)",
            f"new_allocations AS (INSERT INTO {allocations} (entry_id, lot_id, points) "
            f"SELECT (SELECT id FROM new_entries WHERE idempotency_key = %(spend_key)s), drawn_lots.id, "
            f"drawn_lots.take FROM drawn_lots)",
        ]
        drawn = "(SELECT COALESCE(SUM(take), 0) FROM drawn_lots)"
    else:
        drawn = "0"
    if earn_lot is not None:
        params.update(
            earn_key=earn_entry.idempotency_key, points=earn_lot.points, remaining=earn_lot.remaining,
            active=earn_lot.is_active, activates=earn_lot.activates_at, expires=earn_lot.expires_at,
        )  # fmt: skip
        ctes.append(
            f"new_lot AS (INSERT INTO {lots} (member_id, entry_id, points, remaining, is_active, activates_at, "
            f"expires_at) SELECT %(member)s, id, %(points)s, %(remaining)s, %(active)s, %(activates)s, %(expires)s "
            f"FROM new_entries WHERE idempotency_key = %(earn_key)s RETURNING id)"
        )
        new_lot = "(SELECT id FROM new_lot)"
    else:
        new_lot = "NULL"
    params.update({f"move_{name}": delta for name, delta in moves.items()})
    ctes.append(
        f"member_balances AS (UPDATE {members} SET points_balance = points_balance + %(move_points_balance)s, "
        f"points_debt = points_debt + %(move_points_debt)s, "
        f"points_pending = points_pending + %(move_points_pending)s WHERE id = %(member)s)"
    )
    with connection.cursor() as cursor:
        cursor.execute(
            f"WITH {', '.join(ctes)} SELECT (SELECT json_object_agg(idempotency_key, id) FROM new_entries), {new_lot}, "
            f"{drawn}",
            params,
        )
        ids, lot_id, drawn_points = cursor.fetchone()
    if drawn_points != spend:  # the lots disagree with the cached balance: refuse rather than write a broken ledger
        raise InsufficientPoints.for_field("points", "ledger lots do not cover the balance")
    if isinstance(ids, str):
        ids = json.loads(ids)
    for entry in written:
        entry.pk = ids[entry.idempotency_key]
        entry._state.adding, entry._state.db = False, connection.alias
    if earn_lot is not None:
        earn_lot.entry, earn_lot.pk = earn_entry, lot_id
        earn_lot._state.adding, earn_lot._state.db = False, connection.alias


def points_openings_insert(credits, *, source, reason, created_by, now, expires_at) -> None:
    """Opening balances: the entries, then their lots, one INSERT ... SELECT FROM UNNEST(typed arrays) each
    (reference: members.services.ledger._insert_openings_orm)."""
    member_ids, points, keys, balances_after, debts_after, kept, _repaid = (
        list(column) for column in zip(*credits, strict=True)
    )
    qn = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {qn(PointsEntry._meta.db_table)} (member_id, kind, delta, balance_after, debt_after, "  # noqa: S608
            "idempotency_key, purchase_id, source, reason, breakdown, created_by_id, created_at) "
            "SELECT u.member_id, %s, u.delta, u.balance_after, u.debt_after, u.idempotency_key, NULL, %s, %s, "
            "'{}'::jsonb, %s::bigint, %s::timestamptz "
            "FROM UNNEST(%s::bigint[], %s::bigint[], %s::bigint[], %s::bigint[], %s::varchar(120)[]) "
            "AS u(member_id, delta, balance_after, debt_after, idempotency_key) RETURNING member_id, id",
            [Kind.OPENING.value, source, reason, getattr(created_by, "pk", None), now,
             *map(pg_array, (member_ids, points, balances_after, debts_after, keys))],
        )  # fmt: skip
        entry_ids = dict(cursor.fetchall())  # each member once per call
        cursor.execute(
            f"INSERT INTO {qn(PointsLot._meta.db_table)} (member_id, entry_id, points, remaining, is_active, "  # noqa: S608
            "activates_at, expires_at) "
            "SELECT u.member_id, u.entry_id, u.points, u.remaining, true, %s::timestamptz, %s::timestamptz "
            "FROM UNNEST(%s::bigint[], %s::bigint[], %s::bigint[], %s::bigint[]) "
            "AS u(member_id, entry_id, points, remaining)",
            [now, expires_at, *map(pg_array, (member_ids, [entry_ids[pk] for pk in member_ids], points, kept))],
        )


def points_balances_move(moves) -> None:
    """Add `kept` to points_balance and take `repaid` from points_debt of each (member_id, kept, repaid), one relative
    UPDATE ... FROM UNNEST(...) (reference: the F() updates of members.services.ledger._move_balances)."""
    table = connection.ops.quote_name(Member._meta.db_table)
    columns = [pg_array(column) for column in zip(*moves, strict=True)]
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET points_balance = {table}.points_balance + u.kept, "  # noqa: S608
            f"points_debt = {table}.points_debt - u.repaid "
            "FROM UNNEST(%s::bigint[], %s::bigint[], %s::bigint[]) AS u(id, kept, repaid) "
            # The ANY condition lets the planner find the rows by primary key, not hash the whole table.
            f"WHERE {table}.id = u.id AND {table}.id = ANY(%s::bigint[])",
            [*columns, columns[0]],
        )


def points_expire_due(*, now, member_ids) -> int:
    """Expire the due lots of these (locked) members (reference: members.services.ledger._expire_due_lots_orm).

    One statement: data-modifying CTEs share one snapshot, taken after the member locks.

    The entry ids are drawn in `due`, in the order of the running balance, so the entries and their
    allocations are two independent inserts (no RETURNING to collect and parse), and the lots are emptied
    by the same condition that found them: the member locks keep every other writer off these lots.
    The member-id range beside the array lets the planner walk both tables by index for the chunk.
    """
    qn = connection.ops.quote_name
    entries, lots = qn(PointsEntry._meta.db_table), qn(PointsLot._meta.db_table)
    allocations, members = qn(PointsAllocation._meta.db_table), qn(Member._meta.db_table)
    with connection.cursor() as cursor:
        # The job's chunk transaction sets work_mem and jit for this statement (points.services.expiry).
        cursor.execute("SELECT pg_get_serial_sequence(%s, 'id')", [PointsEntry._meta.db_table])
        sequence = cursor.fetchone()[0]
        due_lots = (
            "l.member_id = ANY(%(ids)s::bigint[]) AND l.member_id BETWEEN %(first)s AND %(last)s "
            "AND l.is_active AND l.remaining > 0 AND l.expires_at <= %(now)s"
        )
        cursor.execute(
            f"""
            WITH due AS (
                SELECT nextval(%(sequence)s::regclass) AS entry_id, lot_id, member_id, remaining, balance_after,
                       debt_after
                FROM (
                    SELECT l.id AS lot_id, l.member_id, l.remaining,
                           m.points_balance - SUM(l.remaining) OVER (
                               PARTITION BY l.member_id ORDER BY l.expires_at, l.id) AS balance_after,
                           m.points_debt AS debt_after
                    FROM {lots} l JOIN {members} m ON m.id = l.member_id
                    WHERE {due_lots} AND m.id BETWEEN %(first)s AND %(last)s
                    ORDER BY l.member_id, l.expires_at, l.id
                ) ordered
            ),
            inserted AS (
                INSERT INTO {entries} (id, member_id, kind, delta, balance_after, debt_after, idempotency_key,
                                       purchase_id, source, reason, breakdown, created_by_id, created_at)
                SELECT entry_id, member_id, %(kind)s, -remaining, balance_after, debt_after, 'expire:' || lot_id,
                       NULL, 'expiry', '', jsonb_build_object('lot_id', lot_id), NULL, %(now)s
                FROM due
            ),
            allocated AS (
                INSERT INTO {allocations} (entry_id, lot_id, points) SELECT entry_id, lot_id, remaining FROM due
            ),
            emptied AS (
                UPDATE {lots} l SET remaining = 0 WHERE {due_lots}
            ),
            moved AS (
                UPDATE {members} m SET points_balance = m.points_balance - t.expired
                FROM (SELECT member_id, SUM(remaining) AS expired FROM due GROUP BY member_id) t
                WHERE m.id = t.member_id
            )
            SELECT COUNT(*) FROM due
            """,  # noqa: S608
            {
                "ids": pg_array(member_ids),
                "first": member_ids[0],
                "last": member_ids[-1],
                "now": now,
                "kind": Kind.EXPIRATION.value,
                "sequence": sequence,
            },
        )
        return cursor.fetchone()[0]


# The member import's writes (members.imports.writer): one statement per table and chunk.


@dataclass(frozen=True)
class HistoryStamp:
    """What simple-history writes beside a member's copied columns: when, why and who."""

    date: datetime
    reason: str
    user_id: int | None


@dataclass(frozen=True)
class ImportOpening:
    """The opening entry and lot every new member with an opening balance gets (their constant columns), and the
    prefix of the entries' keys (the phone follows)."""

    entry: PointsEntry
    lot: PointsLot
    key_prefix: str


def import_members_lock(*, phones, names, as_text) -> list[tuple]:
    """The import's locking read of the members holding `phones` (primary-key order) in one fetch, the fields
    `as_text` in PostgreSQL's text form (reference: the select_for_update of members.imports.writer._lock_existing).

    Django loads each timestamp through a Python-level time zone loader and the ORM fetches 100 rows a
    round: most of the time of reading 5,000 members. The text goes back verbatim into the UPDATE's
    timestamptz array, so the value written is the value read.
    """
    qn = connection.ops.quote_name
    selects = ", ".join(
        qn(Member._meta.get_field(name).column) + ("::text" if name in as_text else "") for name in names
    )
    phone = Member._meta.get_field("phone")
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {selects} FROM {qn(Member._meta.db_table)} "  # noqa: S608
            f"WHERE {qn(phone.column)} = ANY(%s::{phone.db_type(connection)}[]) ORDER BY {qn(Member._meta.pk.column)} "
            "FOR UPDATE",
            [pg_array(phones)],
        )
        return cursor.fetchall()


def _constant_columns(model, template, per_row):
    """Return (columns, `%s::type` selects, parameters) of `model`'s columns not in `per_row`, from `template`.

    Each takes the value a bulk_create of `template` would write (defaults, auto_now), prepared once.
    """
    qn = connection.ops.quote_name
    columns, selects, params = [], [], []
    for field in model._meta.concrete_fields:
        if field.primary_key or field.attname in per_row:
            continue
        columns.append(qn(field.column))
        selects.append(f"%s::{field.db_type(connection)}")
        params.append(field.get_db_prep_save(field.pre_save(template, add=True), connection))
    return columns, selects, params


def import_members_insert(*, phones, fields, constants, arrays, tagged, opening, first_tier, stamp) -> dict[str, int]:
    """Create the import's new members in one statement per chunk; return phone -> id (reference: the bulk_create
    and bulk history of members.imports.writer._insert_members_orm).

    `fields`, `constants` and `arrays` are what the writer's _member_columns gives (one array per column a row may
    set, in the order of `phones`; member_number's drawn here), `tagged` the (phone, tag id) links to add,
    `opening` the templates of the opening entries and lots (None: no opening balance in the chunk), `first_tier`
    the template of the tier history row of a member whose row set a tier other than the entry tier (FirstTier).

    One INSERT ... SELECT FROM UNNEST writes the members; data-modifying WITH clauses on the rows it
    returns write their history rows, their tag links, their opening entries (a new member's
    points_balance is its opening balance, see the module docstring), the entries' lots and the tier history of
    the members the file put in another tier than the entry tier (a row per member: the ORM path's
    bulk_create of them cost a tenth of a new member's time in Python). The columns
    a row may set travel as typed arrays (the model default where a cell was empty); every other column
    takes the value a bulk_create would give it (defaults, auto_now), prepared once. Member numbers are
    drawn at random and inserted ON CONFLICT (member_number) DO NOTHING: the rows whose number was taken
    come back missing (with nothing written for them) and are inserted again with new numbers (no read of
    the taken numbers first, which the planner answers with a scan of the member table). A phone taken
    by a concurrent writer still raises IntegrityError, and the caller redoes the chunk.
    """
    qn = connection.ops.quote_name
    others = [name for name in fields if name not in arrays]
    columns = ", ".join(qn(fields[name].column) for name in [*arrays, *others])
    selected = ", ".join(
        [f"u.{qn(name)}" for name in arrays] + [f"%s::{fields[name].db_type(connection)}" for name in others]
    )
    unnest = ", ".join(f"%s::{fields[name].db_type(connection)}[]" for name in arrays)
    aliases = ", ".join(qn(name) for name in arrays)
    constant_params = [fields[name].get_db_prep_save(constants[name], connection) for name in others]
    history_sql, history_params = _history_insert("new_members", history_type="+", stamp=stamp)
    statement = (
        f"WITH new_members AS (INSERT INTO {qn(Member._meta.db_table)} ({columns}) "  # noqa: S608
        f"SELECT {selected} FROM UNNEST({unnest}) AS u({aliases}) "
        f"ON CONFLICT ({qn(fields['member_number'].column)}) DO NOTHING RETURNING *), "
        f"new_history AS ({history_sql})"
    )
    params = [*history_params]  # after the arrays
    if tagged:
        through = Member.tags.through._meta.db_table
        statement += (
            f", new_tags AS (INSERT INTO {qn(through)} (member_id, tag_id) "  # noqa: S608
            "SELECT new_members.id, tagged.tag_id FROM UNNEST(%s::varchar[], %s::bigint[]) AS tagged(phone, tag_id) "
            "JOIN new_members ON new_members.phone = tagged.phone)"
        )
        params += [pg_array([phone for phone, _tag_id in tagged]), pg_array([tag_id for _phone, tag_id in tagged])]
    if opening is not None:
        opening_sql, opening_params = _openings_insert("new_members", opening=opening)
        statement += ", " + opening_sql
        params += opening_params
    moves_sql, moves_params = _first_tiers_insert("new_members", first_tier=first_tier)
    statement += ", " + moves_sql
    params += moves_params
    statement += " SELECT new_members.id, new_members.phone FROM new_members"
    created = {}
    positions = list(range(len(phones)))
    with connection.cursor() as cursor:
        while positions:
            numbers = set()
            while len(numbers) < len(positions):
                numbers.add(new_member_number())
            every = len(positions) == len(phones)  # the first attempt, and nearly always the only one
            arrays_params = [pg_array(list(numbers))]
            arrays_params += [
                pg_array(values if every else [values[i] for i in positions])
                for name, values in arrays.items()
                if name != "member_number"
            ]
            cursor.execute(statement, [*constant_params, *arrays_params, *params])
            created.update((phone, pk) for pk, phone in cursor.fetchall())
            positions = [i for i in positions if phones[i] not in created]
    return created


def _openings_insert(members, *, opening):
    """Return (SQL, parameters) of WITH clauses writing the opening entries and lots of new `members`.

    `members` names a relation of member rows just inserted, whose points_balance is their opening balance.
    """
    qn = connection.ops.quote_name
    entry_template = opening.entry
    entry_columns, entry_selects, entry_params = _constant_columns(
        PointsEntry, entry_template, {"member_id", "delta", "balance_after", "debt_after", "idempotency_key"}
    )
    lot_template = opening.lot
    lot_columns, lot_selects, lot_params = _constant_columns(
        PointsLot, lot_template, {"member_id", "entry_id", "points", "remaining"}
    )
    statement = (
        f"opening_entries AS (INSERT INTO {qn(PointsEntry._meta.db_table)} "  # noqa: S608
        f"(member_id, delta, balance_after, debt_after, idempotency_key, {', '.join(entry_columns)}) "
        f"SELECT {members}.id, {members}.points_balance, {members}.points_balance, 0, %s || {members}.phone, "
        f"{', '.join(entry_selects)} FROM {members} WHERE {members}.points_balance > 0 "
        "RETURNING id, member_id, delta), "
        f"opening_lots AS (INSERT INTO {qn(PointsLot._meta.db_table)} "
        f"(member_id, entry_id, points, remaining, {', '.join(lot_columns)}) "
        f"SELECT opening_entries.member_id, opening_entries.id, opening_entries.delta, opening_entries.delta, "
        f"{', '.join(lot_selects)} FROM opening_entries)"
    )
    return statement, [opening.key_prefix, *entry_params, *lot_params]


@dataclass(frozen=True)
class FirstTier:
    """The tier history row of a new member placed by the file in another tier than the entry tier (its constant
    columns: reason, note, staff user, time) and that entry tier."""

    move: TierHistory
    entry_tier_id: int | None


def _first_tiers_insert(members, *, first_tier):
    """Return (SQL, parameters) of a WITH clause writing the tier history of new `members` not in the entry tier."""
    qn = connection.ops.quote_name
    columns, selects, params = _constant_columns(TierHistory, first_tier.move, {"member_id", "new_tier_id"})
    statement = (
        f"first_tiers AS (INSERT INTO {qn(TierHistory._meta.db_table)} (member_id, new_tier_id, {', '.join(columns)}) "  # noqa: S608
        f"SELECT {members}.id, {members}.tier_id, {', '.join(selects)} FROM {members} "
        f"WHERE {members}.tier_id IS DISTINCT FROM %s::bigint)"
    )
    return statement, [*params, first_tier.entry_tier_id]


def import_tags_add(pairs) -> None:
    """Link (member id, tag id) pairs, keeping the pairs that exist (reference: the bulk_create of
    members.imports.writer._add_tags)."""
    through = Member.tags.through
    qn = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {qn(through._meta.db_table)} (member_id, tag_id) "  # noqa: S608
            "SELECT * FROM UNNEST(%s::bigint[], %s::bigint[]) ON CONFLICT DO NOTHING",
            [pg_array([member_id for member_id, _tag_id in pairs]), pg_array([tag_id for _member_id, tag_id in pairs])],
        )


def import_members_update(*, members, field_names, stamp: HistoryStamp) -> None:
    """Write `field_names` of `members` (dicts of field values with their "id") and their history rows: one UPDATE
    ... FROM UNNEST(typed arrays) RETURNING the new rows, which a WITH clause copies into the history (reference:
    the bulk_update and bulk history of members.imports.writer._update_members)."""
    fields = [Member._meta.get_field(name) for name in field_names]
    qn = connection.ops.quote_name
    table = qn(Member._meta.db_table)
    assignments = ", ".join(f"{qn(field.column)} = u.{qn(field.attname)}" for field in fields)
    unnest = ", ".join(["%s::bigint[]"] + [f"%s::{field.db_type(connection)}[]" for field in fields])
    aliases = ", ".join(["id"] + [qn(field.attname) for field in fields])
    params = [pg_array([member["id"] for member in members])]
    params += [pg_array([member[field.attname] for member in members]) for field in fields]
    history_sql, history_params = _history_insert("changed", history_type="~", stamp=stamp)
    with connection.cursor() as cursor:
        cursor.execute(
            f"WITH changed AS (UPDATE {table} SET {assignments} FROM UNNEST({unnest}) AS u({aliases}) "  # noqa: S608
            # The ANY condition lets the planner find the rows by primary key, not hash the whole table.
            f"WHERE {table}.id = u.id AND {table}.id = ANY(%s::bigint[]) RETURNING {table}.*) " + history_sql,
            [*params, params[0], *history_params],
        )


HISTORY_OWN_FIELDS = {"history_id", "history_date", "history_change_reason", "history_type", "history_user"}


def _history_insert(source, *, history_type, stamp):
    """Return (SQL, parameters) of an INSERT of one historical row per member row of `source` (what
    simple-history would write): the tracked columns copied, then date, reason, type and user."""
    history = Member.history.model
    qn = connection.ops.quote_name
    columns = [qn(f.column) for f in history._meta.concrete_fields if f.name not in HISTORY_OWN_FIELDS]
    own = [qn(history._meta.get_field(name).column) for name in ("history_date", "history_change_reason",
                                                                   "history_type", "history_user")]  # fmt: skip
    history_date = history._meta.get_field("history_date").get_db_prep_save(stamp.date, connection)
    statement = (
        f"INSERT INTO {qn(history._meta.db_table)} ({', '.join(columns + own)}) "  # noqa: S608
        f"SELECT {', '.join(f'{source}.{column}' for column in columns)}, %s, %s, %s, %s FROM {source}"
    )
    return statement, [history_date, stamp.reason, history_type, stamp.user_id]

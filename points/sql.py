"""The points app's raw SQL: PostgreSQL statements that aggregate in the database what the ORM would make Python
walk row by row, on paths where that pays.

Each statement has its portable ORM reference beside its caller, which runs on every database, and a test that runs
both on the same data on PostgreSQL and compares their results (tests/points/test_sql_equivalence.py).
`rules_fingerprint` is portable SQL, the same on every database, so it has no twin: the expressions the till's
policy read annotates (points.selectors.checkout_settings_get).
"""

import functools

from django.db import connection

from coupons.models import PostPaymentRule
from members.models import Member, PointsEntry, Tier
from points.models import EarningRule


@functools.cache
def rules_fingerprint() -> list[str]:
    """SQL expressions (scalar subqueries) whose values change whenever the earning rules or the tiers change.

    Raw, and read as annotations of the points policy's row (points.selectors._POLICY_WITH_FINGERPRINT), because
    every purchase reads that row: one round trip per purchase then tells whether the earning rules cached per
    process are still current, and whether tiers and active post-payment rules exist. Portable: plain scalar
    subqueries, run the same on every database.
    """
    qn = connection.ops.quote_name
    history = qn(EarningRule.history.model._meta.db_table)
    rules = qn(EarningRule._meta.db_table)
    stores = qn(EarningRule.stores.through._meta.db_table)
    tiers = qn(EarningRule.tiers.through._meta.db_table)
    newest = f"FROM {history} ORDER BY history_id DESC LIMIT 1"
    return [
        f"(SELECT history_id {newest})",
        f"(SELECT history_date {newest})",
        f"(SELECT COUNT(*) FROM {rules})",
        f"(SELECT MAX(updated_at) FROM {rules})",
        f"(SELECT COUNT(*) FROM {stores})",
        f"(SELECT COUNT(*) FROM {tiers})",
        # second to last: whether a post-payment coupon rule is switched on (checkout skips them otherwise)
        f"(SELECT COUNT(*) FROM {qn(PostPaymentRule._meta.db_table)} WHERE is_active)",
        f"(SELECT COUNT(*) FROM {qn(Tier._meta.db_table)})",  # last: whether any tier exists
    ]


def top_rules_totals(*, since, now, store_id: int | None, limit: int) -> list[tuple[int, int, int]]:
    """(rule id, points, accrual entries) of the rules that gave the most points, from the entries' breakdowns.

    The reference (points.reports._top_rules_totals_orm) reads every accrual entry of the period into Python; a
    year of a large program is millions of entries, so here the breakdowns' JSON arrays are expanded and summed in
    the database: `shares` has one row per (entry, rule share), `totals` one per rule.
    """
    qn = connection.ops.quote_name
    entries, members = qn(PointsEntry._meta.db_table), qn(Member._meta.db_table)
    store_join = f"JOIN {members} m ON m.id = e.member_id AND m.home_store_id = %(store)s" if store_id else ""
    sql = f"""
        WITH shares AS (
            SELECT e.id AS entry_id, (r->>'rule_id')::bigint AS rule_id, (r->>'points')::bigint AS points
            FROM {entries} e {store_join}
            CROSS JOIN LATERAL jsonb_array_elements(COALESCE(e.breakdown->'rules', '[]'::jsonb)) AS r
            WHERE e.kind = 'accrual' AND e.created_at >= %(since)s AND e.created_at <= %(now)s
              AND r->>'rule_id' IS NOT NULL
        ),
        totals AS (
            SELECT rule_id, SUM(points) AS points, COUNT(DISTINCT entry_id) AS entries FROM shares GROUP BY rule_id
        )
        SELECT rule_id, points, entries FROM totals ORDER BY points DESC, rule_id LIMIT %(limit)s
    """  # noqa: S608 - table names from the models, values as parameters
    with connection.cursor() as cursor:
        cursor.execute(sql, {"store": store_id, "since": since, "now": now, "limit": limit})
        return [(rule_id, int(points), entries) for rule_id, points, entries in cursor.fetchall()]

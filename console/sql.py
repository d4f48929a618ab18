"""The console app's raw SQL: PostgreSQL statements that aggregate in the database what the ORM would make Python
walk row by row, on paths where that pays.

Each statement has its portable ORM reference beside its caller (console.selectors.figures for the rules' points,
console.services.figures for the stored buyers), which runs on every database, and a test that runs both on the
same data on PostgreSQL and compares their results (tests/console/test_report_figures.py).
"""

from django.conf import settings
from django.db import connection

from members.models import Member, PointsEntry, Purchase


def rule_points_by_day(*, since, until, store_id: int | None) -> list[tuple]:
    """(day, store, rule id, points, accrual entries) of the accruals in [since, until), from their breakdowns.

    The reference (console.selectors.figures._rule_points_by_day_orm) reads every accrual entry into Python; the
    nightly refresh's first run reads years of them, so here the breakdowns' JSON arrays are expanded and summed
    in the database, by day in the program's time zone and by the member's home store.
    """
    qn = connection.ops.quote_name
    entries, members = qn(PointsEntry._meta.db_table), qn(Member._meta.db_table)
    store_filter = "AND m.home_store_id = %(store)s" if store_id is not None else ""
    sql = f"""
        WITH shares AS (
            SELECT e.id AS entry_id, (e.created_at AT TIME ZONE %(tz)s)::date AS day, m.home_store_id AS store_id,
                   (r->>'rule_id')::bigint AS rule_id, COALESCE((r->>'points')::bigint, 0) AS points
            FROM {entries} e JOIN {members} m ON m.id = e.member_id {store_filter}
            CROSS JOIN LATERAL jsonb_array_elements(COALESCE(e.breakdown->'rules', '[]'::jsonb)) AS r
            WHERE e.kind = 'accrual' AND e.created_at >= %(since)s AND e.created_at < %(until)s
              AND r->>'rule_id' IS NOT NULL
        )
        SELECT day, store_id, rule_id, SUM(points), COUNT(DISTINCT entry_id) FROM shares
        GROUP BY day, store_id, rule_id
    """  # noqa: S608 - table names from the models, values as parameters
    with connection.cursor() as cursor:
        cursor.execute(sql, {"store": store_id, "since": since, "until": until, "tz": settings.TIME_ZONE})
        return [(day, store, rule, int(points), count) for day, store, rule, points, count in cursor.fetchall()]


def buyers_by_store(*, since, until) -> list[tuple]:
    """(store id, all stores?, members who purchased, members who purchased twice or more) in [since, until): one
    row for all stores (store None) and one per store, in one pass over the window's purchases.

    The reference (console.services.figures._buyers_by_store_orm) counts each store in a query of its own.
    """
    purchases = connection.ops.quote_name(Purchase._meta.db_table)
    sql = f"""
        SELECT CASE WHEN everyone = 1 THEN NULL ELSE store_id END, everyone = 1, COUNT(*),
               COUNT(*) FILTER (WHERE purchases >= 2)
        FROM (
            SELECT store_id, member_id, GROUPING(store_id) AS everyone, COUNT(*) AS purchases FROM {purchases}
            WHERE purchased_at >= %(since)s AND purchased_at < %(until)s AND member_id IS NOT NULL
            GROUP BY GROUPING SETS ((store_id, member_id), (member_id))
        ) per_member
        WHERE everyone = 1 OR store_id IS NOT NULL
        GROUP BY everyone, store_id
    """  # noqa: S608 - table names from the models, values as parameters
    with connection.cursor() as cursor:
        cursor.execute(sql, {"since": since, "until": until})
        rows = [(store, everyone, buyers, repeat) for store, everyone, buyers, repeat in cursor.fetchall()]
    # A window without purchases has its all-stores row too (stored: the window is known to be empty).
    return rows if any(everyone for _store, everyone, _buyers, _repeat in rows) else [(None, True, 0, 0), *rows]

"""A console paginator that does not count a million rows to say how many there are.

Django's admin counts every list it shows (`SELECT count(*)`), which reads the whole table or index: at a chain's
size (1,000,000 members, 10,000,000 purchases) that count alone is most of the page's time. On PostgreSQL this
paginator asks the planner instead when the list is large:
- an unfiltered list: the table's size from the catalogue (pg_class: rows per page at the last ANALYZE times the
  pages the table has now, as the planner reckons it);
- a filtered or store-scoped list: the planner's estimate of the list's query (EXPLAIN);
and counts exactly when that estimate is below `exact_below` rows (a search, a narrow filter, a small store), or
when the table was never analysed. `is_estimated` tells the template to say "about N" (console pagination
template, set through `template_name`, which Unfold's list includes). Elsewhere (SQLite) it always counts.

The estimate only sizes the pager: the rows shown are always the real ones (a page past the real end of an
over-estimated list is empty).
"""

import json

from django.core.exceptions import EmptyResultSet
from django.core.paginator import Paginator
from django.db import connections
from django.utils.functional import cached_property

EXACT_BELOW = 10_000


def table_estimate(queryset) -> int | None:
    """The planner's row count of the queryset's table (None when it was never analysed)."""
    table = queryset.model._meta.db_table
    with connections[queryset.db].cursor() as cursor:
        # The same arithmetic as the planner's own (estimate_rel_size): density at the last ANALYZE times the
        # table's current pages, so rows added since are reckoned without a new ANALYZE.
        cursor.execute(
            "SELECT reltuples, relpages, pg_relation_size(oid) / current_setting('block_size')::int "
            "FROM pg_class WHERE oid = %s::regclass",
            [connections[queryset.db].ops.quote_name(table)],
        )
        row = cursor.fetchone()
    if row is None or row[0] < 0:
        return None
    reltuples, relpages, pages = row
    if relpages <= 0:
        return int(reltuples)
    return int(reltuples / relpages * pages)


def query_estimate(queryset) -> int:
    """The planner's estimate of the rows the queryset returns (EXPLAIN, nothing run)."""
    sql, params = queryset.order_by().values("pk").query.sql_with_params()
    with connections[queryset.db].cursor() as cursor:
        cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
        plan = cursor.fetchone()[0]
    plan = json.loads(plan) if isinstance(plan, str) else plan
    return int(plan[0]["Plan"]["Plan Rows"])


def is_unfiltered(queryset) -> bool:
    """Whether the queryset is its whole table: no WHERE, no join that could drop or repeat rows, no DISTINCT."""
    query = queryset.query
    return not query.where and not query.distinct and not query.combinator and not query.is_sliced


class EstimatedCountPaginator(Paginator):
    """Counts exactly below `exact_below` rows; above, on PostgreSQL, reads the planner's estimate."""

    exact_below = EXACT_BELOW
    template_name = "console/pagination_estimated.html"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.is_estimated = False

    def _estimate(self) -> int | None:
        queryset = self.object_list
        if not hasattr(queryset, "query") or connections[queryset.db].vendor != "postgresql":
            return None
        if is_unfiltered(queryset):
            return table_estimate(queryset)
        try:
            return query_estimate(queryset)
        except EmptyResultSet:  # queryset.none(), or a filter that can match nothing: counted without a query
            return None

    @cached_property
    def count(self):
        estimate = self._estimate()
        if estimate is None or estimate < self.exact_below:
            return super().count
        self.is_estimated = True
        return estimate

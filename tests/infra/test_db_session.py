"""infra.db_session.planner_statistics_refresh on PostgreSQL: after a bulk load, a table that outgrew twice the
planner's row count is analysed, so the plans of its lookups and foreign-key checks use its indexes; a table within
its count, and a call inside a transaction, are left alone."""

import pytest
from django.db import connection, transaction

from infra.db_session import planner_statistics_refresh
from members.models import Tag

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def planner_count(model) -> float:
    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples FROM pg_class WHERE oid = %s::regclass", [model._meta.db_table])
        return cursor.fetchone()[0]


def loaded(count: int) -> None:
    """The planner sees an empty table, then `count` tags arrive (their count flushed to the statistics)."""
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {Tag._meta.db_table}")
    Tag.objects.bulk_create(Tag(name=f"tag {number}") for number in range(count))
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_force_next_flush()")


def test_a_table_that_outgrew_twice_the_planners_count_is_analysed():
    loaded(2_500)

    planner_statistics_refresh(Tag)

    assert planner_count(Tag) == 2_500


def test_a_table_within_twice_the_planners_count_is_left_alone():
    loaded(1_500)  # a count of 0 counts as 1,000

    planner_statistics_refresh(Tag)

    assert planner_count(Tag) == 0


def test_nothing_is_analysed_inside_a_transaction():
    loaded(2_500)

    with transaction.atomic():
        planner_statistics_refresh(Tag)

    assert planner_count(Tag) == 0

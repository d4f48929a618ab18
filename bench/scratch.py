"""Shared by the benchmarks: the guard that keeps them on a scratch database (they create and delete rows), and the
seeding of scratch members."""

import sys

from django.db import connection

SCRATCH_WORDS = ("bench", "test", "scratch", "helper")


def require_scratch_database():
    """Exit unless the configured database is named as a scratch one (e.g. .../bench or bench.sqlite3)."""
    name = str(connection.settings_dict["NAME"]).rsplit("/", 1)[-1].lower()
    if not any(word in name for word in SCRATCH_WORDS):
        sys.exit(
            f"refusing to run on database {name!r}: benchmarks write and delete rows. Point DATABASE_URL at a "
            "scratch database whose name contains 'bench', e.g. postgres://postgres@127.0.0.1:5432/bench "
            "or sqlite:///bench.sqlite3"
        )


def members_insert(count: int, *, tier_id: int, now, number_prefix: str, phone_prefix: str) -> None:
    """INSERT `count` active members of a tier with one generate_series statement (PostgreSQL): member numbers
    `number_prefix` + 9 digits, phones `phone_prefix` + 7 digits; every other column takes its model default."""
    from django.db import transaction

    from members.models import Member

    fixed = {
        "tier_id": tier_id,
        "status": Member.Status.ACTIVE,
        "joined_at": now,
        "created_at": now,
        "updated_at": now,
        "join_source": Member.JoinSource.CONSOLE,
    }
    columns, values, params = [], [], []
    for field in Member._meta.concrete_fields:
        if field.primary_key or field.column in ("member_number", "phone"):
            continue
        value = fixed[field.attname] if field.attname in fixed else field.get_default()
        columns.append(connection.ops.quote_name(field.column))
        values.append("%s")
        params.append(field.get_db_prep_save(value, connection))
    sql = (
        f"INSERT INTO {Member._meta.db_table} (member_number, phone, {', '.join(columns)}) "  # noqa: S608
        f"SELECT %s || lpad(n::text, 9, '0'), %s || lpad(n::text, 7, '0'), {', '.join(values)} "
        "FROM generate_series(1, %s) AS n"
    )
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, [number_prefix, phone_prefix, *params, count])
        cursor.execute(f"ANALYZE {Member._meta.db_table}")

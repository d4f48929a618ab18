"""Benchmark what each index of the member table costs a write that renames members (PostgreSQL).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_index .venv/bin/python bench/member_index_cost.py

Seeds --members bench members (generate_series), then times the member import's chunk statement
(`members.sql.import_members_update`: --chunk members renamed, with their history rows) with every index, and with
each non-unique member index dropped in turn; each variant runs in a transaction that is rolled back, --repeat times,
alternating. A renamed member cannot stay on its page (the name is indexed), so every index of the member is written.
Bench members have member numbers starting with 6 and are deleted afterwards.
Last line: RESULT member_index_cost chunk=<n> all_ms=<median> <index>_saved_ms=<median saving> ...
"""

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402

django.setup()

from bench.scratch import members_insert, require_scratch_database  # noqa: E402

require_scratch_database()

from django.core.management import call_command  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.utils import timezone  # noqa: E402

NUMBER_PREFIX = "6"
# The member indexes a variant drops (the unique ones and the primary key stay: the statement needs them).
DROPPABLE = [
    "member_name_prefix",
    "member_joined",
    "member_tier_status_bday_month",
    "member_store_balances",
    "member_last_purchase",
    "member_points_owed",
]


def bench_ids():
    from members.models import Member

    return list(
        Member.objects.filter(member_number__startswith=NUMBER_PREFIX).order_by("pk").values_list("pk", flat=True)
    )


def clean():
    from members.models import Member

    bench = Member.objects.filter(member_number__startswith=NUMBER_PREFIX)
    with transaction.atomic():
        Member.history.filter(member_number__startswith=NUMBER_PREFIX)._raw_delete(connection.alias)
        bench._raw_delete(connection.alias)


def rename_chunk(ids, *, drop: str | None, attempt: int) -> float:
    """Time one chunk statement renaming `ids`, with index `drop` dropped, in a transaction rolled back."""
    from members import sql

    now = timezone.now()
    members = [{"id": pk, "name": f"Renamed {pk} #{attempt}", "updated_at": now} for pk in ids]
    with transaction.atomic():
        if drop:
            with connection.cursor() as cursor:
                cursor.execute(f"DROP INDEX {connection.ops.quote_name(drop)}")
        started = time.perf_counter()
        sql.import_members_update(
            members=members, field_names=["name", "updated_at"], stamp=sql.HistoryStamp(now, "bench", None)
        )
        elapsed = time.perf_counter() - started
        transaction.set_rollback(True)
    with connection.cursor() as cursor:
        cursor.execute("VACUUM members_member")  # the rolled-back row versions, so every variant starts alike
    return elapsed


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--chunk", type=int, default=5_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    assert connection.vendor == "postgresql", "the chunk statement is PostgreSQL's"

    call_command("migrate", verbosity=0)
    from members.models import Tier

    clean()
    tier = Tier.objects.order_by("rank").first() or Tier.objects.create(code="IDX", name="Index bench", rank=1)
    members_insert(args.members, tier_id=tier.pk, now=timezone.now(), number_prefix=NUMBER_PREFIX, phone_prefix="+8525")
    with connection.cursor() as cursor:
        # Names and birthdays as an import leaves them (bench/import_members.py), so each index holds real keys.
        cursor.execute(
            "UPDATE members_member SET name = 'Member ' || id, "
            "birthday = date '1950-01-01' + abs(hashint4(id::int)) %% 20000 WHERE member_number LIKE %s",
            [NUMBER_PREFIX + "%"],
        )
        cursor.execute("VACUUM ANALYZE members_member")
    ids = bench_ids()
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexname FROM pg_indexes WHERE tablename = 'members_member'")
        present = {name for (name,) in cursor.fetchall()}
    variants = [None, *(name for name in DROPPABLE if name in present)]
    times = {variant: [] for variant in variants}
    chunks = len(ids) // args.chunk
    for attempt in range(args.repeat):
        for position, variant in enumerate(variants):
            start = ((attempt * len(variants) + position) % chunks) * args.chunk  # a fresh chunk of members each time
            times[variant].append(rename_chunk(ids[start : start + args.chunk], drop=variant, attempt=attempt))
    clean()

    every = statistics.median(times[None]) * 1000
    print(f"{args.chunk} members renamed with every index: {every:.1f} ms (median of {args.repeat})")
    savings = {}
    for variant in variants[1:]:
        savings[variant] = every - statistics.median(times[variant]) * 1000
        print(f"  without {variant}: saves {savings[variant]:.1f} ms")
    figures = " ".join(f"{name}_saved_ms={saved:.0f}" for name, saved in savings.items())
    print(f"RESULT member_index_cost chunk={args.chunk} all_ms={every:.0f} {figures}")


if __name__ == "__main__":
    main()

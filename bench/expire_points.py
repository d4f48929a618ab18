"""Benchmark the scheduled points expiry (PostgreSQL).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/helper_points \
        .venv/bin/python bench/expire_points.py --lots 1000000 --members 200000

Creates M members holding N available lots, all past their expiry, with their accrual entries and cached
balances consistent with the ledger (generate_series in SQL). Then, on the same data:
- times the bare reference `UPDATE lots SET remaining = 0 WHERE expires_at < now AND remaining > 0` on a copy
  of the bench lots (CREATE TABLE ... AS SELECT, given the same indexes and CHECK constraints as the lots
  table, so the statement pays the index upkeep and checks the real table would);
- times the expiry job as it runs in production: the scheduled task `points.expire_points` sent to the broker
  (CELERY_BROKER_URL), on a Celery worker the bench starts with --workers processes; the task fans chunks of
  members out as chunk tasks (one transaction per chunk, each lot getting its expiration entry and allocation,
  balances lowered), timed until no due lot is left; then checks the ledger: no drift for a sample of members,
  one entry per lot, nothing left in the lots, and a second run expires nothing.
Bench members have member numbers starting with 7 and are deleted before (and, without --keep, after) a run.
Last line: RESULT expire_points lots=<n> lots_per_s=<n> reference_seconds=<s> seconds=<s> ratio=<r> workers=<n>
"""

import argparse
import os
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402

from bench import workers  # noqa: E402 - sets the broker before the settings load

django.setup()

from bench.scratch import require_scratch_database  # noqa: E402

require_scratch_database()

from django.db import connection, transaction  # noqa: E402
from django.utils import timezone  # noqa: E402

NUMBER_PREFIX = "7"
BENCH_MEMBERS = "SELECT id FROM members_member WHERE member_number LIKE '7%%'"
COPY = "bench_expire_lots_copy"


def clean():
    with connection.cursor() as cursor, transaction.atomic():
        cursor.execute(f"DROP TABLE IF EXISTS {COPY}")
        cursor.execute(
            "DELETE FROM members_pointsallocation WHERE lot_id IN "  # noqa: S608
            f"(SELECT id FROM members_pointslot WHERE member_id IN ({BENCH_MEMBERS}))"
        )
        cursor.execute(f"DELETE FROM members_pointslot WHERE member_id IN ({BENCH_MEMBERS})")  # noqa: S608
        cursor.execute(f"DELETE FROM members_pointsentry WHERE member_id IN ({BENCH_MEMBERS})")  # noqa: S608
        cursor.execute("DELETE FROM members_member WHERE member_number LIKE '7%%'")


def setup(*, lots: int, members: int, now):
    clean()
    with connection.cursor() as cursor, transaction.atomic():
        cursor.execute(
            "INSERT INTO members_member (member_number, phone, wechat_unionid, name, gender, email, locale, "
            "join_source, status, consent_marketing, consent_sms, consent_email, consent_wechat, points_balance, "
            "points_debt, points_pending, purchase_count, total_spend, stored_value_balance, joined_at, "
            "created_at, updated_at) "
            "SELECT %s || lpad(g::text, 9, '0'), '+8527' || lpad(g::text, 7, '0'), '', 'Bench ' || g, '', '', "
            "'en', 'import', 'active', false, false, false, false, 0, 0, 0, 0, 0, 0, %s, %s, %s "
            "FROM generate_series(1, %s) g",
            [NUMBER_PREFIX, now, now, now, members],
        )
        cursor.execute("SELECT min(id) FROM members_member WHERE member_number LIKE '7%%'")
        first_id = cursor.fetchone()[0]
        # One accrual entry per lot, 50-149 points, earned 400 days ago; balance_after runs per member.
        cursor.execute(
            "INSERT INTO members_pointsentry (member_id, kind, delta, balance_after, debt_after, idempotency_key, "
            "source, reason, breakdown, created_at) "
            "SELECT m, 'accrual', p, SUM(p) OVER (PARTITION BY m ORDER BY g), 0, 'bx:' || g, 'bench', '', "
            "'{}'::jsonb, %s - interval '400 days' "
            "FROM (SELECT g, %s + (g %% %s) AS m, 50 + (g::bigint * 7919) %% 100 AS p "
            "      FROM generate_series(0, %s - 1) g) s",
            [now, first_id, members, lots],
        )
        # Each lot expired 1 to 30 days ago, nothing spent from it.
        cursor.execute(
            "INSERT INTO members_pointslot (member_id, entry_id, points, remaining, is_active, activates_at, "
            "expires_at) "
            "SELECT member_id, id, delta, delta, true, created_at, %s - interval '1 day' * (1 + id %% 30) "
            f"FROM members_pointsentry WHERE member_id IN ({BENCH_MEMBERS})",  # noqa: S608
            [now],
        )
        cursor.execute(
            "UPDATE members_member m SET points_balance = t.total FROM "  # noqa: S608
            "(SELECT member_id, SUM(delta) AS total FROM members_pointsentry "
            f" WHERE member_id IN ({BENCH_MEMBERS}) GROUP BY member_id) t WHERE m.id = t.member_id"
        )
    with connection.cursor() as cursor:
        for table in ("members_member", "members_pointsentry", "members_pointslot", "members_pointsallocation"):
            cursor.execute(f"VACUUM ANALYZE {table}")


def reference(now) -> tuple[float, int]:
    """The bare UPDATE, on a copy of the bench lots carrying the lots table's indexes."""
    with connection.cursor() as cursor:
        with transaction.atomic():
            cursor.execute(
                f"CREATE TABLE {COPY} AS SELECT * FROM members_pointslot "  # noqa: S608
                f"WHERE member_id IN ({BENCH_MEMBERS})"
            )
            cursor.execute("SELECT indexdef FROM pg_indexes WHERE tablename = 'members_pointslot'")
            for (definition,) in cursor.fetchall():
                definition = definition.replace("public.members_pointslot", COPY).replace(
                    "INDEX ", "INDEX bench_copy_", 1
                )
                cursor.execute(definition)
            # The real table also checks its CHECK constraints on every updated row.
            cursor.execute(
                "SELECT pg_get_constraintdef(oid) FROM pg_constraint "
                "WHERE conrelid = 'members_pointslot'::regclass AND contype = 'c'"
            )
            for (definition,) in cursor.fetchall():
                cursor.execute(f"ALTER TABLE {COPY} ADD {definition}")
        cursor.execute(f"VACUUM ANALYZE {COPY}")
        cursor.execute("CHECKPOINT")
        started = time.perf_counter()
        with transaction.atomic():
            cursor.execute(f"UPDATE {COPY} SET remaining = 0 WHERE expires_at < %s AND remaining > 0", [now])  # noqa: S608
            updated = cursor.rowcount
        seconds = time.perf_counter() - started
        cursor.execute(f"DROP TABLE {COPY}")
    return seconds, updated


def not_due_from(lowest: list[int], now) -> bool:
    """Whether no bench lot is due any more. The chunks expire members in ascending id order, so each poll reads the
    open lots' partial index from the lowest member found due by the last poll: a handful of index entries, where a
    plain EXISTS over the bench's lots (a join on the members' numbers) scanned both tables every poll and took
    PostgreSQL's CPU from the job it timed."""
    from members.models import PointsLot

    found = (
        PointsLot.objects.filter(member_id__gte=lowest[0], is_active=True, remaining__gt=0, expires_at__lte=now)
        .order_by("member_id")
        .values_list("member_id", flat=True)
        .first()
    )
    if found is None:
        return True
    lowest[0] = found
    return False


def check(now, *, members: int) -> str:
    from members.models import Member, PointsEntry, PointsLot
    from members.services.ledger import points_ledger_drift
    from points.services.expiry import members_with_due_lots, points_expire_chunk

    bench_ids = list(
        Member.objects.filter(member_number__startswith=NUMBER_PREFIX).order_by("pk").values_list("pk", flat=True)
    )
    sample = random.Random(7).sample(bench_ids, min(2000, len(bench_ids)))
    drift = points_ledger_drift(member_ids=sample)
    expired = PointsEntry.objects.filter(member_id__in=sample, kind="expiration").count()
    left = PointsLot.objects.filter(member__member_number__startswith=NUMBER_PREFIX, remaining__gt=0).count()
    entries = PointsEntry.objects.filter(member__member_number__startswith=NUMBER_PREFIX, kind="expiration").count()
    balances = Member.objects.filter(member_number__startswith=NUMBER_PREFIX, points_balance__gt=0).count()
    # In this process: every due lot would be in some chunk, so the chunks' count says whether anything is left.
    again = sum(
        points_expire_chunk(first_id=ids[0], last_id=ids[-1], now=now) for ids in members_with_due_lots(now=now)
    )
    return (
        f"check: drift in a sample of {len(sample)} members={len(drift)} (their expiration entries={expired}); "
        f"expiration entries={entries}; lots with points left={left}; members with a balance={balances}; "
        f"second run expired={again}"
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lots", type=int, default=1_000_000)
    parser.add_argument("--members", type=int, default=200_000)
    workers.add_arguments(parser)
    parser.add_argument("--keep", action="store_true", help="keep the bench data afterwards")
    args = parser.parse_args()
    if connection.vendor != "postgresql":
        sys.exit("needs PostgreSQL: set DATABASE_URL=postgres://...")
    from members.models import PointsLot
    from points.services.expiry import EXPIRY_MEMBERS_PER_CHUNK
    from points.tasks import expire_points

    now = timezone.now()
    started = time.perf_counter()
    setup(lots=args.lots, members=args.members, now=now)
    print(f"db=postgresql lots={args.lots} members={args.members} setup={time.perf_counter() - started:.1f}s")

    reference_seconds, updated = reference(now)
    print(f"reference UPDATE on a copy: {updated} lots in {reference_seconds:.2f}s")

    with connection.cursor() as cursor:
        cursor.execute("CHECKPOINT")
    chunk = EXPIRY_MEMBERS_PER_CHUNK
    due = PointsLot.objects.filter(
        member__member_number__startswith=NUMBER_PREFIX, is_active=True, remaining__gt=0, expires_at__lte=now
    )
    lots = due.count()
    first_member = [due.order_by("member_id").values_list("member_id", flat=True).first()]
    with workers.celery_workers(args.workers):
        started = time.perf_counter()
        expire_points.delay()
        workers.wait_until(lambda: not_due_from(first_member, now), interval=0.1)
        seconds = time.perf_counter() - started
    print(
        f"expiry job (points.expire_points on the broker, {chunk} members per chunk task, workers={args.workers}): "
        f"{lots} lots in {seconds:.2f}s"
    )
    print(check(now, members=args.members))
    if not args.keep:
        clean()
    print(
        f"RESULT expire_points lots={lots} lots_per_s={lots / seconds:.0f} reference_seconds={reference_seconds:.2f} "
        f"seconds={seconds:.2f} ratio={seconds / reference_seconds:.2f} workers={args.workers}"
    )


if __name__ == "__main__":
    main()

"""Benchmark a segment's live count and its freeze (PostgreSQL).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_segments \
        .venv/bin/python bench/segment_count.py --members 1000000

Creates N active members (with generate_series in SQL) over 5 tiers and 8 stores, birthdays over 55 years (10 %
unknown), SMS consent for half of them, and about 3 purchases each over the last two years (10 % never bought);
each member's last purchase date is set from their purchases, as the purchase writer keeps it. Then, for a
segment of five conditions (tier, days since the last purchase, spend band over a year, SMS consent, birthday
month), it times:
- the count the console's editor shows (`segment_members(...).count()`, one query; the median of --repeat runs
  after one warm-up run);
- the freeze of the segment for a run (`segment_freeze`: one INSERT ... SELECT into the snapshot table, with its
  commit), and the same freeze asked again (idempotent: nothing written).
The plan of the count is printed. Bench members have member numbers starting with 7 and are deleted before each
run (and after it with --clean); --reuse keeps those of the last run when there are as many (seeding takes minutes).
Then it freezes a segment of most members (every tier but the first, a purchase in two years) to show the
statement at scale.
Last line: RESULT segment_count members=<n> count_ms=<ms> freeze_s=<s> matched=<n> refreeze_ms=<ms>
big_frozen=<n> freeze_big_s=<s>
"""

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.pop("CELERY_BROKER_URL", None)

import django  # noqa: E402

django.setup()

from bench.scratch import require_scratch_database  # noqa: E402

require_scratch_database()

from django.db import connection, transaction  # noqa: E402
from django.utils import timezone  # noqa: E402

NUMBER_PREFIX = "7"
BENCH = "SELECT id FROM members_member WHERE member_number LIKE '7%%'"


def setup(n: int, now, *, reuse: bool = False) -> dict:
    from members.models import Store, Tier

    tiers = [
        Tier.objects.get_or_create(rank=rank, defaults={"code": f"S{rank}", "name": f"Segment tier {rank}"})[0].pk
        for rank in range(1, 6)
    ]
    stores = [Store.objects.get_or_create(code=f"bench-s{i}", defaults={"name": f"Bench {i}"})[0].pk for i in range(8)]
    if reuse:
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM members_member WHERE member_number LIKE '7%%'")
            if cursor.fetchone()[0] == n:
                print(f"reusing the {n} bench members of the last run", flush=True)
                clean_freezes()
                return {"tiers": tiers}
    clean()
    started = time.perf_counter()
    with connection.cursor() as cursor, transaction.atomic():
        cursor.execute(
            "INSERT INTO members_member (member_number, phone, wechat_unionid, name, gender, email, locale, "
            "join_source, status, consent_marketing, consent_sms, consent_email, consent_wechat, points_balance, "
            "points_debt, points_pending, purchase_count, total_spend, stored_value_balance, tier_id, home_store_id, "
            "birthday, joined_at, created_at, updated_at) "
            "SELECT %s || lpad(g::text, 9, '0'), '+8526' || lpad(g::text, 7, '0'), '', 'Bench ' || g, "
            "(ARRAY['f', 'm', ''])[1 + (hashint4(g + 1) & 1)], '', 'en', 'import', 'active', "
            "(hashint4(g + 2) & 1) = 0, (hashint4(g + 3) & 1) = 0, false, false, abs(hashint4(g + 4)) %% 5000, "
            "0, 0, 0, 0, 0, (%s::bigint[])[1 + abs(hashint4(g + 5)) %% 5], (%s::bigint[])[1 + (hashint4(g + 6) & 7)], "
            "CASE WHEN abs(hashint4(g + 7)) %% 10 = 0 THEN NULL "
            "     ELSE date '1950-01-01' + abs(hashint4(g + 8)) %% 20000 END, %s, %s, %s "
            "FROM generate_series(1, %s) g",
            [NUMBER_PREFIX, tiers, stores, now, now, now, n],
        )
        cursor.execute("SELECT min(id) FROM members_member WHERE member_number LIKE %s", [NUMBER_PREFIX + "%"])
        first_id = cursor.fetchone()[0]
        # ~3 purchases per member over two years for 90 % of them, HK$50-3,000 each.
        cursor.execute(
            "INSERT INTO members_purchase (member_id, store_id, channel, external_id, purchased_at, gross_amount, "
            "discount_amount, points_value_amount, stored_value_amount, paid_amount, payment_method, status, "
            "created_at) "
            "SELECT m, (%s::bigint[])[1 + (hashint4(g) & 7)], 'pos', 'bs-' || g, "
            "%s - (random() * 730) * interval '1 day', a, 0, 0, 0, a, 'card', 'completed', %s "
            "FROM (SELECT g, %s + (g %% %s) AS m, round((50 + random() * 2950)::numeric, 2) AS a "
            "      FROM generate_series(1, %s) g) s "
            "WHERE (m - %s) %% 10 <> 0",
            [stores, now, now, first_id, n, n * 3, first_id],
        )
        cursor.execute(
            "UPDATE members_member m SET last_purchase_at = p.last, first_purchase_at = p.first, "
            "purchase_count = p.count, total_spend = p.spend "
            "FROM (SELECT member_id, max(purchased_at) AS last, min(purchased_at) AS first, count(*) AS count, "
            "      sum(paid_amount) AS spend FROM members_purchase WHERE external_id LIKE 'bs-%%' "
            "      GROUP BY member_id) p WHERE m.id = p.member_id"
        )
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE members_member")
        cursor.execute("VACUUM ANALYZE members_purchase")
    print(f"seeded {n} members in {time.perf_counter() - started:.1f} s", flush=True)
    return {"tiers": tiers}


def clean_freezes():
    from campaigns.models import SegmentFreeze

    with connection.cursor() as cursor, transaction.atomic():
        freezes = SegmentFreeze.objects.filter(segment__name="Bench segment")
        cursor.execute(
            "DELETE FROM campaigns_segmentmember WHERE freeze_id = ANY(%s)",
            [list(freezes.values_list("pk", flat=True))],
        )
        freezes.delete()


def clean():
    clean_freezes()
    with connection.cursor() as cursor, transaction.atomic():
        cursor.execute(f"DELETE FROM members_purchase WHERE member_id IN ({BENCH})")  # noqa: S608
        cursor.execute(f"DELETE FROM members_member_tags WHERE member_id IN ({BENCH})")  # noqa: S608
        cursor.execute("DELETE FROM members_member WHERE member_number LIKE '7%%'")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--clean", action="store_true", help="delete the bench rows afterwards")
    parser.add_argument("--reuse", action="store_true", help="keep the members of the last run when as many")
    args = parser.parse_args()
    if connection.vendor != "postgresql":
        sys.exit("this benchmark needs PostgreSQL (DATABASE_URL=postgres://...)")

    from campaigns.models import Segment
    from campaigns.segments.schema import rule_errors
    from campaigns.selectors.segments import jit_off, segment_members
    from campaigns.services.segments import segment_freeze

    now = timezone.now()
    seeded = setup(args.members, now, reuse=args.reuse)
    rule = {
        "match": "all",
        "conditions": [
            {"field": "tier", "op": "in", "value": seeded["tiers"][1:3]},
            {"field": "days_since_last_purchase", "op": "gte", "value": 21},
            {"field": "spend", "op": "between", "value": [500, 5000], "days": 365},
            {"field": "consent", "channel": "sms", "op": "is", "value": True},
            {"field": "birthday_month", "op": "in", "value": [timezone.localdate(now).month]},
        ],
    }
    assert rule_errors(rule) == []
    segment, _created = Segment.objects.update_or_create(name="Bench segment", defaults={"rule": rule})

    members = segment_members(rule=rule, now=now)
    sql, params = members.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) SELECT count(*) FROM ({sql}) s", params)  # noqa: S608
        print("\n".join(row[0] for row in cursor.fetchall()), flush=True)

    with jit_off():
        members.count()  # warm-up
    timings = []
    for _run in range(args.repeat):
        started = time.perf_counter()
        with jit_off():  # as the editor's count runs (segment_preview)
            matched = segment_members(rule=rule, now=now).count()
        timings.append((time.perf_counter() - started) * 1000)
    count_ms = statistics.median(timings)
    print(f"count: {matched} members, runs (ms): {', '.join(f'{t:.0f}' for t in timings)}", flush=True)

    key = f"bench:{time.time_ns()}"
    started = time.perf_counter()
    freeze, created = segment_freeze(segment_id=segment.pk, key=key, now=now)
    freeze_s = time.perf_counter() - started
    assert created
    assert freeze.member_count == matched, (freeze.member_count, matched)
    started = time.perf_counter()
    again, created = segment_freeze(segment_id=segment.pk, key=key, now=now)
    refreeze_ms = (time.perf_counter() - started) * 1000
    assert not created
    assert again.pk == freeze.pk
    print(f"freeze: {freeze.member_count} members in {freeze_s:.2f} s; asked again: {refreeze_ms:.1f} ms", flush=True)

    # The same statement at scale: a segment of most members (two conditions), frozen for a run.
    big_rule = {
        "match": "all",
        "conditions": [
            {"field": "tier", "op": "not_in", "value": seeded["tiers"][:1]},
            {"field": "days_since_last_purchase", "op": "lte", "value": 730},
        ],
    }
    big, _created = Segment.objects.update_or_create(name="Bench segment", defaults={"rule": big_rule})
    started = time.perf_counter()
    big_freeze, _created = segment_freeze(segment_id=big.pk, key=f"{key}:big", now=now)
    freeze_big_s = time.perf_counter() - started
    print(f"big freeze: {big_freeze.member_count} members in {freeze_big_s:.2f} s", flush=True)

    if args.clean:
        clean()
    print(
        f"RESULT segment_count members={args.members} count_ms={count_ms:.0f} freeze_s={freeze_s:.2f} "
        f"matched={matched} refreeze_ms={refreeze_ms:.1f} big_frozen={big_freeze.member_count} "
        f"freeze_big_s={freeze_big_s:.2f}"
    )


if __name__ == "__main__":
    main()

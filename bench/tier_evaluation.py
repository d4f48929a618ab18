"""Benchmark the scheduled tier review (PostgreSQL).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/helper_tiers \
        .venv/bin/python bench/tier_evaluation.py --members 200000

Creates N members in the entry tier with about 5 purchases each over two years (and one points accrual per
purchase) with generate_series in SQL, then on the same starting state:
- times one hand-written `UPDATE ... FROM (aggregate over the window)` assigning tiers by spend alone
  (the physical limit);
- times the full review the scheduled job runs: the chunk tasks of `tier_evaluation_task` (five weighted
  indicators, reach/keep thresholds, grace periods, TierHistory rows, tier_changed after commit), run
  in-process one chunk after another (the chunks of one review are independent: N Celery workers divide the
  time by up to N, which bench/expire_points.py and bench/import_members.py measure for their jobs).
2% of the members hold a running paid plan (Platinum), which the review must not go below.
Bench members have member numbers starting with 8 and are deleted before each run (and after it with --clean).
With --path orm the review runs its portable ORM reference instead of the PostgreSQL statement.
Last line: RESULT tier_evaluation path=<sql|orm> members=<n> seconds=<s> members_per_s=<n> sql_seconds=<s> ratio=<r>
"""

import argparse
import os
import sys
import time
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.pop("CELERY_BROKER_URL", None)  # chunk tasks run in-process: we time the review, not a queue

import django  # noqa: E402

django.setup()

from bench.scratch import require_scratch_database  # noqa: E402

require_scratch_database()

from django.db import connection, transaction  # noqa: E402
from django.utils import timezone  # noqa: E402

TIERS = [  # code, name, rank, reach, keep
    ("V1", "Silver", 1, 0, 0),
    ("V2", "Gold", 2, 4000, 3000),
    ("V3", "Platinum", 3, 9000, 7500),
    ("V4", "Diamond", 4, 16000, 13000),
]
NUMBER_PREFIX = "8"


def setup(n: int, now) -> dict:
    from members.models import MembershipPlan, Store, Tier, TierPolicy

    for code, name, rank, reach, keep in TIERS:
        Tier.objects.update_or_create(
            rank=rank,
            defaults={"code": code, "name": name, "min_score_to_reach": reach, "min_score_to_keep": keep},
        )
    policy = TierPolicy.load()
    policy.window_days, policy.grace_period_days = 365, 30
    policy.weight_spend, policy.weight_purchases, policy.weight_points = Decimal(1), Decimal(100), Decimal("0.5")
    policy.weight_active_days, policy.weight_stores = Decimal(50), Decimal(200)
    policy.save()
    stores = [Store.objects.get_or_create(code=f"bench-t{i}", defaults={"name": f"Bench {i}"})[0].pk for i in range(8)]
    tiers = {code: Tier.objects.get(code=code).pk for code, *_rest in TIERS}
    plan, _created = MembershipPlan.objects.get_or_create(
        name="Bench Platinum", defaults={"price": Decimal(888), "tier_id": tiers["V3"], "duration_value": 1}
    )
    clean()
    with connection.cursor() as cursor, transaction.atomic():
        cursor.execute(
            "INSERT INTO members_member (member_number, phone, wechat_unionid, name, gender, email, locale, "
            "join_source, status, consent_marketing, consent_sms, consent_email, consent_wechat, points_balance, "
            "points_debt, points_pending, purchase_count, total_spend, stored_value_balance, tier_id, joined_at, "
            "created_at, updated_at) "
            "SELECT %s || lpad(g::text, 9, '0'), '+8525' || lpad(g::text, 7, '0'), '', 'Bench ' || g, '', '', "
            "'en', 'import', 'active', false, false, false, false, 0, 0, 0, 0, 0, 0, %s, %s, %s, %s "
            "FROM generate_series(1, %s) g",
            [NUMBER_PREFIX, tiers["V1"], now, now, now, n],
        )
        cursor.execute("SELECT min(id) FROM members_member WHERE member_number LIKE %s", [NUMBER_PREFIX + "%"])
        first_id = cursor.fetchone()[0]
        # ~5 purchases per member (1 to 9) over two years, amounts HK$50-3,000, in one of 8 stores.
        cursor.execute(
            "INSERT INTO members_purchase (member_id, store_id, channel, external_id, purchased_at, gross_amount, "
            "discount_amount, points_value_amount, stored_value_amount, paid_amount, payment_method, status, "
            "created_at) "
            "SELECT m, (%s::bigint[])[1 + (hashint4(g) & 7)], 'pos', 'bt-' || g, "
            "%s - (random() * 730) * interval '1 day', a, 0, 0, 0, a, 'card', 'completed', %s "
            "FROM (SELECT g, %s + (g %% %s) AS m, round((50 + random() * 2950)::numeric, 2) AS a "
            "      FROM generate_series(1, %s) g WHERE random() < 0.9 OR g <= %s) s",
            [stores, now, now, first_id, n, n * 5 + n // 2, n],
        )
        cursor.execute(
            "INSERT INTO members_memberplansubscription (member_id, source, plan_id, tier_id, price, starts_at, "
            "ends_at, provider, transaction_id, created_at) "
            "SELECT id, 'plan', %s, %s, 888, %s - interval '10 days', %s + interval '20 days', 'bench', "
            "'bp-' || id, %s FROM members_member WHERE member_number LIKE %s AND id %% 50 = 0",
            [plan.pk, tiers["V3"], now, now, now, NUMBER_PREFIX + "%"],
        )
        cursor.execute(
            "INSERT INTO members_pointsentry (member_id, kind, delta, balance_after, debt_after, idempotency_key, "
            "source, reason, breakdown, created_at) "
            "SELECT member_id, 'accrual', greatest(1, floor(paid_amount / 10)::int), 0, 0, 'bt:' || id, 'bench', "
            "'', '{}'::jsonb, purchased_at FROM members_purchase WHERE external_id LIKE 'bt-%%'"
        )
    with connection.cursor() as cursor:
        cursor.execute(
            "ANALYZE members_member; ANALYZE members_purchase; ANALYZE members_pointsentry; "
            "ANALYZE members_memberplansubscription"
        )
    return tiers


def clean():
    with connection.cursor() as cursor, transaction.atomic():
        bench = "SELECT id FROM members_member WHERE member_number LIKE '8%%'"
        delete_notifications(cursor)
        cursor.execute(f"DELETE FROM members_tierhistory WHERE member_id IN ({bench})")  # noqa: S608
        cursor.execute(f"DELETE FROM members_pointsentry WHERE member_id IN ({bench})")  # noqa: S608
        cursor.execute(f"DELETE FROM members_memberplansubscription WHERE member_id IN ({bench})")  # noqa: S608
        cursor.execute(f"DELETE FROM members_purchase WHERE member_id IN ({bench})")  # noqa: S608
        cursor.execute("DELETE FROM members_member WHERE member_number LIKE '8%%'")


def delete_notifications(cursor):
    """The bench members' tier-move notifications and their outbox messages (each review writes them)."""
    notifications = (
        "SELECT id FROM members_notification WHERE member_id IN "
        "(SELECT id FROM members_member WHERE member_number LIKE '8%%')"
    )
    cursor.execute(f"DELETE FROM members_outboxmessage WHERE notification_id IN ({notifications})")  # noqa: S608
    cursor.execute(f"DELETE FROM members_notification WHERE id IN ({notifications})")  # noqa: S608


def reset(tiers):
    with connection.cursor() as cursor:
        with transaction.atomic():
            delete_notifications(cursor)
            cursor.execute("DELETE FROM members_tierhistory WHERE member_id IN "
                           "(SELECT id FROM members_member WHERE member_number LIKE '8%%')")  # fmt: skip
            cursor.execute(
                "UPDATE members_member SET tier_id = %s, tier_below_keep_since = NULL WHERE member_number LIKE '8%%'",
                [tiers["V1"]],
            )
        cursor.execute("VACUUM ANALYZE members_member")
        cursor.execute("VACUUM ANALYZE members_tierhistory")


def baseline(tiers, now) -> float:
    """One statement: tiers by spend over the window, for every member (the physical limit)."""
    reach = " ".join(f"WHEN a.spend >= {reach} THEN {tiers[code]}" for code, _n, _r, reach, _k in reversed(TIERS))
    started = time.perf_counter()
    with connection.cursor() as cursor, transaction.atomic():
        cursor.execute(
            f"UPDATE members_member m SET tier_id = CASE {reach} END "  # noqa: S608
            "FROM (SELECT member_id, SUM(paid_amount) AS spend FROM members_purchase "
            "      WHERE purchased_at > %s AND purchased_at <= %s GROUP BY member_id) a "
            "WHERE m.id = a.member_id",
            [now - timedelta(days=365), now],
        )
    return time.perf_counter() - started


def full_review(now) -> tuple[float, int, int]:
    """The scheduled job: tier_evaluation_task's chunks, each through tier_evaluate_chunk_task."""
    from members.services.tiers import tier_evaluation_chunks, tier_review_mark
    from members.tasks import tier_evaluate_chunk_task

    started = time.perf_counter()
    chunks = tier_evaluation_chunks()
    tier_review_mark(now=now)

    results = [tier_evaluate_chunk_task(first_id=first, last_id=last, now=now.isoformat()) for first, last in chunks]
    seconds = time.perf_counter() - started
    return seconds, sum(r["upgrades"] for r in results), sum(r["downgrades"] for r in results)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=200_000)
    parser.add_argument(
        "--path", choices=("sql", "orm"), default="sql",
        help="the review's PostgreSQL statement (members/sql.py, what production runs) or its portable ORM reference",
    )  # fmt: skip
    parser.add_argument(
        "--clean", action="store_true", help="delete the bench data afterwards (the next run deletes it anyway)"
    )
    args = parser.parse_args()
    if connection.vendor != "postgresql":
        sys.exit("needs PostgreSQL: set DATABASE_URL=postgres://...")
    from members.models import Purchase, TierHistory

    if args.path == "orm":  # the reference the statement replaces on PostgreSQL, to show what the statement pays
        from members import sql
        from members.services.tiers import tier_review_orm

        sql.tier_review_apply = tier_review_orm
    n = args.members
    now = timezone.now()
    started = time.perf_counter()
    tiers = setup(n, now)
    orders = Purchase.objects.filter(external_id__startswith="bt-").count()
    print(f"db=postgresql members={n} purchases={orders} setup={time.perf_counter() - started:.1f}s")

    reset(tiers)
    sql_seconds = baseline(tiers, now)
    print(f"hand-written UPDATE ... FROM (spend over the window): {sql_seconds:.2f}s {n / sql_seconds:,.0f} members/s")

    reset(tiers)
    seconds, upgrades, downgrades = full_review(now)
    history = TierHistory.objects.filter(member__member_number__startswith=NUMBER_PREFIX).count()
    print(
        f"full review (path={args.path}): {seconds:.2f}s {n / seconds:,.0f} members/s; "
        f"upgrades={upgrades} downgrades={downgrades} history rows={history}"
    )
    again, upgrades_again, downgrades_again = full_review(now + timedelta(hours=72))
    print(f"second review 72 h later (steady state): {again:.2f}s {n / again:,.0f} members/s; "
          f"upgrades={upgrades_again} downgrades={downgrades_again}")  # fmt: skip
    if args.clean:  # deleting a million members with their history takes longer than the review itself
        clean()
    print(
        f"RESULT tier_evaluation path={args.path} members={n} seconds={seconds:.2f} members_per_s={n / seconds:.0f} "
        f"sql_seconds={sql_seconds:.2f} ratio={seconds / sql_seconds:.2f}"
    )


if __name__ == "__main__":
    main()

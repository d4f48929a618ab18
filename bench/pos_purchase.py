"""Benchmark POS purchases over HTTP: gunicorn on PostgreSQL, 100,000 members, 16 concurrent tills.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench .venv/bin/python bench/pos_purchase.py

Creates 100,000 scratch members (member numbers starting with 6, each with 1,000 points) with
generate_series in SQL, demo-like earning rules (HK$100 = 10 points, double points at weekends, a tier-free
first-purchase bonus, a category bonus), a store and its POS key; starts gunicorn on a free 127.0.0.1 port
against the same DATABASE_URL, configured as deployed by the project's gunicorn.conf.py (sync workers, two per
core plus one; --workers/--threads override it); warms every worker up (pings, then `--warmup` seconds of
purchases), then, from this second process, drives for a fixed time, in `--rounds` alternating slices (so that
background load on a shared machine weighs on both alike):
1. POST /api/v1/pos/purchases (unique external ids, random members by member number, 3 items, a third of them
   spending 100 points) from `--clients` threads, each with one keep-alive connection;
2. the same for GET /api/v1/pos/ping, a trivial DRF view behind the same POS key authentication;
3. the issue's naive reference, POST /bench/naive-purchase (bench/urls.py: lock the member, insert a ledger
   row, update the balance), on the other half of the members, so its p99 on this machine at this moment
   puts the purchase's p99 in context.
Prints requests/s of each, the purchase/trivial ratio, p50/p99 and the client's own CPU use (the client must
not starve the server); checks the ledger of a sample of the members who bought (no drift). Scratch rows are
deleted afterwards unless --keep. With --tiers (on a database without tiers), the demo's four tiers and
thresholds are configured and the members start in the first: each purchase then also runs the instant tier
evaluation (the score over the member's year of purchases).
Last line: RESULT pos_purchase rps=<n> trivial_rps=<n> ratio=<r> p99_ms=<n> naive_rps=<n> naive_p99_ms=<n>
"""

import argparse
import http.client
import json
import os
import random
import resource
import runpy
import socket
import subprocess
import sys
import threading
import time
import uuid
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.pop("CELERY_BROKER_URL", None)

import django  # noqa: E402

django.setup()

from bench.scratch import require_scratch_database  # noqa: E402

require_scratch_database()

from django.db import connection, transaction  # noqa: E402
from django.utils import timezone  # noqa: E402

NUMBER_PREFIX = "6"
BENCH_MEMBERS = "SELECT id FROM members_member WHERE member_number LIKE '6%%'"
STORE_CODE = "bench-pos"
RULES = [  # name, kind, priority, fields
    ("Bench: HK$100 = 10 points", "base_rate", 9001, {"amount_per_unit": Decimal(100), "points_per_unit": 10}),
    ("Bench: double points at weekends", "multiplier", 9002, {"multiplier": Decimal(2), "weekdays": [5, 6]}),
    ("Bench: first purchase +50", "bonus_first_purchase", 9003, {"bonus_points": 50}),
    ("Bench: shoes +20 per pair", "bonus_category", 9004, {"category": "shoes", "bonus_points": 20}),
]
TIERS = [  # code, name, rank, earn multiplier, score to reach, score to keep: the demo's
    ("BV1", "Bench Silver", 1, "1.00", "0", "0"),
    ("BV2", "Bench Gold", 2, "1.20", "5000", "3000"),
    ("BV3", "Bench Platinum", 3, "1.50", "9000", "7000"),
    ("BV4", "Bench Diamond", 4, "2.00", "12000", "10000"),
]


def clean():
    from members.models import Store

    store = Store.objects.filter(code=STORE_CODE).first()
    with connection.cursor() as cursor, transaction.atomic():
        purchases = f"SELECT id FROM members_purchase WHERE member_id IN ({BENCH_MEMBERS})"
        cursor.execute(
            "DELETE FROM points_purchasecheckout WHERE purchase_id IN "  # noqa: S608
            f"({purchases})"
        )
        cursor.execute(
            "DELETE FROM members_pointsallocation WHERE lot_id IN "  # noqa: S608
            f"(SELECT id FROM members_pointslot WHERE member_id IN ({BENCH_MEMBERS}))"
        )
        cursor.execute(f"DELETE FROM members_pointslot WHERE member_id IN ({BENCH_MEMBERS})")  # noqa: S608
        cursor.execute(f"DELETE FROM members_pointsentry WHERE member_id IN ({BENCH_MEMBERS})")  # noqa: S608
        cursor.execute(f"DELETE FROM members_purchaseitem WHERE purchase_id IN ({purchases})")  # noqa: S608
        cursor.execute(f"DELETE FROM members_purchase WHERE member_id IN ({BENCH_MEMBERS})")  # noqa: S608
        for table in ("members_tierhistory", "members_member_tags"):
            cursor.execute(f"DELETE FROM {table} WHERE member_id IN ({BENCH_MEMBERS})")  # noqa: S608
        cursor.execute("DELETE FROM members_member WHERE member_number LIKE '6%%'")
        if store is not None:
            cursor.execute("DELETE FROM members_storeapikey WHERE store_id = %s", [store.pk])
    from points.models import EarningRule

    EarningRule.objects.filter(priority__in=[priority for _name, _kind, priority, _fields in RULES]).delete()
    from members.models import Tier

    Tier.objects.filter(code__in=[code for code, *_rest in TIERS]).delete()


def tiers_setup() -> int:
    """The demo's tiers and thresholds (seed_demo, seed_demo_program); return the first tier's id."""
    from members.models import Tier

    if Tier.objects.exclude(code__in=[code for code, *_rest in TIERS]).exists():
        sys.exit("--tiers needs a database without tiers of its own")
    created = [
        Tier.objects.create(code=code, name=name, rank=rank, earn_multiplier=Decimal(multiplier),
                            min_score_to_reach=Decimal(reach), min_score_to_keep=Decimal(keep))
        for code, name, rank, multiplier, reach, keep in TIERS
    ]  # fmt: skip
    return created[0].pk


def setup(n: int, now, *, with_tiers: bool = False) -> str:
    from members.models import Store
    from members.services.tokens import store_api_key_create
    from points.models import EarningRule, PointsPolicy

    clean()
    PointsPolicy.load()
    store, _created = Store.objects.get_or_create(code=STORE_CODE, defaults={"name": "Bench POS"})
    for name, kind, priority, fields in RULES:
        EarningRule.objects.create(name=name, kind=kind, priority=priority, **fields)
    tier_id = tiers_setup() if with_tiers else None
    from members.formats import luhn_check_digit

    # Member numbers carry a Luhn check digit: made here, then inserted with generate_series over the array.
    numbers = [body + luhn_check_digit(body) for body in (f"{NUMBER_PREFIX}{g:08d}" for g in range(1, n + 1))]
    with connection.cursor() as cursor, transaction.atomic():
        cursor.execute(
            "INSERT INTO members_member (tier_id, member_number, phone, wechat_unionid, name, gender, email, locale, "
            "join_source, status, consent_marketing, consent_sms, consent_email, consent_wechat, points_balance, "
            "points_debt, points_pending, purchase_count, total_spend, stored_value_balance, joined_at, "
            "created_at, updated_at) "
            "SELECT %s, (%s::text[])[g], '+8526' || lpad(g::text, 7, '0'), '', 'Bench ' || g, '', '', "
            "'en', 'import', 'active', false, false, false, false, 1000, 0, 0, 0, 0, 0, %s, %s, %s "
            "FROM generate_series(1, %s) g",
            [tier_id, "{" + ",".join(numbers) + "}", now, now, now, n],
        )
        # Each member's 1,000 points: one opening entry and its lot, so the ledger matches the balances.
        cursor.execute(
            "INSERT INTO members_pointsentry (member_id, kind, delta, balance_after, debt_after, idempotency_key, "
            "source, reason, breakdown, created_at) "
            f"SELECT id, 'opening', 1000, 1000, 0, 'bp:' || id, 'bench', '', '{{}}'::jsonb, %s "  # noqa: S608
            f"FROM members_member WHERE id IN ({BENCH_MEMBERS})",
            [now],
        )
        cursor.execute(
            "INSERT INTO members_pointslot (member_id, entry_id, points, remaining, is_active, activates_at) "
            "SELECT member_id, id, 1000, 1000, true, created_at FROM members_pointsentry "  # noqa: S608
            f"WHERE member_id IN ({BENCH_MEMBERS})"
        )
    with connection.cursor() as cursor:
        for table in ("members_member", "members_pointsentry", "members_pointslot", "members_purchase"):
            cursor.execute(f"VACUUM ANALYZE {table}")
    _key, raw = store_api_key_create(store_id=store.pk, name="bench")
    return raw, numbers


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_gunicorn(port: int, workers: int | None, threads: int | None) -> subprocess.Popen:
    """Serve the app on `port`, configured by the project's gunicorn.conf.py unless workers/threads are given."""
    database_url = os.environ["DATABASE_URL"]
    if "conn_max_age" not in database_url:  # persistent connections, as a production deployment runs
        database_url += ("&" if "?" in database_url else "?") + "conn_max_age=600"
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "DEBUG": "false",
        "HTTPS_ONLY": "false",  # plain http on loopback
        "SECRET_KEY": "bench-only",
        "DJANGO_SETTINGS_MODULE": "bench.settings",  # the app plus the naive reference endpoint
    }
    process = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "gunicorn"),
            "config.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            *(["--workers", str(workers)] if workers else []),
            *(["--threads", str(threads)] if threads else []),
            "--log-level",
            "error",
        ],
        cwd=ROOT,
        env=env,
        stderr=open(os.environ.get("BENCH_SERVER_LOG", os.devnull), "w"),  # noqa: SIM115 - the server log
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return process
        except OSError:
            time.sleep(0.2)
    process.kill()
    sys.exit("gunicorn did not start")


def drive(
    port: int, *, key: str, clients: int, seconds: float, request_for, seed: int = 0
) -> tuple[int, list[float], dict]:
    """Send requests from `clients` threads for `seconds`; return (ok count, latencies in s, statuses)."""
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    failures: list = []
    lock = threading.Lock()
    deadline = time.monotonic() + seconds
    headers = {"Authorization": f"Api-Key {key}", "Content-Type": "application/json", "Host": "localhost"}

    def client(index: int):
        rng = random.Random(seed * 1000 + index)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        mine, codes, body_seen = [], {}, b""
        while time.monotonic() < deadline:
            method, path, body = request_for(rng)
            started = time.perf_counter()
            try:
                conn.request(method, path, body=body, headers=headers)
                response = conn.getresponse()
                body_seen = response.read()[:300]
                status = response.status
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                status = 0
            mine.append(time.perf_counter() - started)
            if not 200 <= status < 300 and not failures:
                failures.append((status, body_seen))
            codes[status] = codes.get(status, 0) + 1
        conn.close()
        with lock:
            latencies.extend(mine)
            for status, count in codes.items():
                statuses[status] = statuses.get(status, 0) + count

    threads = [threading.Thread(target=client, args=(index,)) for index in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    ok = sum(count for status, count in statuses.items() if 200 <= status < 300)
    if failures:
        print(f"first failure: {failures[0]}")
    return ok, latencies, statuses


def ping(rng):
    return "GET", "/api/v1/pos/ping", None


def merge(counts: dict, more: dict) -> dict:
    return {key: counts.get(key, 0) + more.get(key, 0) for key in {*counts, *more}}


def client_cpu() -> float:
    """CPU seconds this (client) process has used so far: the client must not starve the server."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else 0.0


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--warmup", type=float, default=3, help="seconds of purchases before measuring")
    parser.add_argument("--rounds", type=int, default=4, help="alternating slices of purchases and pings")
    parser.add_argument("--workers", type=int, help="gunicorn worker processes (default: gunicorn.conf.py's)")
    parser.add_argument("--threads", type=int, help="gunicorn threads per worker (default: gunicorn.conf.py's)")
    parser.add_argument("--keep", action="store_true", help="keep the scratch rows afterwards")
    parser.add_argument("--tiers", action="store_true", help="configure the demo's tiers (instant tier evaluation)")
    args = parser.parse_args()
    if connection.vendor != "postgresql":
        sys.exit("needs PostgreSQL: set DATABASE_URL=postgres://...")
    now = timezone.now()
    started = time.perf_counter()
    key, numbers = setup(args.members, now, with_tiers=args.tiers)
    served = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    print(
        f"db=postgresql members={args.members} setup={time.perf_counter() - started:.1f}s; gunicorn "
        f"workers={args.workers or served['workers']} threads={args.threads or served['threads']}; "
        f"clients={args.clients} seconds={args.seconds:.0f} tiers={'demo' if args.tiers else 'none'}"
    )
    connection.close()
    port = free_port()
    server = start_gunicorn(port, args.workers, args.threads)
    run = uuid.uuid4().hex[:8]
    counter = iter(range(10**9))
    counter_lock = threading.Lock()

    buyers, naive_buyers = numbers[: len(numbers) // 2], numbers[len(numbers) // 2 :]

    def purchase(rng):
        with counter_lock:
            number = next(counter)
        member_number = rng.choice(buyers)
        body = {
            "external_id": f"bench-{run}-{number}",
            "payment_method": "card",
            "gross_amount": "680.00",
            "member_number": member_number,
            "points_to_spend": 100 if number % 3 == 0 else 0,
            "items": [
                {"sku": "SH-1", "category": "shoes", "unit_price": "400.00"},
                {"sku": "TS-1", "category": "tops", "unit_price": "180.00"},
                {"sku": "SK-1", "category": "socks", "unit_price": "50.00", "quantity": 2},
            ],
        }
        return "POST", "/api/v1/pos/purchases", json.dumps(body)

    def naive(rng):
        with counter_lock:
            number = next(counter)
        body = {"external_id": f"naive-{run}-{number}", "member_number": rng.choice(naive_buyers)}
        return "POST", "/bench/naive-purchase", json.dumps(body)

    try:
        # Warm every worker on both paths (imports, connections, the per-process rule cache) before measuring.
        drive(port, key=key, clients=args.clients, seconds=2, request_for=ping)
        drive(port, key=key, clients=args.clients, seconds=args.warmup, request_for=purchase)
        # Alternate short slices of each endpoint, so background load on a shared machine hits both alike.
        slices = {"purchase": purchase, "trivial": ping, "naive": naive}
        done = {name: {"ok": 0, "latencies": [], "statuses": {}, "cpu": 0.0} for name in slices}
        slice_seconds = args.seconds / args.rounds
        for round_index in range(args.rounds):
            for name, request_for in slices.items():
                before = client_cpu()
                count, lat, codes = drive(port, key=key, clients=args.clients, seconds=slice_seconds,
                                          request_for=request_for, seed=round_index)  # fmt: skip
                figures = done[name]
                figures["cpu"] += client_cpu() - before
                figures["ok"] += count
                figures["latencies"] += lat
                figures["statuses"] = merge(figures["statuses"], codes)
        labels = {"purchase": "POST /api/v1/pos/purchases", "trivial": "GET /api/v1/pos/ping",
                  "naive": "POST /bench/naive-purchase (naive reference)"}  # fmt: skip
        for name, figures in done.items():
            figures["rps"] = figures["ok"] / args.seconds
            figures["p50"] = percentile(figures["latencies"], 0.50) * 1000
            figures["p99"] = percentile(figures["latencies"], 0.99) * 1000
            print(f"{labels[name]}: {figures['ok']} ok in {args.seconds:.0f}s = {figures['rps']:.0f} req/s; "
                  f"p50={figures['p50']:.1f}ms p99={figures['p99']:.1f}ms statuses={figures['statuses']}; "
                  f"client CPU {100 * figures['cpu'] / args.seconds:.0f}% of a core")  # fmt: skip
    finally:
        server.terminate()
        server.wait(timeout=30)
    from members.models import Member
    from members.services.ledger import points_ledger_drift

    sample = list(
        Member.objects.filter(member_number__startswith=NUMBER_PREFIX, purchase_count__gt=0)
        .order_by("?")
        .values_list("pk", flat=True)[:1000]
    )
    print(f"check: drift among {len(sample)} members who bought={len(points_ledger_drift(member_ids=sample))}")
    if not args.keep:
        clean()
    purchases, trivial, naive_figures = done["purchase"], done["trivial"], done["naive"]
    ratio = purchases["rps"] / trivial["rps"] if trivial["rps"] else 0
    print(
        f"RESULT pos_purchase rps={purchases['rps']:.0f} trivial_rps={trivial['rps']:.0f} ratio={ratio:.3f} "
        f"p99_ms={purchases['p99']:.0f} naive_rps={naive_figures['rps']:.0f} naive_p99_ms={naive_figures['p99']:.0f}"
    )


if __name__ == "__main__":
    main()

"""Benchmark a flash sale over HTTP: gunicorn on PostgreSQL, 2,000 claims from 500 members, quota 100.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench CACHE_URL=redis://127.0.0.1:6379/1 \
        .venv/bin/python bench/flash_sale.py

Creates 500 scratch members (phones +8527..., member numbers starting with 0) with tokens from
members.services.tokens, a claimable template with quota 100 and one per member, starts gunicorn on a free
127.0.0.1 port (same DATABASE_URL and CACHE_URL, bench.settings for the reference endpoint, COUPON_CLAIM_THROTTLE
raised through the environment), warms every worker up, and sends from this second process, with a pool of
`--clients` threads over keep-alive connections:
1. half of `--trivial` requests to POST /bench/member-ping (bench/urls.py), a trivial DRF view behind the same
   member token authentication as the claim: the yardstick;
2. the sale: `--claims` claims in a random order (each member about four times);
3. the other half of the trivial requests (before and after, so that background load on a shared machine
   weighs on both alike).
Verifies exactly 100 issued, nobody above the limit, every other answer `sold_out` or `limit_reached`; scratch
rows are deleted. The issue's targets: issued == quota, ratio (claims/s over trivial requests/s) >= 0.5, claim
p99 <= 2 x trivial p99. Without CACHE_URL each worker has its own local-memory cache, as the demo does.
Last line: RESULT flash_sale issued=.. quota=.. claims_per_s=.. trivial_rps=.. ratio=.. p99_ms=.. trivial_p99_ms=..
"""

import argparse
import http.client
import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402

django.setup()

from bench.scratch import require_scratch_database  # noqa: E402

require_scratch_database()

from django.conf import settings  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.db.models import Count  # noqa: E402
from django.utils import timezone  # noqa: E402

PHONE_PREFIX = "+8527"
CLAIM_PATH = "/api/v1/coupons/claim"
PING_PATH = "/bench/member-ping"
TEMPLATE_NAME = "bench flash sale"


def clean_scratch():
    from coupons.models import Coupon, CouponTemplate
    from members.models import Member, MemberToken

    members = Member.objects.filter(phone__startswith=PHONE_PREFIX, member_number__startswith="0")
    with transaction.atomic():
        Coupon.objects.filter(template__name=TEMPLATE_NAME)._raw_delete(connection.alias)
        CouponTemplate.history.filter(name=TEMPLATE_NAME).delete()
        CouponTemplate.objects.filter(name=TEMPLATE_NAME).delete()
        MemberToken.objects.filter(member__in=members)._raw_delete(connection.alias)
        Member.history.filter(phone__startswith=PHONE_PREFIX, member_number__startswith="0").delete()
        members._raw_delete(connection.alias)


def setup(member_count: int, quota: int):
    from coupons.models import CouponTemplate
    from members.models import Member
    from members.services.tokens import member_token_issue

    now = timezone.now()
    Member.objects.bulk_create(
        [
            Member(
                member_number=f"0{n:09d}",
                phone=f"{PHONE_PREFIX}{n:07d}",
                status=Member.Status.ACTIVE,
                join_source=Member.JoinSource.CONSOLE,
                joined_at=now,
            )
            for n in range(member_count)
        ]
    )
    members = list(Member.objects.filter(phone__startswith=PHONE_PREFIX).order_by("pk").values_list("pk", flat=True))
    tokens = [member_token_issue(member_id=member_id, now=now) for member_id in members]
    template = CouponTemplate.objects.create(
        name=TEMPLATE_NAME, kind="amount_off", amount=20, valid_days=30, quota=quota, per_member_limit=1
    )
    return template, tokens


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_gunicorn(port: int, workers: int, threads: int) -> subprocess.Popen:
    database_url = os.environ["DATABASE_URL"]
    if "conn_max_age" not in database_url:  # persistent connections, as a production deployment runs
        database_url += ("&" if "?" in database_url else "?") + "conn_max_age=600"
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "COUPON_CLAIM_THROTTLE": "100000/min",
        "DEBUG": "false",
        "HTTPS_ONLY": "false",  # plain http on loopback
        "SECRET_KEY": "bench-only",
        "DJANGO_SETTINGS_MODULE": "bench.settings",  # the app plus the trivial reference endpoint
    }
    process = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "gunicorn"),
            "config.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
            "--threads",
            str(threads),
            "--log-level",
            "error",
        ],
        cwd=ROOT,
        env=env,
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


def send(port: int, path: str, body: str, tokens: list[str], clients: int):
    """POST `body` to `path` once per token, from `clients` threads, each with one keep-alive connection.

    Return ([(status, error code or "ok", seconds)], seconds the whole run took).
    """
    results: list[tuple[int, str, float]] = []
    lock = threading.Lock()
    queue = iter(tokens)

    def worker():
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        mine = []
        while True:
            with lock:
                token = next(queue, None)
            if token is None:
                break
            started = time.perf_counter()
            connection.request(
                "POST",
                path,
                body=body,
                headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
            )
            response = connection.getresponse()
            payload = json.loads(response.read() or b"{}")
            elapsed = time.perf_counter() - started
            code = payload.get("error", {}).get("code", "") if response.status >= 400 else "ok"
            mine.append((response.status, code, elapsed))
        connection.close()
        with lock:
            results.extend(mine)

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results, time.perf_counter() - started


def percentile_ms(results: list[tuple[int, str, float]], share: float) -> float:
    latencies = sorted(elapsed for _status, _code, elapsed in results)
    return latencies[max(0, int(len(latencies) * share) - 1)] * 1000


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=500)
    parser.add_argument("--claims", type=int, default=2000)
    parser.add_argument("--quota", type=int, default=100)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--trivial", type=int, default=2000, help="requests to the trivial endpoint")
    args = parser.parse_args()
    if connection.vendor != "postgresql":
        sys.exit("bench/flash_sale.py needs PostgreSQL: set DATABASE_URL")

    from coupons.models import Coupon

    clean_scratch()
    template, tokens = setup(args.members, args.quota)
    rng = random.Random(5)
    requests = [tokens[n % len(tokens)] for n in range(args.claims)]
    rng.shuffle(requests)
    trivial_tokens = [rng.choice(tokens) for _ in range(args.trivial)]
    claim_body = json.dumps({"template_id": template.pk})
    port = free_port()
    server = start_gunicorn(port, args.workers, args.threads)
    try:
        # Warm every worker (imports, connections) on both views; claims of an unknown offer issue nothing.
        send(port, PING_PATH, "{}", tokens[:200], args.clients)
        send(port, CLAIM_PATH, json.dumps({"template_id": template.pk + 10**6}), tokens[:200], args.clients)
        half = len(trivial_tokens) // 2
        before, before_seconds = send(port, PING_PATH, "{}", trivial_tokens[:half], args.clients)
        results, elapsed = send(port, CLAIM_PATH, claim_body, requests, args.clients)
        after, after_seconds = send(port, PING_PATH, "{}", trivial_tokens[half:], args.clients)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
    trivial, trivial_seconds = before + after, before_seconds + after_seconds
    try:
        outcomes = Counter("issued" if code == "ok" else code for _status, code, _elapsed in results)
        print(f"answers: {dict(outcomes)}", flush=True)
        for outcome in sorted(outcomes):
            mine = [result for result in results if ("issued" if result[1] == "ok" else result[1]) == outcome]
            print(f"  {outcome}: p50={percentile_ms(mine, 0.50):.0f}ms p99={percentile_ms(mine, 0.99):.0f}ms")
        issued = Coupon.objects.filter(template=template).count()
        over_limit = (
            Coupon.objects.filter(template=template).values("member").annotate(n=Count("pk")).filter(n__gt=1).count()
        )
        template.refresh_from_db()
        assert len(results) == args.claims, len(results)
        assert issued == args.quota == template.issued_count == outcomes["issued"], (issued, template.issued_count)
        assert over_limit == 0, over_limit
        assert set(outcomes) <= {"issued", "sold_out", "limit_reached"}, outcomes
        assert all(status == 200 for status, _code, _elapsed in trivial), Counter(s for s, _c, _e in trivial)
    finally:
        clean_scratch()
    claims_per_s = len(results) / elapsed
    trivial_rps = len(trivial) / trivial_seconds
    ratio = claims_per_s / trivial_rps
    p99_ms, trivial_p99_ms = percentile_ms(results, 0.99), percentile_ms(trivial, 0.99)
    print(
        f"claims: p50={percentile_ms(results, 0.50):.0f}ms p99={p99_ms:.0f}ms; trivial: "
        f"p50={percentile_ms(trivial, 0.50):.0f}ms p99={trivial_p99_ms:.0f}ms; "
        f"cache={settings.CACHES['default']['BACKEND'].rsplit('.', 1)[-1]}"
    )
    print(
        f"targets: issued == quota {issued == args.quota}, ratio >= 0.5 {ratio >= 0.5}, "
        f"p99 <= 2 x trivial p99 {p99_ms <= 2 * trivial_p99_ms}"
    )
    print(
        f"RESULT flash_sale issued={issued} quota={args.quota} claims_per_s={claims_per_s:.0f} "
        f"trivial_rps={trivial_rps:.0f} ratio={ratio:.2f} p99_ms={p99_ms:.0f} trivial_p99_ms={trivial_p99_ms:.0f}"
    )


if __name__ == "__main__":
    main()

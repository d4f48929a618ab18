"""Benchmark a flash sale over HTTP: gunicorn on PostgreSQL, 2,000 claims from 500 members, quota 100.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/helper_coupons .venv/bin/python bench/flash_sale.py

Creates 500 scratch members (phones +8527..., member numbers starting with 0) with tokens from
members.services.tokens, a claimable template with quota 100 and one per member, starts gunicorn on a free
127.0.0.1 port (same DATABASE_URL, COUPON_CLAIM_THROTTLE raised through the environment), and sends the
claims from this second process with a pool of threads over keep-alive connections. Verifies exactly 100
issued, nobody above the limit, every other answer `sold_out` or `limit_reached`; scratch rows are deleted.
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

from django.db import connection, transaction  # noqa: E402
from django.db.models import Count  # noqa: E402
from django.utils import timezone  # noqa: E402

PHONE_PREFIX = "+8527"
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
        "SECRET_KEY": "bench-only",
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


def send_claims(port: int, template_id: int, requests: list[str], clients: int):
    """Send each claim (a member token) from `clients` threads, each with one keep-alive connection."""
    results: list[tuple[int, str, float]] = []
    lock = threading.Lock()
    queue = iter(requests)
    body = json.dumps({"template_id": template_id})

    def worker():
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        while True:
            with lock:
                token = next(queue, None)
            if token is None:
                break
            started = time.perf_counter()
            connection.request(
                "POST",
                "/api/v1/coupons/claim",
                body=body,
                headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
            )
            response = connection.getresponse()
            payload = json.loads(response.read() or b"{}")
            elapsed = time.perf_counter() - started
            code = payload.get("error", {}).get("code", "") if response.status >= 400 else "issued"
            with lock:
                results.append((response.status, code, elapsed))
        connection.close()

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results, time.perf_counter() - started


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=500)
    parser.add_argument("--claims", type=int, default=2000)
    parser.add_argument("--quota", type=int, default=100)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--clients", type=int, default=32)
    args = parser.parse_args()
    if connection.vendor != "postgresql":
        sys.exit("bench/flash_sale.py needs PostgreSQL: set DATABASE_URL")

    from coupons.models import Coupon

    clean_scratch()
    template, tokens = setup(args.members, args.quota)
    rng = random.Random(5)
    requests = [tokens[n % len(tokens)] for n in range(args.claims)]
    rng.shuffle(requests)
    port = free_port()
    server = start_gunicorn(port, args.workers, args.threads)
    try:
        results, elapsed = send_claims(port, template.pk, requests, args.clients)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
    try:
        outcomes = Counter(code for _status, code, _elapsed in results)
        print(f"answers: {dict(outcomes)}", flush=True)
        issued = Coupon.objects.filter(template=template).count()
        over_limit = (
            Coupon.objects.filter(template=template).values("member").annotate(n=Count("pk")).filter(n__gt=1).count()
        )
        template.refresh_from_db()
        assert len(results) == args.claims, len(results)
        assert issued == args.quota == template.issued_count == outcomes["issued"], (issued, template.issued_count)
        assert over_limit == 0, over_limit
        assert set(outcomes) <= {"issued", "sold_out", "limit_reached"}, outcomes
        latencies = sorted(elapsed_one for _status, _code, elapsed_one in results)
        p99_ms = latencies[max(0, int(len(latencies) * 0.99) - 1)] * 1000
    finally:
        clean_scratch()
    print(
        f"RESULT flash_sale issued={issued} quota={args.quota} claims_per_s={len(results) / elapsed:.0f} "
        f"p99_ms={p99_ms:.0f}"
    )


if __name__ == "__main__":
    main()

"""Benchmark the tills while WeChat hangs: POS ping latency under gunicorn while 6 member logins wait on WeChat.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench CACHE_URL=redis://127.0.0.1:6379/2 \\
        .venv/bin/python bench/login_stall.py

Starts a fake WeChat on 127.0.0.1 (tests/fakes.py) whose code2session never answers in time (`--hang`
seconds), and gunicorn on a free 127.0.0.1 port configured by the project's gunicorn.conf.py against the same
DATABASE_URL and CACHE_URL (the shared cache holds the breaker and the cap on calls in flight; without it each
worker process counts alone). Then, for `--seconds`:
- `--logins` members (6) log in through POST /api/v1/auth/wechat-login, each on its own connection, again and
  again: a login that hangs holds a web worker until WeChat's read timeout; after an answer (503 at once when
  the breaker is open or the cap is reached) the member taps again after `--login-pause` seconds;
- `--tills` tills (4) call GET /api/v1/pos/ping back to back, each with one keep-alive connection.
Before that, the tills alone for `--baseline-seconds`: the ping's p99 on this machine at this moment, without
logins, puts the figure under stalled logins in context (a shared machine's load weighs on both).
`--breaker off` (the default) raises the breaker's threshold out of reach, so logins keep hanging for the whole
run: the serving setup alone must keep the tills responsive. `--breaker on` runs the app's own settings.
Prints the ping's requests/s and p50/p99/max, and the logins' answers; the login throttle is lifted for the run
(every login comes from 127.0.0.1). The store and its POS key are deleted afterwards.
Last line: RESULT login_stall ping_p99_ms=<n> ping_rps=<n> logins=<n> ping_p50_ms=<n> ping_max_ms=<n> ...
"""

import argparse
import http.client
import json
import os
import runpy
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.pop("CELERY_BROKER_URL", None)

import django  # noqa: E402

django.setup()

from bench.scratch import require_scratch_database  # noqa: E402

require_scratch_database()

from django.db import connection  # noqa: E402

from tests.fakes import FakeWechat  # noqa: E402

STORE_CODE = "bench-login-stall"


def setup() -> str:
    """A store and its POS key; return the plain key."""
    from members.models import Store
    from members.services.tokens import store_api_key_create

    clean()
    store = Store.objects.create(code=STORE_CODE, name="Bench login stall")
    _key, raw = store_api_key_create(store_id=store.pk, name="bench")
    return raw


def clean():
    from members.models import Store, StoreApiKey

    StoreApiKey.objects.filter(store__code=STORE_CODE).delete()
    Store.objects.filter(code=STORE_CODE).delete()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_gunicorn(port: int, *, wechat: FakeWechat, cache_url: str, breaker: bool) -> subprocess.Popen:
    """Serve the app on `port` as gunicorn.conf.py configures it, with WeChat pointing at the fake."""
    env = {
        **os.environ,
        "DEBUG": "false",
        "HTTPS_ONLY": "false",  # plain http on loopback
        "SECRET_KEY": "bench-only",
        "ALLOWED_HOSTS": "localhost,127.0.0.1",
        "CACHE_URL": cache_url,
        "WECHAT_API_BASE": wechat.base_url,
        "WECHAT_APPID": wechat.appid,
        "WECHAT_SECRET": wechat.secret,
        "THROTTLE_LOGIN": "1000000/min",
    }
    if not breaker:
        env["OUTBOUND_BREAKER_FAILURES"] = "1000000"
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "gunicorn"), "config.wsgi:application", "--bind", f"127.0.0.1:{port}",
         "--log-level", "error"],
        cwd=ROOT,  # gunicorn reads ./gunicorn.conf.py
        env=env,
        stderr=open(os.environ.get("BENCH_SERVER_LOG", os.devnull), "w"),  # noqa: SIM115 - the server log
    )  # fmt: skip
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return process
        except OSError:
            time.sleep(0.2)
    process.kill()
    sys.exit("gunicorn did not start")


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else 0.0


def till(port: int, key: str, deadline: float, latencies: list, statuses: dict, lock: threading.Lock):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    headers = {"Authorization": f"Api-Key {key}", "Host": "localhost"}
    mine, codes = [], {}
    while time.monotonic() < deadline:
        started = time.perf_counter()
        try:
            conn.request("GET", "/api/v1/pos/ping", headers=headers)
            response = conn.getresponse()
            response.read()
            status = response.status
        except (OSError, http.client.HTTPException):
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            status = 0
        mine.append(time.perf_counter() - started)
        codes[status] = codes.get(status, 0) + 1
    conn.close()
    with lock:
        latencies.extend(mine)
        for status, count in codes.items():
            statuses[status] = statuses.get(status, 0) + count


def member_logging_in(port: int, index: int, deadline: float, pause: float, answers: list, lock: threading.Lock):
    attempt = 0
    while time.monotonic() < deadline:
        attempt += 1
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        body = json.dumps({"code": f"bench-{index}-{attempt}"})
        started = time.perf_counter()
        try:
            conn.request("POST", "/api/v1/auth/wechat-login", body=body,
                         headers={"Content-Type": "application/json", "Host": "localhost"})  # fmt: skip
            response = conn.getresponse()
            payload = response.read()
            status = response.status
            code = json.loads(payload).get("error", {}).get("code", "") if payload.startswith(b"{") else ""
        except (OSError, http.client.HTTPException, ValueError):
            status, code = 0, "connection"
        finally:
            conn.close()
        with lock:
            answers.append((time.perf_counter() - started, status, code))
        time.sleep(pause)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--logins", type=int, default=6, help="members logging in at once")
    parser.add_argument("--tills", type=int, default=4, help="tills pinging back to back")
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--baseline-seconds", type=float, default=10, help="tills alone, before the logins")
    parser.add_argument("--hang", type=float, default=60, help="how long the fake WeChat takes to answer")
    parser.add_argument("--login-pause", type=float, default=1.0, help="seconds before a member taps again")
    parser.add_argument("--breaker", choices=["off", "on"], default="off")
    parser.add_argument("--cache-url", default=os.environ.get("CACHE_URL", ""),
                        help="the shared cache for gunicorn (default: CACHE_URL)")  # fmt: skip
    args = parser.parse_args()
    if not args.cache_url.startswith("redis"):
        print("warning: no Redis CACHE_URL: each gunicorn worker keeps its own breaker and cap (local memory)")
    key = setup()
    served = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    print(
        f"db={connection.vendor} cache={args.cache_url or 'locmem'}; gunicorn workers={served['workers']} "
        f"class={served['worker_class']} threads={served['threads']} "
        f"outbound cap={os.environ.get('OUTBOUND_MAX_CONCURRENT_CALLS', 'unset')}; breaker={args.breaker}; "
        f"logins={args.logins} tills={args.tills} seconds={args.seconds:.0f} hang={args.hang:.0f}s"
    )
    connection.close()
    wechat = FakeWechat(appid="wx-bench", secret="wx-bench-secret").start()
    wechat.delay_seconds = args.hang
    port = free_port()
    server = start_gunicorn(port, wechat=wechat, cache_url=args.cache_url, breaker=args.breaker == "on")
    lock = threading.Lock()
    try:
        # Warm every worker (imports, connections) before measuring.
        till(port, key, time.monotonic() + 2, [], {}, lock)
        baseline, baseline_statuses = [], {}
        tills = [
            threading.Thread(target=till, args=(port, key, time.monotonic() + args.baseline_seconds, baseline,
                                                baseline_statuses, lock))
            for _ in range(args.tills)
        ]  # fmt: skip
        for thread in tills:
            thread.start()
        for thread in tills:
            thread.join()
        latencies, statuses, answers = [], {}, []
        deadline = time.monotonic() + args.seconds
        threads = [
            threading.Thread(target=member_logging_in, args=(port, index, deadline, args.login_pause, answers, lock))
            for index in range(args.logins)
        ]
        for thread in threads:
            thread.start()
        time.sleep(0.5)  # the logins reach WeChat and hang there first
        tills = [
            threading.Thread(target=till, args=(port, key, deadline - 0.5, latencies, statuses, lock))
            for _ in range(args.tills)
        ]
        for thread in tills:
            thread.start()
        for thread in tills + threads:
            thread.join()
    finally:
        server.terminate()
        server.wait(timeout=30)
        wechat.stop()
    clean()
    measured = args.seconds - 1.0
    ok = sum(count for status, count in statuses.items() if 200 <= status < 300)
    p50, p99 = percentile(latencies, 0.50) * 1000, percentile(latencies, 0.99) * 1000
    worst = max(latencies, default=0) * 1000
    base_ok = sum(count for status, count in baseline_statuses.items() if 200 <= status < 300)
    base_p99 = percentile(baseline, 0.99) * 1000
    print(f"baseline, tills alone: {base_ok} ok in {args.baseline_seconds:.0f}s = "
          f"{base_ok / args.baseline_seconds:.0f} req/s; p50={percentile(baseline, 0.5) * 1000:.1f}ms "
          f"p99={base_p99:.1f}ms max={max(baseline, default=0) * 1000:.0f}ms")  # fmt: skip
    slow = {limit: sum(1 for value in latencies if value * 1000 > limit) for limit in (100, 1000)}
    print(f"GET /api/v1/pos/ping while logins hang: {ok} ok in {measured:.0f}s = {ok / measured:.0f} req/s; "
          f"p50={p50:.1f}ms p99={p99:.1f}ms max={worst:.0f}ms; over 100ms: {slow[100]}, over 1s: {slow[1000]}; "
          f"statuses={statuses}")  # fmt: skip
    outcomes: dict[str, int] = {}
    for _elapsed, status, code in answers:
        outcomes[f"{status} {code}".strip()] = outcomes.get(f"{status} {code}".strip(), 0) + 1
    login_times = [elapsed for elapsed, _status, _code in answers]
    print(f"POST /api/v1/auth/wechat-login: {len(answers)} answers {outcomes}; "
          f"p50={percentile(login_times, 0.5) * 1000:.0f}ms max={max(login_times, default=0) * 1000:.0f}ms; "
          f"code2session calls reaching WeChat={len(wechat.requests_to('/sns/jscode2session'))}")  # fmt: skip
    print(
        f"RESULT login_stall ping_p99_ms={p99:.0f} ping_rps={ok / measured:.0f} logins={args.logins} "
        f"ping_p50_ms={p50:.1f} ping_max_ms={worst:.0f} breaker={args.breaker} login_answers={len(answers)} "
        f"workers={served['workers']} class={served['worker_class']} baseline_p99_ms={base_p99:.0f}"
    )


if __name__ == "__main__":
    main()

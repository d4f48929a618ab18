"""Real Celery workers for the chunked-job benchmarks: the bench starts them, times the job through the broker, stops
them. Import this module before `django.setup()`: it points the settings at the broker (CELERY_BROKER_URL, default
Redis on 127.0.0.1 db 0), so tasks go to the queue instead of running eagerly.
"""

import os
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("CELERY_BROKER_URL", "redis://127.0.0.1:6379/0")


def add_arguments(parser) -> None:
    parser.add_argument("--workers", type=int, default=2, help="Celery worker processes the bench starts (default 2)")


@contextmanager
def celery_workers(count: int, *, timeline: str | None = None):
    """Start one Celery worker with `count` processes on the bench's database and broker (yields its process); stop
    it on exit. With `timeline`, the worker appends each task's start and end to that file (bench.worker_timeline)."""
    from config.celery import app

    app.control.purge()  # nothing left from an earlier run
    env, app_module = os.environ.copy(), "config.celery"
    if timeline:
        env["BENCH_TIMELINE"], app_module = timeline, "bench.worker_timeline"
    command = [
        sys.executable, "-m", "celery", "-A", app_module, "worker", f"--concurrency={count}", "--pool=prefork",
        "--without-gossip", "--without-mingle", "--without-heartbeat", "--loglevel=WARNING",
        f"--hostname=bench-{os.getpid()}@%h",
    ]  # fmt: skip
    worker = subprocess.Popen(command, cwd=ROOT, env=env)
    try:
        deadline = time.monotonic() + 60
        while not app.control.ping(timeout=0.5):
            if worker.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the Celery worker did not start")
        print(f"workers={count} (celery prefork, broker {os.environ['CELERY_BROKER_URL']})", flush=True)
        yield worker
    finally:
        worker.terminate()
        worker.wait(timeout=60)


def wait_until(predicate, *, seconds: float = 3600, interval: float = 0.05) -> None:
    """Poll `predicate` until it holds (the bench's own cheap query); raise after `seconds`."""
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("the job did not finish")
        time.sleep(interval)

"""The project's Celery app, with every task's start and end appended to the file named by BENCH_TIMELINE: what a
chunked-job bench's worker runs (`bench.workers.celery_workers(..., timeline=path)`), never the app's own workers.

`summary(path)` reads it back: how long the job's coordinating task held its worker, and how far apart the
worker processes finished their last chunk (the time one of them sat idle at the job's end).
"""

import os
import time
from collections import defaultdict

from celery.signals import task_postrun, task_prerun

from config.celery import app  # noqa: F401 - the app `celery -A bench.worker_timeline` runs


def _record(event: str, sender) -> None:
    with open(os.environ["BENCH_TIMELINE"], "a") as timeline:
        timeline.write(f"{time.time():.4f} {os.getpid()} {event} {sender.name}\n")


@task_prerun.connect
def _started(sender=None, **kwargs):
    _record("start", sender)


@task_postrun.connect
def _ended(sender=None, **kwargs):
    _record("end", sender)


def summary(path: str, *, coordinator: str) -> str:
    """One line: the coordinating task's time, each worker process's busy time, and the gap between their last
    ends."""
    started: dict[tuple[str, str], float] = {}
    coordinator_ms = 0.0
    busy: dict[str, float] = defaultdict(float)
    last_end: dict[str, float] = {}
    with open(path) as timeline:
        for line in timeline:
            moment, pid, event, name = line.split()
            if event == "start":
                started[(pid, name)] = float(moment)
                continue
            spent = float(moment) - started.pop((pid, name))
            busy[pid] += spent
            if name == coordinator:
                coordinator_ms = spent * 1000
            else:
                last_end[pid] = max(last_end.get(pid, 0.0), float(moment))
    gap_ms = (max(last_end.values()) - min(last_end.values())) * 1000 if len(last_end) > 1 else 0.0
    busy_s = ", ".join(f"{seconds:.2f}" for seconds in sorted(busy.values()))
    return (
        f"timeline: coordinator {coordinator_ms:.0f} ms, workers busy {busy_s} s, "
        f"last chunks ended {gap_ms:.0f} ms apart"
    )

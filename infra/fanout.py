"""How a chunked job fans out: one Celery task per chunk.

A chunked job (member import, points expiry, bulk issue, a campaign's run) is a coordinating function that splits
the work into chunks and a chunk task that does one chunk in its own transaction. Chunk tasks are idempotent: a
claim row per chunk, or idempotency keys, make a retried, duplicated or resumed chunk write nothing twice. So the
chunks may run in any order, anywhere:

- on the eager default (no CELERY_BROKER_URL: the demo, the tests) each chunk runs here as it is sent, one after
  another;
- with a broker the chunks go to the queue and every worker of every machine takes them, as many at a time as
  there are worker processes.

Each chunk is sent as soon as the coordinator has found it, not after the last one: the workers start on the first
chunk while the coordinator is still splitting the rest (splitting the points expiry's 200,000 members walks their
lots). Nothing waits for the chunks (there is no result backend): the chunk that finds itself the last one
finishes the job (a coordinator that counts its chunks only as it sends them records the count after the last,
and then looks too: coupons.services.bulk). A coordinator that must finish before answering (a small upload the
console imports at once) runs the chunks `inline`, in this process, whatever the broker.
"""

from collections.abc import Iterable

from celery import Task


def fan_out(task: Task, chunks: Iterable[dict], *, inline: bool = False) -> int:
    """Send `task` once per keyword-argument dict of `chunks`, each as it comes; return how many were sent.

    The caller commits what the chunk tasks read before calling (they may run at once on another machine).
    """
    sent = 0
    for kwargs in chunks:
        if inline:
            task(**kwargs)
        else:
            task.apply_async(kwargs=kwargs)
        sent += 1
    return sent

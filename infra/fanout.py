"""How a chunked job fans out: one Celery task per chunk, sent as a group.

A chunked job (member import, points expiry, bulk issue) is a coordinating function that splits the work into
chunks and a chunk task that does one chunk in its own transaction. Chunk tasks are idempotent: a claim row per
chunk, or idempotency keys, make a retried, duplicated or resumed chunk write nothing twice. So the chunks may run
in any order, anywhere:

- on the eager default (no CELERY_BROKER_URL: the demo, the tests) the group runs here, one chunk after another;
- with a broker the chunks go to the queue and every worker of every machine takes them, as many at a time as
  there are worker processes.

Nothing waits for the group (there is no result backend): the chunk that finds itself the last one finishes the
job. A coordinator that must finish before answering (a small upload the console imports at once) runs the chunks
`inline`, in this process, whatever the broker.
"""

from collections.abc import Iterable

from celery import Task, group


def fan_out(task: Task, chunks: Iterable[dict], *, inline: bool = False) -> int:
    """Send `task` once per keyword-argument dict of `chunks` as one group; return how many chunks were sent.

    The caller commits what the chunk tasks read before calling (they may run at once on another machine).
    """
    chunks = list(chunks)
    if inline:
        for kwargs in chunks:
            task(**kwargs)
    elif chunks:
        group(task.si(**kwargs) for kwargs in chunks).apply_async()
    return len(chunks)

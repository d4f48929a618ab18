"""Run independent chunks of a set-based job on several database connections at once.

A chunk that is one set-based statement keeps one server process busy while its Python thread waits, so a
second connection puts the machine's other cores to work. Only for chunks that commit on their own and touch
disjoint rows (one chunk's members are never another's), so the connections never wait on each other.
"""

import threading
from collections.abc import Callable, Iterable, Iterator

from django.db import connection, connections


def parallel_allowed(count: int) -> bool:
    """Several connections only on PostgreSQL and outside a transaction: other connections would not see a
    caller's uncommitted rows (a test, an atomic block), and SQLite writes one transaction at a time."""
    return count > 1 and connection.vendor == "postgresql" and not connection.in_atomic_block


def run_chunks(chunks: Iterable, work: Callable, *, count: int) -> list:
    """Apply `work` to every chunk and return the results (in no particular order).

    With `count` > 1 (and `parallel_allowed`), `count` threads, each on its own connection, take the next chunk
    from `chunks` in turn: the chunks are listed as they are needed, never all at once. The first error stops
    every thread from taking more and is raised here once they have finished; the chunks done before it stay
    committed (a re-run does the rest).
    """
    if not parallel_allowed(count):
        return [work(chunk) for chunk in chunks]
    source: Iterator = iter(chunks)
    lock = threading.Lock()
    results: list = []
    errors: list[BaseException] = []

    def next_chunk():
        with lock:
            if errors:
                return None
            return next(source, None)

    def worker():
        try:
            while (chunk := next_chunk()) is not None:
                result = work(chunk)
                with lock:
                    results.append(result)
        except BaseException as exc:  # raised again in the caller's thread
            with lock:
                errors.append(exc)
        finally:
            connections["default"].close()

    threads = [threading.Thread(target=worker, daemon=True) for _n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return results

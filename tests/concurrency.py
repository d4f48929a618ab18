"""Running calls at the same moment from many threads, each with its own database connection (PostgreSQL tests)."""

from concurrent.futures import ThreadPoolExecutor

from django.db import connection


def run_in_threads(calls, *, workers):
    """Run each call in a pool thread with its own DB connection; return results or the exceptions raised."""

    def run(call):
        try:
            return call()
        except Exception as exc:  # noqa: BLE001 - the test inspects what each caller got
            return exc
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(run, calls))

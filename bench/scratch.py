"""Guard shared by the benchmarks: they create and delete rows, so they only run on a scratch database."""

import sys

from django.db import connection

SCRATCH_WORDS = ("bench", "test", "scratch", "helper")


def require_scratch_database():
    """Exit unless the configured database is named as a scratch one (e.g. .../bench or bench.sqlite3)."""
    name = str(connection.settings_dict["NAME"]).rsplit("/", 1)[-1].lower()
    if not any(word in name for word in SCRATCH_WORDS):
        sys.exit(
            f"refusing to run on database {name!r}: benchmarks write and delete rows. Point DATABASE_URL at a "
            "scratch database whose name contains 'bench', e.g. postgres://postgres@127.0.0.1:5432/bench "
            "or sqlite:///bench.sqlite3"
        )

"""Benchmark the member import's reading steps, in this process (no worker, nothing written).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_read .venv/bin/python bench/import_read.py --rows 100000

On the CSV bench/import_members.py generates, times (CPU seconds, median of --repeat):
- plan: what the job reads before it sends the first chunk (`plan_members_csv`: the phones and the rows repeating
  one, the chunks cut), the import's one serial step;
- chunks: what every chunk task then reads of its own rows (`chunk_data_rows` over all chunks);
- preview: the console's preview of the whole file (read, validate, look up existing members);
- shared: the preview of --shared rows that all hold one phone (a shop's own number typed for walk-ins), which
  must stay linear.
The preview looks up the bench's tier and store codes: it creates them and removes them afterwards.
Last line: RESULT import_read rows=<n> plan_s=... chunks_s=... preview_s=... shared_rows=<n> shared_s=...
"""

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402

django.setup()

from bench.scratch import require_scratch_database  # noqa: E402

require_scratch_database()

from django.core.management import call_command  # noqa: E402
from django.utils import timezone  # noqa: E402

from bench.import_members import generate_csv, remove_codes, setup_codes  # noqa: E402
from infra.db_session import collection_paused  # noqa: E402
from members.imports.validation import chunk_data_rows, plan_members_csv  # noqa: E402
from members.services.member_import import CHUNK_ROWS, member_import_preview  # noqa: E402


def cpu_seconds(work, repeat: int) -> float:
    """The median CPU time of `work` over `repeat` runs, with the collector paused as the import pauses it."""
    times = []
    for _ in range(repeat):
        with collection_paused():
            started = time.process_time()
            work()
            times.append(time.process_time() - started)
    return statistics.median(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--shared", type=int, default=50_000, help="rows holding one phone in the last preview")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    call_command("migrate", verbosity=0)
    text = generate_csv(args.rows)
    plan = plan_members_csv(text, chunk_rows=CHUNK_ROWS)
    assert plan.total_rows == args.rows, plan.total_rows

    plan_s = cpu_seconds(lambda: plan_members_csv(text, chunk_rows=CHUNK_ROWS), args.repeat)
    chunks_s = cpu_seconds(lambda: [chunk_data_rows(chunk, columns=plan.columns) for chunk in plan.chunks], args.repeat)
    print(f"plan (the job's serial step): {plan_s:.3f}s; chunks' own reading, all together: {chunks_s:.3f}s")

    setup_codes()
    try:
        data = text.encode()
        preview_s = cpu_seconds(lambda: member_import_preview(data=data, now=timezone.now()), args.repeat)
        print(f"preview of {args.rows} rows: {preview_s:.3f}s")
        shared = ("phone,name\r\n" + "23456789,Walk-in\r\n" * args.shared).encode()
        preview = member_import_preview(data=shared, now=timezone.now())
        assert preview.error_rows == args.shared
        assert max(len(e.message) for e in preview.errors) < 200  # five rows named, the rest counted
        shared_s = cpu_seconds(lambda: member_import_preview(data=shared, now=timezone.now()), args.repeat)
        print(f"preview of {args.shared} rows holding one phone: {shared_s:.3f}s")
    finally:
        remove_codes()
    print(
        f"RESULT import_read rows={args.rows} plan_s={plan_s:.3f} chunks_s={chunks_s:.3f} preview_s={preview_s:.3f} "
        f"shared_rows={args.shared} shared_s={shared_s:.3f}"
    )


if __name__ == "__main__":
    main()

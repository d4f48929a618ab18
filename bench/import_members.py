"""Benchmark the member CSV import.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/helper_import .venv/bin/python bench/import_members.py --rows 100000

Generates a deterministic CSV, imports it through the console's code path (store the upload, start the
job: a Celery worker the bench starts, --workers processes on the broker of CELERY_BROKER_URL, validates the
file and fans the chunks out to the worker's processes), re-imports it as updates (every name changed),
then measures on PostgreSQL the physical limit (COPY into a scratch table with a unique index on phone)
and the peer (a plain django-import-export ModelResource with default settings, first 5,000 rows).
Bench members use phones +85264xxxxxx and are deleted before each run.
"""

import argparse
import csv
import io
import os
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("MEDIA_ROOT", tempfile.mkdtemp(prefix="bench-import-media-"))
os.environ.setdefault("PRIVATE_MEDIA_ROOT", tempfile.mkdtemp(prefix="bench-import-private-"))

import django  # noqa: E402

from bench import workers  # noqa: E402 - sets the broker before the settings load

django.setup()

from bench.scratch import require_scratch_database  # noqa: E402

require_scratch_database()

from django.core.management import call_command  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.utils import timezone  # noqa: E402

PHONE_PREFIX = "+85264"
PEER_ROWS = 5000
peer_rows = PEER_ROWS  # lowered to --rows when that is smaller
HEADER = [
    "phone", "name", "gender", "birthday", "email", "locale", "tier", "store", "tags",
    "consent_marketing", "consent_sms", "consent_email", "consent_wechat", "opening_points",
]  # fmt: skip


def generate_csv(rows: int, *, name_suffix: str = "") -> str:
    rng = random.Random(20240601)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(HEADER)
    tags = ["vip", "newsletter", "wholesale", "staff", "birthday-club"]
    for n in range(rows):
        writer.writerow(
            [
                f"{PHONE_PREFIX}{n:06d}",
                f"Member {n}{name_suffix}",
                rng.choice(["f", "m", ""]),
                f"{rng.randint(1950, 2005)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
                f"member{n}@example.com",
                rng.choice(["en", "zh-hant", "zh-hans"]),
                rng.choice(["BV1", "BV2", ""]),
                rng.choice(["bench-a", "bench-b", ""]),
                ";".join(rng.sample(tags, rng.randint(0, 2))),
                rng.choice(["true", "false"]),
                rng.choice(["1", "0"]),
                rng.choice(["yes", "no"]),
                rng.choice(["true", "false"]),
                rng.choice([0, 0, 100, 250, 1200]),
            ]
        )
    return buffer.getvalue()


def clean_scratch():
    """Delete bench members and everything hanging off them (set-based, by phone prefix)."""
    from members.models import Member, MemberImportJob, PointsEntry, PointsLot, TierHistory

    bench = Member.objects.filter(phone__startswith=PHONE_PREFIX)
    with transaction.atomic():
        TierHistory.objects.filter(member__in=bench)._raw_delete(connection.alias)  # tiers the file set
        PointsLot.objects.filter(member__in=bench)._raw_delete(connection.alias)
        PointsEntry.objects.filter(member__in=bench)._raw_delete(connection.alias)
        Member.tags.through.objects.filter(member__in=bench)._raw_delete(connection.alias)
        Member.history.filter(phone__startswith=PHONE_PREFIX)._raw_delete(connection.alias)
        bench._raw_delete(connection.alias)
        MemberImportJob.objects.all().delete()
    if connection.vendor == "postgresql":
        # Every run deletes ~100k members with their history, entries, lots and tags; without a vacuum (the
        # local server runs with autovacuum off) the next run inserts into bloated tables and indexes.
        tables = [PointsLot, PointsEntry, Member.tags.through, Member.history.model, Member]
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE " + ", ".join(connection.ops.quote_name(m._meta.db_table) for m in tables))


def setup_codes():
    from members.models import Store, Tier

    Tier.objects.get_or_create(code="BV1", defaults={"name": "Bench 1", "rank": 901})
    Tier.objects.get_or_create(code="BV2", defaults={"name": "Bench 2", "rank": 902})
    Store.objects.get_or_create(code="bench-a", defaults={"name": "Bench A"})
    Store.objects.get_or_create(code="bench-b", defaults={"name": "Bench B"})


def remove_codes():
    """Delete the bench's tiers and stores (after its members): left behind, tiers without thresholds above the
    program's own make every later tier review refuse to run ("thresholds invalid"), e.g. bench/tier_evaluation.py's
    on the same database."""
    from members.models import Store, Tier

    Tier.objects.filter(code__in=["BV1", "BV2"]).delete()
    Store.objects.filter(code__in=["bench-a", "bench-b"]).delete()


def import_like_the_console(text: str):
    """Store the upload and start the job exactly as the console's confirm does; return (seconds, job)."""
    from members.models import MemberImportJob
    from members.services.member_import import member_import_start, member_import_store_upload

    started = time.perf_counter()
    name = member_import_store_upload(data=text.encode("utf-8"), user=None)
    job = member_import_start(file_name=name, encoding="auto", user=None, now=timezone.now())
    finished = MemberImportJob.objects.filter(pk=job.pk, status__in=["done", "failed"])
    workers.wait_until(finished.exists)
    elapsed = time.perf_counter() - started
    job.refresh_from_db()
    assert job.status == "done", (job.status, job.message)
    assert job.error_count == 0, job.errors[:3]
    return elapsed, job


def copy_limit(text: str, rows: int) -> float | None:
    """Time COPY of the CSV into a scratch table with a unique index on phone (PostgreSQL only)."""
    if connection.vendor != "postgresql":
        return None
    columns = ", ".join(
        f"{name} {'date' if name == 'birthday' else 'integer' if name == 'opening_points' else 'text'}"
        for name in HEADER
    )
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS bench_member_copy")
        cursor.execute(f"CREATE TABLE bench_member_copy (id bigserial primary key, {columns})")
        cursor.execute("CREATE UNIQUE INDEX bench_member_copy_phone ON bench_member_copy (phone)")
    data = text.encode("utf-8")
    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        raw = cursor.cursor  # the psycopg 3 cursor
        with raw.copy(
            f"COPY bench_member_copy ({', '.join(HEADER)}) FROM STDIN WITH (FORMAT csv, HEADER true)"
        ) as copy:
            for start in range(0, len(data), 1 << 20):
                copy.write(data[start : start + (1 << 20)])
    elapsed = time.perf_counter() - started
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM bench_member_copy")
        assert cursor.fetchone()[0] == rows
        cursor.execute("DROP TABLE bench_member_copy")
    return elapsed


def peer(text: str) -> float:
    """A plain ModelResource with default settings (row by row) importing the first PEER_ROWS rows."""
    import tablib
    from import_export import resources

    from members.formats import new_member_number
    from members.models import Member

    class PeerMemberResource(resources.ModelResource):
        class Meta:
            model = Member
            import_id_fields = ("phone",)
            fields = ("phone", "name", "gender", "birthday", "email", "locale", "consent_marketing", "consent_sms",
                      "consent_email", "consent_wechat")  # fmt: skip

        def init_instance(self, row=None):
            # the only addition the model needs: a member number and an active status
            return Member(member_number=new_member_number(), status=Member.Status.ACTIVE)

    lines = text.splitlines()[: PEER_ROWS + 1]
    dataset = tablib.Dataset().load("\n".join(lines), format="csv")
    for column in ("tier", "store", "tags", "opening_points"):
        del dataset[column]
    clean_scratch()
    started = time.perf_counter()
    result = PeerMemberResource().import_data(dataset, dry_run=False)
    elapsed = time.perf_counter() - started
    assert not result.has_errors(), "peer import failed"
    assert not result.has_validation_errors(), "peer import failed"
    assert Member.objects.filter(phone__startswith=PHONE_PREFIX).count() == peer_rows
    clean_scratch()
    return elapsed


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--skip-peer", action="store_true")
    workers.add_arguments(parser)
    args = parser.parse_args()
    n = args.rows
    assert n <= 1_000_000, "phones +85264xxxxxx give at most one million rows"

    call_command("migrate", verbosity=0)
    setup_codes()
    vendor = connection.vendor
    print(f"db={vendor} rows={n}")

    text = generate_csv(n)
    updated_text = generate_csv(n, name_suffix=" (updated)")

    global peer_rows  # noqa: PLW0603 - one figure shared by the peer run and the report
    peer_rows = min(PEER_ROWS, n)
    peer_seconds = None if args.skip_peer else peer(text)
    if peer_seconds:
        print(
            f"peer (import-export ModelResource, {peer_rows} rows): {peer_seconds:.2f}s "
            f"{peer_rows / peer_seconds:,.0f} rows/s"
        )

    clean_scratch()
    with workers.celery_workers(args.workers):
        seconds, job = import_like_the_console(text)
        assert (job.created_count, job.updated_count) == (n, 0), (job.created_count, job.updated_count)
        rate = n / seconds
        print(f"import new: {seconds:.2f}s {rate:,.0f} rows/s")

        update_seconds, job = import_like_the_console(updated_text)
        assert (job.created_count, job.updated_count) == (0, n)
    update_rate = n / update_seconds
    print(f"import updates: {update_seconds:.2f}s {update_rate:,.0f} rows/s")

    from members.models import PointsEntry
    from members.services.ledger import points_ledger_drift

    openings = PointsEntry.objects.filter(kind="opening", member__phone__startswith=PHONE_PREFIX).count()
    expected = sum(1 for line in text.splitlines()[1:] if not line.endswith(",0"))
    assert openings == expected, (openings, expected)
    print(f"opening balances written once: {openings}")
    from members.models import Member

    bench_members = Member.objects.filter(phone__startswith=PHONE_PREFIX)
    assert not points_ledger_drift(member_ids=bench_members.values("pk")), "ledger drift"
    balances = sum(bench_members.values_list("points_balance", flat=True))
    assert balances == sum(int(line.rsplit(",", 1)[1]) for line in text.splitlines()[1:]), "opening balances"

    copy_seconds = copy_limit(text, n)
    copy_rate = n / copy_seconds if copy_seconds else None
    if copy_rate:
        print(f"COPY into a scratch table with a unique phone index: {copy_seconds:.2f}s {copy_rate:,.0f} rows/s")
    clean_scratch()
    remove_codes()

    peer_rate = peer_rows / peer_seconds if peer_seconds else None
    copy_figure = f"{copy_rate:.0f}" if copy_rate else "n/a"
    peer_figure = f"{peer_rate:.0f}" if peer_rate else "n/a"
    # vs_copy: our rate as a share of COPY's (target >= 0.066, i.e. 1/15); vs_peer: how many times the peer's.
    vs_copy = f"{rate / copy_rate:.3f}" if copy_rate else "n/a"
    vs_peer = f"{rate / peer_rate:.1f}" if peer_rate else "n/a"
    print(
        f"RESULT import_members rows={n} rows_per_s={rate:.0f} update_rows_per_s={update_rate:.0f} "
        f"copy_rows_per_s={copy_figure} peer_rows_per_s={peer_figure} vs_copy={vs_copy} vs_peer={vs_peer} db={vendor} "
        f"workers={args.workers}"
    )


if __name__ == "__main__":
    main()

"""Benchmark bulk coupon issuance against the physical limit of the database.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/helper_coupons .venv/bin/python bench/bulk_issue.py --members 200000

Creates N members of a scratch tier with one generate_series INSERT (PostgreSQL only), issues one coupon to
each through the job the console starts (coupon_issue_job_create, whose task is sent to the broker of
CELERY_BROKER_URL on commit; a Celery worker the bench starts, --workers processes, runs it and the chunk tasks
it fans out; timed until the job is done), then COPYs N plain rows of the same width into a scratch
table (psycopg 3 `cursor.copy`) as the physical limit. Last, for the record (it is not in the RESULT line),
it COPYs N coupon rows straight into the coupon table and fires their foreign-key checks, then rolls back: the
floor that the table's indexes and constraints set for any way of issuing, whatever the job does. Scratch
rows (phones +8526..., member numbers starting with 0, which real member numbers never do, tier BULKBENCH)
are deleted before and after the run.
"""

import argparse
import io
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402

from bench import worker_timeline, workers  # noqa: E402 - sets the broker before the settings load

django.setup()

from bench.scratch import members_insert, require_scratch_database  # noqa: E402

require_scratch_database()

from django.db import connection, transaction  # noqa: E402
from django.utils import timezone  # noqa: E402

PHONE_PREFIX = "+8526"
TIER_CODE = "bulkbench"
TEMPLATE_NAME = "bench bulk issue"
SCRATCH_TABLE = "bench_bulk_issue_copy"


def clean_scratch():
    from coupons.models import Coupon, CouponIssueJob, CouponTemplate
    from members.models import Member, Tier

    templates = CouponTemplate.objects.filter(name=TEMPLATE_NAME)
    with transaction.atomic():
        Coupon.objects.filter(template__in=templates)._raw_delete(connection.alias)
        CouponIssueJob.objects.filter(template__in=templates).delete()
        CouponTemplate.history.filter(name=TEMPLATE_NAME).delete()
        templates.delete()
        Member.objects.filter(phone__startswith=PHONE_PREFIX, member_number__startswith="0")._raw_delete(
            connection.alias
        )
        Tier.objects.filter(code=TIER_CODE).delete()
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {SCRATCH_TABLE}")
        # The raw deletes leave every index full of dead entries that each insert's uniqueness checks would
        # step over (a table in service sees no such mass delete): clear them so runs are comparable.
        cursor.execute(f"VACUUM (ANALYZE) {Coupon._meta.db_table}, {Member._meta.db_table}")


def issue_like_the_console(template, tier, now):
    """Start the job as the console's form does (its task goes to the broker on commit); wait until it ends.

    Timed from the call to the moment the job records its end (its last chunk's `finished_at`, on this machine's
    clock), not to the poll that notices it, which would add up to a poll's interval to every run.
    """
    from coupons.models import CouponIssueJob
    from coupons.services.bulk import coupon_issue_job_create

    started = timezone.now()
    job = coupon_issue_job_create(template_id=template.pk, audience="tier", tier_id=tier.pk, now=now)
    # Seldom: the time comes from the job's own record, and each poll takes CPU from the workers on a small machine.
    job_running = CouponIssueJob.objects.filter(pk=job.pk, status__in=["queued", "running"]).exists
    workers.wait_until(lambda: not job_running(), interval=0.5)
    job.refresh_from_db()
    return job, job.issued, (job.finished_at - started).total_seconds()


def copy_limit(count: int, now) -> float:
    """COPY N rows as wide as a coupon into a scratch table with no index: the physical limit."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE UNLOGGED TABLE {SCRATCH_TABLE} (template_id bigint, member_id bigint, member_sequence int, "
            "code text, status text, source text, issue_key text, issued_at timestamptz, valid_from timestamptz, "
            "valid_until timestamptz)"
        )
        cursor.execute(f"ALTER TABLE {SCRATCH_TABLE} SET LOGGED")  # logged, like the coupon table
    stamp = now.isoformat()
    buffer = io.StringIO()
    for n in range(count):
        buffer.write(f"1\t{n}\t1\tBENCH{n:010d}X\tavailable\tbulk\tjob:0:member:{n}\t{stamp}\t{stamp}\t{stamp}\n")
    data = buffer.getvalue().encode()
    started = time.perf_counter()
    with transaction.atomic():
        raw = connection.connection
        with raw.cursor() as cursor, cursor.copy(f"COPY {SCRATCH_TABLE} FROM STDIN") as copy:
            for start in range(0, len(data), 1 << 20):
                copy.write(data[start : start + (1 << 20)])
    return count / (time.perf_counter() - started)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=200_000)
    parser.add_argument("--keep", action="store_true", help="leave the scratch rows in place")
    workers.add_arguments(parser)
    args = parser.parse_args()
    if connection.vendor != "postgresql":
        sys.exit("bench/bulk_issue.py needs PostgreSQL: set DATABASE_URL")

    from coupons.models import Coupon, CouponTemplate
    from coupons.services.bulk import chunk_size_default
    from members.models import Tier

    now = timezone.now()
    clean_scratch()
    tier = Tier.objects.create(code=TIER_CODE, name="Bulk bench", rank=30000)
    started = time.perf_counter()
    members_insert(args.members, tier_id=tier.pk, now=now, number_prefix="0", phone_prefix=PHONE_PREFIX)
    print(f"setup: {args.members} members in {time.perf_counter() - started:.1f} s", flush=True)
    template = CouponTemplate.objects.create(
        name=TEMPLATE_NAME, kind="amount_off", amount=20, valid_days=30, per_member_limit=1, is_claimable=False
    )
    try:
        handle, timeline = tempfile.mkstemp(prefix="bulk_issue_timeline_", suffix=".txt")
        os.close(handle)
        with workers.celery_workers(args.workers, timeline=timeline):
            job, issued, elapsed = issue_like_the_console(template, tier, now)
            assert job.status == "done", (job.status, job.message)
            assert issued == job.issued == args.members, (issued, job.issued)
            assert Coupon.objects.filter(template=template).count() == args.members
            template.refresh_from_db()
            assert template.issued_count == args.members
            coupons_per_s = issued / elapsed
            print(
                f"issue: {issued} coupons in {elapsed:.1f} s ({coupons_per_s:,.0f}/s, chunks of "
                f"{chunk_size_default()} fanned out to {args.workers} workers)",
                flush=True,
            )
            print(worker_timeline.summary(timeline, coordinator="coupons.tasks.coupon_issue_job_task"), flush=True)
            Path(timeline).unlink()

            rerun_started = time.perf_counter()
            rerun = coupon_issue_job_rerun(job)
            print(f"re-run: {rerun} more coupons in {time.perf_counter() - rerun_started:.1f} s", flush=True)
            assert rerun == 0

        copy_per_s = copy_limit(args.members, now)
        print(f"copy: {args.members} rows at {copy_per_s:,.0f}/s", flush=True)

        floor_per_s = coupon_table_floor(template, now)
        print(
            f"floor: {args.members} rows COPied into the coupon table with its indexes and foreign-key checks, "
            f"no job logic, at {floor_per_s:,.0f}/s (vs_copy {floor_per_s / copy_per_s:.2f})",
            flush=True,
        )
    finally:
        if not args.keep:
            clean_scratch()
    print(
        f"RESULT bulk_issue coupons={issued} coupons_per_s={coupons_per_s:.0f} "
        f"copy_rows_per_s={copy_per_s:.0f} vs_copy={coupons_per_s / copy_per_s:.2f} workers={args.workers}"
    )


class _RollBack(Exception):
    pass


def coupon_table_floor(template, now) -> float:
    """COPY one more coupon per issued member into the coupon table, check its foreign keys, roll back; rows/s.

    The rows are those the job wrote (same members, template, validity) with a second sequence number, fresh
    codes and other keys, in the job's chunks, written by the job's own COPY: what is left is the cost of the
    heap, the table's indexes and the per-row foreign-key triggers (fired here as the commit would fire them).
    """
    from coupons.codes import generate_codes
    from coupons.models import Coupon
    from coupons.services import coupon_validity
    from coupons.services.bulk import chunk_size_default
    from coupons.sql import coupon_rows_copy

    issued = Coupon.objects.filter(template=template).order_by("member_id")
    member_ids = list(issued.values_list("member_id", flat=True))
    valid_from, valid_until = coupon_validity(template=template, issued_at=now)
    common = {
        "template_id": template.pk,
        "status": Coupon.Status.AVAILABLE,
        "source": Coupon.Source.BULK,
        "issued_at": now,
        "valid_from": valid_from,
        "valid_until": valid_until,
    }
    size = chunk_size_default()
    elapsed = 0.0
    for start in range(0, len(member_ids), size):
        chunk = member_ids[start : start + size]
        codes = generate_codes(len(chunk), prefix=template.code_prefix, body_length=template.code_length)
        keys = [f"bench-floor:{member_id}" for member_id in chunk]
        started = time.perf_counter()
        try:
            with transaction.atomic():
                coupon_rows_copy(common=common, member_ids=chunk, sequences=[2] * len(chunk), codes=codes, keys=keys)
                with connection.cursor() as cursor:
                    cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
                elapsed += time.perf_counter() - started
                raise _RollBack()
        except _RollBack:
            pass
    return len(member_ids) / elapsed


def coupon_issue_job_rerun(job) -> int:
    """Walk the whole audience again; return how many coupons that added (must be 0)."""
    from coupons.models import Coupon
    from coupons.services.bulk import coupon_issue_job_run

    before = Coupon.objects.filter(template_id=job.template_id).count()
    coupon_issue_job_run(job_id=job.pk, now=timezone.now(), restart=True)  # its chunk tasks go to the workers
    workers.wait_until(type(job).objects.filter(pk=job.pk, status="done").exists)
    return Coupon.objects.filter(template_id=job.template_id).count() - before


if __name__ == "__main__":
    main()

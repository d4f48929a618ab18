"""Benchmark a campaign's fan-out through the real Celery path: a coupon and an inbox message to every member of a
segment, once with one worker process and once with two.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench CELERY_BROKER_URL=redis://127.0.0.1:6379/8 \\
        .venv/bin/python bench/campaign_fanout.py --members 1000000

Creates N active members of a scratch tier with one generate_series INSERT (PostgreSQL only), a segment of that
tier, a coupon template and a staff user. Then, for each worker count (1, then 2): a one-off broadcast campaign
whose reward is one coupon and whose message goes to the inbox (the members have no channel consent, so nothing
else is sent), launched as the console's launch button does (`campaign_launch`: the run queued as preparing; a worker
freezes the segment and splits the run into chunks of CAMPAIGN_CHUNK_SIZE members, one chunk task each sent to
the broker), timed from the launch until every chunk is done. Before the next run, the first run's rows are deleted.

It prints the CPU seconds the worker processes and the PostgreSQL server spent during each run (from /proc),
so the figures show where the time goes on a machine whose cores PostgreSQL shares with the workers: the way to
more throughput is more workers on more machines. Checks that no member got two coupons, two messages or two
recipient rows. Scratch rows (member numbers starting with 4, phones +8524..., tier FANOUTBENCH) are deleted before
and, without --keep, after.
Last line: RESULT campaign_fanout members=<n> one_worker_s=<s> two_workers_s=<s> members_per_s=<n> speedup=<r>
duplicates=<n> worker_cpu_s=<s> postgres_cpu_s=<s> worker_cpu_ms_per_member=<ms>
(the CPU seconds of the two-worker run; the CPU per member of the worker processes, the lower of the two runs, is
the figure that does not depend on the machine's load. PostgreSQL's figure counts every session of the server, so
on a shared machine it includes other databases' work.)
"""

import argparse
import os
import sys
import time
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("HTTPS_ONLY", "false")

import django  # noqa: E402

from bench import workers  # noqa: E402 - sets the broker before the settings load

django.setup()

from bench.scratch import members_insert, require_scratch_database  # noqa: E402

require_scratch_database()

from django.db import connection, transaction  # noqa: E402
from django.db.models import Count, F  # noqa: E402
from django.utils import timezone  # noqa: E402

PHONE_PREFIX = "+8524"
NUMBER_PREFIX = "4"
TIER_CODE = "FANOUTBENCH"
NAME = "bench campaign fan-out"
STAFF = "bench-fanout"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def planner_statistics_current():
    """ANALYZE before deleting a run's rows: planned on the statistics of the tables before the run (empty), the
    deletes joined a million recipients to a million (minutes of PostgreSQL's time between the timed runs)."""
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")


def clean_scratch():
    from campaigns.models import Campaign, CampaignRecipient, CampaignRun, Segment, SegmentFreeze, SegmentMember
    from coupons.models import Coupon, CouponTemplate
    from members.models import Member, Notification, Tier

    campaigns = Campaign.objects.filter(name=NAME)
    templates = CouponTemplate.objects.filter(name=NAME)
    members = Member.objects.filter(phone__startswith=PHONE_PREFIX, member_number__startswith=NUMBER_PREFIX)
    freezes = SegmentFreeze.objects.filter(segment__name=NAME)
    planner_statistics_current()
    with transaction.atomic():
        CampaignRecipient.objects.filter(campaign__in=campaigns)._raw_delete(connection.alias)
        CampaignRun.objects.filter(campaign__in=campaigns).update(freeze=None)
        SegmentMember.objects.filter(freeze__in=freezes)._raw_delete(connection.alias)
        freezes.delete()
        CampaignRun.objects.filter(campaign__in=campaigns).delete()
        Campaign.history.filter(name=NAME).delete()
        campaigns.delete()
        Notification.objects.filter(member__in=members)._raw_delete(connection.alias)
        Coupon.objects.filter(template__in=templates)._raw_delete(connection.alias)
        CouponTemplate.history.filter(name=NAME).delete()
        templates.delete()
        Segment.objects.filter(name=NAME).delete()
    # The members last, once the frozen segments are vacuumed away: each deleted member's foreign-key check reads the
    # segment members by member, which no index leads with (a walk of every frozen member for each deleted one,
    # more than half an hour at 1,000,000 members while they were deleted in the same transaction).
    with connection.cursor() as cursor:
        cursor.execute("VACUUM (ANALYZE)")
    with transaction.atomic():
        Member.history.filter(phone__startswith=PHONE_PREFIX, member_number__startswith=NUMBER_PREFIX).delete()
        members._raw_delete(connection.alias)
        Tier.objects.filter(code=TIER_CODE).delete()
    with connection.cursor() as cursor:
        cursor.execute("VACUUM (ANALYZE)")


def _stat(pid: int) -> list[str]:
    with open(f"/proc/{pid}/stat") as stat:
        text = stat.read()
    return text[text.rindex(")") + 2 :].split()  # from field 3 (state) on: ppid is [1], utime [11] ... cstime [14]


def tree_cpu_seconds(root: int) -> float:
    """CPU seconds (user + system) of a process, of its children it has reaped and of its live children: a Celery
    worker with its pool, or the PostgreSQL server with every backend (ended ones included)."""
    fields = _stat(root)
    ticks = sum(int(value) for value in fields[11:15])
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                child = _stat(int(entry.name))
            except OSError:  # the process ended meanwhile
                continue
            if int(child[1]) == root:
                ticks += int(child[11]) + int(child[12])
    return ticks / CLOCK_TICKS


def postmaster_pid() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        backend = cursor.fetchone()[0]
    return int(_stat(backend)[1])


def run_once(*, segment, template, staff, count: int, processes: int) -> tuple[float, float, float]:
    """Launch a broadcast as the console does, with `processes` worker processes; return (seconds, worker CPU s,
    PostgreSQL CPU s)."""
    from campaigns.models import Campaign, CampaignRecipient, CampaignRun
    from campaigns.services.campaign_runs import campaign_launch

    campaign = Campaign.objects.create(
        name=NAME, kind=Campaign.Kind.BROADCAST, segment=segment, coupon_template=template,
        message_title="A gift for you", message_body="Hello {first_name}, a coupon is waiting in your wallet.",
        holdout_percent=0, respects_global_control=False, created_by=staff,
    )  # fmt: skip
    postgres = postmaster_pid()
    with workers.celery_workers(processes) as worker:
        cpu_before = tree_cpu_seconds(worker.pid), tree_cpu_seconds(postgres)
        started = time.perf_counter()
        campaign_launch(campaign_id=campaign.pk, user=staff, now=timezone.now())
        # The run's own counter (one row), not a count of a million recipients every half second.
        done = CampaignRun.objects.filter(campaign=campaign, chunks_total__gt=0, chunks_done=F("chunks_total"))
        workers.wait_until(done.exists, interval=0.1)
        elapsed = time.perf_counter() - started
        assert CampaignRecipient.objects.filter(campaign=campaign).count() == count
        cpu_after = tree_cpu_seconds(worker.pid), tree_cpu_seconds(postgres)
    worker_cpu, postgres_cpu = (after - before for after, before in zip(cpu_after, cpu_before, strict=True))
    print(
        f"{processes} worker process(es): {count} members in {elapsed:.1f} s ({count / elapsed:,.0f}/s); CPU: "
        f"workers {worker_cpu:.1f} s, PostgreSQL (every session on this server) {postgres_cpu:.1f} s",
        flush=True,
    )
    return elapsed, worker_cpu, postgres_cpu


def duplicates(template) -> int:
    """Members with more than one coupon of the template, inbox message of the bench or recipient row."""
    from campaigns.models import CampaignRecipient
    from coupons.models import Coupon
    from members.models import Notification

    coupons = Coupon.objects.filter(template=template).values("member_id").annotate(n=Count("pk")).filter(n__gt=1)
    messages = (
        Notification.objects.filter(kind=Notification.Kind.CAMPAIGN, member__member_number__startswith=NUMBER_PREFIX)
        .values("member_id")
        .annotate(n=Count("pk"))
        .filter(n__gt=1)
    )
    rows = (
        CampaignRecipient.objects.filter(campaign__name=NAME)
        .values("campaign_id", "member_id")
        .annotate(n=Count("pk"))
        .filter(n__gt=1)
    )
    return coupons.count() + messages.count() + rows.count()


def delete_run_rows(template) -> None:
    """Delete what a run wrote (recipients, coupons, messages), so the next run starts from the same state."""
    from campaigns.models import CampaignRecipient
    from coupons.models import Coupon
    from members.models import Notification

    planner_statistics_current()
    with transaction.atomic():
        CampaignRecipient.objects.filter(campaign__name=NAME)._raw_delete(connection.alias)
        Coupon.objects.filter(template=template)._raw_delete(connection.alias)
        Notification.objects.filter(
            kind=Notification.Kind.CAMPAIGN, member__member_number__startswith=NUMBER_PREFIX
        )._raw_delete(connection.alias)
    with connection.cursor() as cursor:
        cursor.execute("VACUUM (ANALYZE)")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--keep", action="store_true", help="leave the scratch rows in place")
    args = parser.parse_args()
    if connection.vendor != "postgresql":
        sys.exit("bench/campaign_fanout.py needs PostgreSQL (DATABASE_URL)")

    from django.contrib.auth import get_user_model

    from campaigns.services.segments import segment_save
    from coupons.models import CouponTemplate
    from members.models import Tier

    clean_scratch()
    now = timezone.now()
    tier = Tier.objects.create(code=TIER_CODE, name="Fan-out bench", rank=9_999)
    started = time.perf_counter()
    members_insert(args.members, tier_id=tier.pk, now=now, number_prefix=NUMBER_PREFIX, phone_prefix=PHONE_PREFIX)
    print(f"setup: {args.members} members in {time.perf_counter() - started:.1f} s", flush=True)
    staff, _created = get_user_model().objects.get_or_create(username=STAFF, defaults={"is_superuser": True})
    segment = segment_save(
        name=NAME, rule={"match": "all", "conditions": [{"field": "tier", "op": "in", "value": [tier.pk]}]},
        user=staff,
    )  # fmt: skip
    template = CouponTemplate.objects.create(
        name=NAME, kind=CouponTemplate.Kind.AMOUNT_OFF, amount=Decimal("50.00"), min_spend=Decimal("300.00"),
        valid_days=7, per_member_limit=1, audience=CouponTemplate.Audience.MEMBERS,
    )  # fmt: skip
    try:
        one, one_worker_cpu, _postgres = run_once(
            segment=segment, template=template, staff=staff, count=args.members, processes=1
        )
        found = duplicates(template)
        delete_run_rows(template)
        two, worker_cpu, postgres_cpu = run_once(
            segment=segment, template=template, staff=staff, count=args.members, processes=2
        )
        found += duplicates(template)
    finally:
        if not args.keep:
            clean_scratch()
    print(
        f"RESULT campaign_fanout members={args.members} one_worker_s={one:.1f} two_workers_s={two:.1f} "
        f"members_per_s={args.members / two:.0f} speedup={one / two:.2f} duplicates={found} "
        f"worker_cpu_s={worker_cpu:.1f} postgres_cpu_s={postgres_cpu:.1f} "
        f"worker_cpu_ms_per_member={1000 * min(one_worker_cpu, worker_cpu) / args.members:.3f}"
    )


if __name__ == "__main__":
    main()

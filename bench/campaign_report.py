"""Benchmark a campaign's report (PostgreSQL): the two groups' purchases in their lift windows, and the rest.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_lift \
        .venv/bin/python bench/campaign_report.py --recipients 100000

Creates N active members (generate_series in SQL), each with about 4 purchases over the last 90 days (and older
history: about 4 more over the year before, which the windows must skip through the (member, purchased_at) index),
one campaign with a 10 % hold-out and a 14-day lift window, and one recipient row per member delivered 30 days ago
(held out by the member's bucket as campaign_deliver decides it); reached members buy a little more often in their
window. Then it times `campaign_report` (every query of the page: counts, deliveries, rewards, both groups' windows;
the median of --repeat runs after one warm-up) and each group's aggregate query alone, and prints the plan of the
reached group's query. Bench members have member numbers starting with 6 and are deleted before each run
(--reuse keeps them when there are as many).
Last line: RESULT campaign_report recipients=<n> report_ms=<ms> treated_query_ms=<ms> control_query_ms=<ms>
"""

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.pop("CELERY_BROKER_URL", None)

import django  # noqa: E402

django.setup()

from bench.scratch import require_scratch_database  # noqa: E402

require_scratch_database()

from django.db import connection, transaction  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.utils import timezone  # noqa: E402

NUMBER_PREFIX = "6"
CAMPAIGN_NAME = "Bench lift campaign"


def clean():
    with connection.cursor() as cursor, transaction.atomic():
        cursor.execute(
            "DELETE FROM campaigns_campaignrecipient WHERE campaign_id IN "
            "(SELECT id FROM campaigns_campaign WHERE name = %s)",
            [CAMPAIGN_NAME],
        )
        cursor.execute("DELETE FROM campaigns_campaign WHERE name = %s", [CAMPAIGN_NAME])
        cursor.execute(
            "DELETE FROM members_purchase WHERE member_id IN "
            "(SELECT id FROM members_member WHERE member_number LIKE %s)",
            [NUMBER_PREFIX + "%"],
        )
        cursor.execute("DELETE FROM members_member WHERE member_number LIKE %s", [NUMBER_PREFIX + "%"])


def setup(n: int, now, *, reuse: bool):
    from campaigns.models import Campaign
    from campaigns.segments.buckets import member_bucket
    from members.models import Member, Store

    store = Store.objects.get_or_create(code="bench-lift", defaults={"name": "Bench lift"})[0]
    if reuse:
        campaign = Campaign.objects.filter(name=CAMPAIGN_NAME).first()
        if campaign is not None and campaign.recipients.count() == n:
            print(f"reusing the {n} recipients of the last run", flush=True)
            return campaign
    clean()
    started = time.perf_counter()
    campaign = Campaign.objects.create(
        name=CAMPAIGN_NAME, kind=Campaign.Kind.BROADCAST, status=Campaign.Status.RUNNING, holdout_percent=10,
        lift_days=14,
    )  # fmt: skip
    delivered_at = now - timezone.timedelta(days=30)
    with connection.cursor() as cursor, transaction.atomic():
        cursor.execute(
            "INSERT INTO members_member (member_number, phone, wechat_unionid, name, gender, email, locale, "
            "join_source, status, consent_marketing, consent_sms, consent_email, consent_wechat, points_balance, "
            "points_debt, points_pending, purchase_count, total_spend, stored_value_balance, home_store_id, "
            "joined_at, created_at, updated_at) "
            "SELECT %s || lpad(g::text, 9, '0'), '+8525' || lpad(g::text, 7, '0'), '', 'Bench ' || g, '', '', 'en', "
            "'import', 'active', true, false, false, false, 0, 0, 0, 0, 0, 0, %s, %s, %s, %s "
            "FROM generate_series(1, %s) g",
            [NUMBER_PREFIX, store.pk, now, now, now, n],
        )
        ids = list(Member.objects.filter(member_number__startswith=NUMBER_PREFIX).values_list("pk", flat=True))
        buckets = [member_bucket(member_id, campaign.pk) for member_id in ids]  # campaign_deliver's hold-out draw
        cursor.execute(
            "INSERT INTO campaigns_campaignrecipient (campaign_id, member_id, occasion, held_out, status, "
            "points_granted, channels, created_at) "
            "SELECT %s, b.id, 'run:bench', b.bucket < 1000, CASE WHEN b.bucket < 1000 THEN 'held_out' "
            "ELSE 'delivered' END, 0, '[]', %s FROM unnest(%s::bigint[], %s::int[]) AS b(id, bucket)",
            [campaign.pk, delivered_at, ids, buckets],
        )
        # History: ~4 purchases per member in the 90 days to now and ~4 in the year before; reached members get
        # one extra purchase in their window for 1 in 8 of them (the lift to find).
        cursor.execute(
            "INSERT INTO members_purchase (member_id, store_id, channel, external_id, purchased_at, gross_amount, "
            "discount_amount, points_value_amount, stored_value_amount, paid_amount, payment_method, status, "
            "created_at) "
            "SELECT m.id, %s, 'pos', 'bl-' || m.id || '-' || g, "
            "%s - (CASE WHEN g <= 4 THEN random() * 90 ELSE 90 + random() * 365 END) * interval '1 day', "
            "a, 0, 0, 0, a, 'card', 'completed', %s "
            "FROM members_member m CROSS JOIN generate_series(1, 8) g "
            "CROSS JOIN LATERAL (SELECT round((50 + random() * 950)::numeric, 2) AS a) amount "
            "WHERE m.member_number LIKE %s AND abs(hashint4((m.id * 8 + g)::int)) %% 10 < 9",
            [store.pk, now, now, NUMBER_PREFIX + "%"],
        )
        cursor.execute(
            "INSERT INTO members_purchase (member_id, store_id, channel, external_id, purchased_at, gross_amount, "
            "discount_amount, points_value_amount, stored_value_amount, paid_amount, payment_method, status, "
            "created_at) "
            "SELECT r.member_id, %s, 'pos', 'bl-lift-' || r.member_id, r.created_at + random() * interval '14 days', "
            "200, 0, 0, 0, 200, 'card', 'completed', %s "
            "FROM campaigns_campaignrecipient r WHERE r.campaign_id = %s AND NOT r.held_out AND r.member_id %% 8 = 0",
            [store.pk, now, campaign.pk],
        )
    with connection.cursor() as cursor:
        for table in ("members_member", "members_purchase", "campaigns_campaignrecipient"):
            cursor.execute(f"VACUUM ANALYZE {table}")
    print(f"seeded {n} members and recipients in {time.perf_counter() - started:.1f} s", flush=True)
    return campaign


def timed(function, repeat: int) -> float:
    function()
    runs = []
    for _ in range(repeat):
        started = time.perf_counter()
        function()
        runs.append((time.perf_counter() - started) * 1000)
    return statistics.median(runs)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--recipients", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--reuse", action="store_true")
    parser.add_argument("--clean", action="store_true")
    args = parser.parse_args()

    from campaigns.models import CampaignRecipient
    from campaigns.selectors.campaign_report import _group_outcome, campaign_report

    now = timezone.now()
    campaign = setup(args.recipients, now, reuse=args.reuse)
    report = campaign_report(campaign=campaign, now=now)
    treated, control = report.treated_outcome, report.control_outcome
    print(
        f"reached {treated.members}: {treated.buyers} bought, sales {treated.sales}; "
        f"held out {control.members}: {control.buyers} bought, sales {control.sales}"
    )
    print(
        f"conversion lift {report.conversion.relative:.3%} "
        f"({report.conversion.relative_low:.3%} .. {report.conversion.relative_high:.3%}), "
        f"p = {report.conversion.p_value:.2g}; sales per member {report.sales.difference:+.2f} "
        f"({report.sales.difference_low:.2f} .. {report.sales.difference_high:.2f}); "
        f"split p = {report.sample_ratio.p_value:.3f}"
    )
    recipients = CampaignRecipient.objects.filter(campaign=campaign)

    def group(held_out):
        return lambda: _group_outcome(recipients.filter(held_out=held_out), lift_days=campaign.lift_days, now=now)

    report_ms = timed(lambda: campaign_report(campaign=campaign, now=now), args.repeat)
    treated_ms = timed(group(False), args.repeat)
    control_ms = timed(group(True), args.repeat)
    with CaptureQueriesContext(connection) as captured:
        group(False)()
    sql = next(query["sql"] for query in captured.captured_queries if "members_purchase" in query["sql"])
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL jit = off")  # as the selector runs it (campaigns.selectors.segments.jit_off)
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql)
        print("\n".join(row[0] for row in cursor.fetchall()))
    if args.clean:
        clean()
    print(
        f"RESULT campaign_report recipients={args.recipients} report_ms={report_ms:.0f} "
        f"treated_query_ms={treated_ms:.0f} control_query_ms={control_ms:.0f}"
    )


if __name__ == "__main__":
    main()

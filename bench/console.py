"""Benchmark the merchant console at a chain's size (PostgreSQL).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_console \
        .venv/bin/python bench/console.py --members 1000000 --purchases 10000000

Seeds, with generate_series in SQL: N active members over 5 tiers and 8 bench stores (joined over three years),
P purchases over the last two years, about --entries points entries (default: one per member; accruals,
redemptions, expiries and manual additions over two years, accruals with a rule breakdown) and --coupons coupons
of 5 bench templates (a quarter redeemed). Then it stores the dashboard's daily figures as the first run of the
nightly job does (every day with data: refresh_first_s) and times the nightly run after it (the last days again:
refresh_s). Then, through Django's test client, as a merchant admin (all stores) and as a store manager (bench
store 0), each page best of two:
- the dashboard (last 30 days), the member list, the header search /console/find/ by phone, member number and
  card code (answered by a redirect to the member), the member list's search box by the same three and by a
  partial member number, a member's change page, the purchase list, the points-entry list, the points report
  and the coupon report.
The load of the shared machine (`uptime`) is printed with each figure.

Bench rows are identifiable: members have wechat_unionid "console-bench" (their purchases, entries and coupons
hang off them), stores codes "cbench-<i>", templates names "Console bench <i>", users "cbench-*". They are deleted
at the start of a run and at its end unless --keep; --reuse keeps those of the last run when there are as many
(seeding 10M purchases takes a while), and then the stored daily figures too (only the nightly run is timed). The
daily figures are derived data: otherwise the run deletes and recounts them all.
Last line: RESULT console members=<n> purchases=<n> dashboard_ms=<ms> slowest_page_ms=<ms> slowest_page=<name>
refresh_s=<s>
"""

import argparse
import os
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
from django.test import Client  # noqa: E402
from django.utils import timezone  # noqa: E402

MARK = "console-bench"
BENCH_MEMBERS = "SELECT id FROM members_member WHERE wechat_unionid = 'console-bench'"
STORES = 8
TEMPLATES = 5
CHUNK = 1_000_000


def load() -> str:
    return "load " + " ".join(f"{value:.2f}" for value in os.getloadavg())


def say(text: str) -> None:
    print(f"{text} [{load()}]", flush=True)


def phone_of(g: int) -> str:
    return f"+85291{g - 1:06d}"


def _execute(sql: str, params=None) -> None:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def clean() -> None:
    from console.models import DailyFigure, FigureDay
    from coupons.models import CouponTemplate
    from members.models import Store, User

    started = time.perf_counter()
    with transaction.atomic():
        # Without the foreign keys' checks (the replica role skips their triggers): each deleted member was checked
        # against every table that refers to members, one query per row and table, minutes for 100,000 members.
        # Bench members are referred to only by the rows deleted first here.
        _execute("SET LOCAL session_replication_role = replica")
        for table in ("coupons_coupon", "members_pointsentry", "members_purchase", "members_member_tags"):
            _execute(f"DELETE FROM {table} WHERE member_id IN ({BENCH_MEMBERS})")  # noqa: S608
        _execute(f"DELETE FROM members_historicalmember WHERE id IN ({BENCH_MEMBERS})")  # noqa: S608
        _execute("DELETE FROM members_member WHERE wechat_unionid = %s", [MARK])
        templates = CouponTemplate.objects.filter(name__startswith="Console bench ")
        CouponTemplate.history.filter(name__startswith="Console bench ").delete()
        templates.delete()
        User.objects.filter(username__startswith="cbench-").delete()
        DailyFigure.objects.all().delete()
        FigureDay.objects.all().delete()
        Store.objects.filter(code__startswith="cbench-").delete()
    say(f"cleaned in {time.perf_counter() - started:.1f} s")


def seeded_counts() -> tuple[int, int]:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM ({BENCH_MEMBERS}) m")  # noqa: S608
        members = cursor.fetchone()[0]
        cursor.execute(f"SELECT count(*) FROM members_purchase WHERE member_id IN ({BENCH_MEMBERS})")  # noqa: S608
        purchases = cursor.fetchone()[0]
    return members, purchases


def seed(*, members: int, purchases: int, entries: int, coupons: int, now) -> None:
    from coupons.models import CouponTemplate
    from members.models import Store, Tier

    tiers = [
        Tier.objects.get_or_create(rank=rank, defaults={"code": f"cb{rank}", "name": f"Bench tier {rank}"})[0].pk
        for rank in range(1, 6)
    ]
    stores = [
        Store.objects.get_or_create(code=f"cbench-{i}", defaults={"name": f"Console bench {i}"})[0].pk
        for i in range(STORES)
    ]
    templates = [
        CouponTemplate.objects.create(name=f"Console bench {i}", kind="amount_off", amount=20, valid_days=30).pk
        for i in range(TEMPLATES)
    ]
    started = time.perf_counter()
    with transaction.atomic():
        _execute(
            "INSERT INTO members_member (member_number, phone, wechat_unionid, name, gender, email, locale, "
            "join_source, status, consent_marketing, consent_sms, consent_email, consent_wechat, points_balance, "
            "points_debt, points_pending, purchase_count, total_spend, stored_value_balance, tier_id, home_store_id, "
            "birthday, joined_at, created_at, updated_at) "
            "SELECT '6' || lpad(g::text, 8, '0') || '0', '+85291' || lpad((g - 1)::text, 6, '0'), %s, "
            "'Bench member ' || g, '', '', 'en', "
            "(ARRAY['home_popup', 'store_qr', 'import', 'console'])[1 + (hashint4(g + 1) & 3)], 'active', "
            "true, (hashint4(g + 3) & 1) = 0, false, false, abs(hashint4(g + 4)) %% 5000, 0, 0, 0, 0, 0, "
            "(%s::bigint[])[1 + abs(hashint4(g + 5)) %% 5], (%s::bigint[])[1 + (hashint4(g + 6) & 7)], "
            "date '1960-01-01' + abs(hashint4(g + 8)) %% 15000, "
            "%s - (abs(hashint4(g + 9)) %% 1095) * interval '1 day' - (g %% 86400) * interval '1 second', %s, %s "
            "FROM generate_series(1, %s) g",
            [MARK, tiers, stores, now, now, now, members],
        )
    say(f"seeded {members} members in {time.perf_counter() - started:.1f} s")
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT min(id) FROM ({BENCH_MEMBERS}) m")  # noqa: S608
        first_id = cursor.fetchone()[0]
    # Purchases in chunks of a million (each its own transaction), so a long seed shows its progress.
    for offset in range(0, purchases, CHUNK):
        started = time.perf_counter()
        count = min(CHUNK, purchases - offset)
        with transaction.atomic():
            _execute(
                "INSERT INTO members_purchase (member_id, store_id, channel, external_id, purchased_at, "
                "gross_amount, discount_amount, points_value_amount, stored_value_amount, paid_amount, "
                "payment_method, status, created_at) "
                "SELECT %s + abs(hashint4(g)) %% %s, (%s::bigint[])[1 + (hashint4(g + 1) & 7)], 'pos', "
                "'cb-' || g, %s - (abs(hashint4(g + 2)) %% (730 * 1440)) * interval '1 minute', a, 0, 0, 0, a, "
                "'card', 'completed', %s "
                "FROM (SELECT g, (50 + abs(hashint4(g + 3)) %% 295000 / 100.0)::numeric(12, 2) AS a "
                "      FROM generate_series(%s, %s) g) s",
                [first_id, members, stores, now, now, offset + 1, offset + count],
            )
        say(f"seeded purchases {offset + count}/{purchases} in {time.perf_counter() - started:.1f} s")
    started = time.perf_counter()
    with transaction.atomic():
        _execute(
            "INSERT INTO members_pointsentry (member_id, kind, delta, balance_after, debt_after, idempotency_key, "
            "source, reason, breakdown, created_at) "
            "SELECT %s + abs(hashint4(g)) %% %s, k, "
            "CASE WHEN k IN ('accrual', 'addition') THEN p ELSE -p END, 1000, 0, 'cbench:' || g, 'bench', "
            "CASE WHEN k = 'addition' THEN 'Bench goodwill' ELSE '' END, "
            "CASE WHEN k = 'accrual' THEN jsonb_build_object('rules', jsonb_build_array("
            "  jsonb_build_object('rule_id', 900000 + (g %% 7), 'points', p))) ELSE '{}'::jsonb END, "
            "%s - (abs(hashint4(g + 2)) %% (730 * 1440)) * interval '1 minute' "
            "FROM (SELECT g, 1 + abs(hashint4(g + 1)) %% 500 AS p, "
            "      (ARRAY['accrual', 'accrual', 'accrual', 'accrual', 'accrual', 'accrual', 'accrual', "
            "             'redemption', 'redemption', 'expiration', 'addition'])[1 + abs(hashint4(g + 3)) %% 11] AS k "
            "      FROM generate_series(1, %s) g) s",
            [first_id, members, now, entries],
        )
    say(f"seeded {entries} points entries in {time.perf_counter() - started:.1f} s")
    started = time.perf_counter()
    with transaction.atomic():
        # A quarter redeemed (in one of the bench stores), the rest available or expired.
        _execute(
            "INSERT INTO coupons_coupon (template_id, member_id, member_sequence, code, status, source, issued_at, "
            "valid_from, valid_until, redeemed_at, redeemed_store_id, discount_amount, reservation_reference, "
            "void_reason, redeemed_channel, redeemed_reference) "
            "SELECT (%s::bigint[])[1 + g %% 5], %s + (g / 5) %% %s, 1 + g / (5 * %s), 'CB' || lpad(g::text, 10, '0'), "
            "s, 'bulk', i, i, i + interval '30 days', CASE WHEN s = 'redeemed' THEN i + interval '1 day' END, "
            "CASE WHEN s = 'redeemed' THEN (%s::bigint[])[1 + (hashint4(g) & 7)] END, "
            "CASE WHEN s = 'redeemed' THEN 20 END, '', '', CASE WHEN s = 'redeemed' THEN 'pos' ELSE '' END, '' "
            "FROM (SELECT g, (ARRAY['redeemed', 'available', 'expired', 'available'])[1 + (hashint4(g + 1) & 3)] AS s, "
            "      %s - (abs(hashint4(g + 2)) %% (365 * 1440)) * interval '1 minute' AS i "
            "      FROM generate_series(0, %s - 1) g) c",
            [templates, first_id, members, members, stores, now, coupons],
        )
        _execute(
            "UPDATE coupons_coupontemplate t SET issued_count = c.n FROM (SELECT template_id, count(*) AS n "
            "FROM coupons_coupon WHERE template_id = ANY(%s) GROUP BY template_id) c WHERE t.id = c.template_id",
            [templates],
        )
    say(f"seeded {coupons} coupons in {time.perf_counter() - started:.1f} s")
    started = time.perf_counter()
    for table in ("members_member", "members_purchase", "members_pointsentry", "coupons_coupon"):
        _execute(f"VACUUM ANALYZE {table}")
    say(f"vacuum analyze in {time.perf_counter() - started:.1f} s")


def staff(store_id: int):
    from django.contrib.auth.models import Group

    from members.models import Role, User

    admin = User.objects.create_user(username="cbench-admin", password=None, is_staff=True)
    admin.groups.add(Group.objects.get(name=Role.MERCHANT_ADMIN))
    manager = User.objects.create_user(username="cbench-manager", password=None, is_staff=True, store_id=store_id)
    manager.groups.add(Group.objects.get(name=Role.STORE_MANAGER))
    return admin, manager


def refresh(now, *, reuse: bool) -> tuple[float | None, float]:
    from console.models import DailyFigure, FigureDay
    from console.services.figures import daily_figures_refresh

    first_s = None
    if not (reuse and FigureDay.objects.exists()):
        DailyFigure.objects.all().delete()
        FigureDay.objects.all().delete()
        started = time.perf_counter()
        days = daily_figures_refresh(now=now)
        first_s = time.perf_counter() - started
        say(f"refresh, first run: days {days[0]}..{days[1]} in {first_s:.1f} s")
    started = time.perf_counter()
    days = daily_figures_refresh(now=now)
    nightly_s = time.perf_counter() - started
    say(f"refresh, nightly run: days {days[0]}..{days[1]} in {nightly_s:.2f} s")
    return first_s, nightly_s


def best_of_two(client: Client, url: str, expect: int) -> float:
    timings = []
    for _run in range(2):
        started = time.perf_counter()
        response = client.get(url)
        timings.append((time.perf_counter() - started) * 1000)
        assert response.status_code == expect, (url, response.status_code)
    return min(timings)


def pages(*, admin_member, manager_member) -> dict:
    """Each page as (name, url, expected status) for a member to look up."""
    from members.formats import card_code_for

    def member_pages(member):
        card = card_code_for(member.member_number, timestamp=time.time())
        local_phone = member.phone.removeprefix("+852")
        return [
            ("find_phone", f"/console/find/?q={local_phone}", 302),
            ("find_number", f"/console/find/?q={member.member_number}", 302),
            ("find_card", f"/console/find/?q={card}", 302),
            ("search_phone", f"/console/members/member/?q={local_phone}", 200),
            ("search_number", f"/console/members/member/?q={member.member_number}", 200),
            ("search_card", f"/console/members/member/?q={card}", 200),
            ("search_partial", f"/console/members/member/?q={member.member_number[:7]}", 200),
            ("member_page", f"/console/members/member/{member.pk}/change/", 200),
        ]

    common = [
        ("dashboard", "/console/?period=30", 200),
        ("member_list", "/console/members/member/", 200),
        ("purchase_list", "/console/members/purchase/", 200),
        ("points_entry_list", "/console/members/pointsentry/", 200),
        ("points_report", "/console/points/pointsreport/", 200),
        ("coupon_report", "/console/coupons/coupontemplate/report/", 200),
    ]
    return {"admin": common + member_pages(admin_member), "manager": common + member_pages(manager_member)}


def searchable(member):
    """Give a member a member number that passes the check digit, as real ones do (the seed's end in 0)."""
    from members.formats import luhn_check_digit
    from members.models import Member

    body = member.member_number[:9]
    member.member_number = body + luhn_check_digit(body)
    Member.objects.filter(pk=member.pk).update(member_number=member.member_number)
    return member


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--purchases", type=int, default=10_000_000)
    parser.add_argument("--entries", type=int, default=None, help="points entries (default: as many as members)")
    parser.add_argument("--coupons", type=int, default=None, help="coupons (default: as many as members)")
    parser.add_argument("--keep", action="store_true", help="keep the bench rows afterwards")
    parser.add_argument("--reuse", action="store_true", help="keep the rows of the last run when as many")
    args = parser.parse_args()
    if connection.vendor != "postgresql":
        sys.exit("this benchmark needs PostgreSQL (DATABASE_URL=postgres://...)")
    if args.members > 1_000_000:
        sys.exit("at most 1,000,000 members (their phones are +85291000000-+85291999999)")
    from members.models import Member, Store

    now = timezone.now()
    say(f"console bench: {args.members} members, {args.purchases} purchases")
    from members.models import User

    if args.reuse and seeded_counts() == (args.members, args.purchases):
        say("reusing the bench rows of the last run")
        User.objects.filter(username__startswith="cbench-").delete()
    else:
        clean()
        seed(
            members=args.members,
            purchases=args.purchases,
            entries=args.entries if args.entries is not None else args.members,
            coupons=args.coupons if args.coupons is not None else args.members,
            now=now,
        )
    store = Store.objects.get(code="cbench-0")
    admin, manager = staff(store.pk)
    bench_members = Member.objects.filter(wechat_unionid=MARK)
    admin_member = searchable(bench_members.exclude(home_store=store).order_by("pk")[args.members // 2])
    manager_member = searchable(bench_members.filter(home_store=store).order_by("pk")[10])

    reused = args.reuse and seeded_counts() == (args.members, args.purchases)
    refresh_first_s, refresh_s = refresh(now, reuse=reused)

    results = {}
    for role, user in (("admin", admin), ("manager", manager)):
        client = Client()
        client.force_login(user)
        for name, url, expect in pages(admin_member=admin_member, manager_member=manager_member)[role]:
            took = best_of_two(client, url, expect)
            results[(role, name)] = took
            say(f"{role:8} {name:18} {took:8.0f} ms  {url}")

    if not args.keep:
        clean()
    dashboard_ms = max(took for (role, name), took in results.items() if name == "dashboard")
    (slow_role, slow_name), slowest = max(
        ((key, took) for key, took in results.items() if key[1] != "dashboard"), key=lambda item: item[1]
    )
    if refresh_first_s is not None:
        say(f"first refresh (every day with data): {refresh_first_s:.1f} s")
    print(
        f"RESULT console members={args.members} purchases={args.purchases} dashboard_ms={dashboard_ms:.0f} "
        f"slowest_page_ms={slowest:.0f} slowest_page={slow_role}:{slow_name} refresh_s={refresh_s:.1f}",
        flush=True,
    )


if __name__ == "__main__":
    main()

"""Benchmark the console's audit log at a chain's size (PostgreSQL).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/helper_audit \
        .venv/bin/python bench/audit_log.py --entries 1000000 --history 100000 --members 100000

Seeds, on a migrated database of its own, 20 bench stores with two staff members each, M members, N points entries
over a year (one in 20 made by a staff member, with a reason, the rest by the system) and H versions of the members'
history (one in 5 by a staff member), with generate_series. Then times through Django's test client, best of three:
the log's first page and its 21st (keyset pages) as a merchant admin, narrowed to a staff member, a member, the
points ledger and a store, the first page as a store manager, one member's CSV export, and, for scale, the tag list
(a small console page). Bench rows (stores coded `bench-audit-`, their staff and members, entries keyed
`bench-audit:`) are deleted before and, without --keep, after a run.
Last line: RESULT audit_log entries=<n> history=<n> first_page_ms=<ms> deep_page_ms=<ms> slowest_page_ms=<ms>
slowest_page=<name> tag_list_ms=<ms>
"""

import argparse
import html
import os
import re
import sys
import time
from pathlib import Path
from urllib.parse import parse_qsl

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.contrib.auth.models import Group  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.urls import reverse  # noqa: E402
from django.utils import timezone  # noqa: E402

from console.models import HistoricalUser  # noqa: E402
from members.models import Member, Role, Store, User  # noqa: E402
from members.roles import sync_roles  # noqa: E402

STORES = 20
PREFIX = "bench-audit"


def clean():
    """Delete every bench row (entries, members, their versions, staff, stores).

    Entries and members go by SQL: deleting 100,000 members through the ORM would write a history version for each.
    """
    stores = Store.objects.filter(code__startswith=PREFIX)
    store_ids = list(stores.values_list("pk", flat=True))
    staff = User.objects.filter(username__startswith=PREFIX)
    staff_ids = list(staff.values_list("pk", flat=True))
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM members_pointsentry WHERE idempotency_key LIKE %s", [f"{PREFIX}:%"])
        if store_ids:
            cursor.execute("DELETE FROM members_historicalmember WHERE home_store_id = ANY(%s)", [store_ids])
            cursor.execute("DELETE FROM members_member WHERE home_store_id = ANY(%s)", [store_ids])
    staff.delete()
    HistoricalUser.objects.filter(id__in=staff_ids).delete()
    stores.delete()
    Store.history.model.objects.filter(id__in=store_ids).delete()


def seed(*, members, entries, history):
    sync_roles()
    stores = [Store.objects.create(code=f"{PREFIX}-{n}", name=f"Bench store {n}") for n in range(STORES)]
    admin = User.objects.create(username=f"{PREFIX}-admin", is_staff=True)
    admin.groups.add(Group.objects.get(name=Role.MERCHANT_ADMIN))
    manager = User.objects.create(username=f"{PREFIX}-manager", is_staff=True, store=stores[3])
    manager.groups.add(Group.objects.get(name=Role.STORE_MANAGER))
    staff = [User.objects.create(username=f"{PREFIX}-clerk{n}", is_staff=True, store=stores[n % STORES]) for n in
             range(2 * STORES)]  # fmt: skip
    now = timezone.now()
    batch = [
        Member(member_number=f"8{n:09d}", name=f"Bench {n}", status=Member.Status.VISITOR,
               home_store=stores[n % STORES], joined_at=now)
        for n in range(members)
    ]  # fmt: skip
    Member.objects.bulk_create(batch, batch_size=10_000)
    first_member = Member.objects.filter(home_store__in=stores).order_by("pk").values_list("pk", flat=True)[0]
    staff_ids = "ARRAY[" + ",".join(str(user.pk) for user in staff) + "]"
    with connection.cursor() as cursor:
        # One entry in 20 by a staff member (an adjustment with a reason), spread over the bench's stores' staff.
        cursor.execute(f"""
            INSERT INTO members_pointsentry (member_id, kind, delta, balance_after, debt_after, idempotency_key,
                source, reason, breakdown, created_by_id, created_at)
            SELECT {first_member} + (g % {members}),
                   CASE WHEN g % 20 = 0 THEN 'addition' ELSE 'accrual' END, 10, 10 * (1 + g / {members}), 0,
                   '{PREFIX}:' || g, CASE WHEN g % 20 = 0 THEN 'console' ELSE 'purchase' END,
                   CASE WHEN g % 20 = 0 THEN 'bench adjustment' ELSE '' END, '{{}}',
                   CASE WHEN g % 20 = 0 THEN ({staff_ids})[1 + (g / 20) % {len(staff)}] END,
                   now() - (g * interval '31 seconds')
            FROM generate_series(1, {entries}) g
        """)  # noqa: S608 - the bench's own integers
        columns_of = "SELECT column_name FROM information_schema.columns WHERE table_name = %s"
        cursor.execute(columns_of, ["members_member"])
        member_columns = {row[0] for row in cursor.fetchall()}
        cursor.execute(columns_of, ["members_historicalmember"])
        columns = sorted(({row[0] for row in cursor.fetchall()} & member_columns) - {"history_id"})
        cursor.execute(f"""
            INSERT INTO members_historicalmember ({", ".join(columns)}, history_date, history_type, history_user_id)
            SELECT {", ".join("m." + column for column in columns)}, now() - (g * interval '5 minutes'), '~',
                   CASE WHEN g % 5 = 0 THEN ({staff_ids})[1 + g % {len(staff)}] END
            FROM generate_series(1, {history}) g JOIN members_member m ON m.id = {first_member} + (g % {members})
        """)  # noqa: S608
        cursor.execute("ANALYZE members_pointsentry")
        cursor.execute("ANALYZE members_historicalmember")
        cursor.execute("ANALYZE members_member")
        cursor.execute("ANALYZE members_user")
    return admin, manager, staff[3]


def best_ms(client, url, params, repeat=3):
    best = None
    for _ in range(repeat):
        started = time.perf_counter()
        response = client.get(url, params)
        if hasattr(response, "streaming_content"):
            b"".join(response.streaming_content)
        elapsed = (time.perf_counter() - started) * 1000
        assert response.status_code == 200, (url, params, response.status_code)
        best = elapsed if best is None else min(best, elapsed)
    return best, response


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--history", type=int, default=100_000)
    parser.add_argument("--keep", action="store_true", help="leave the bench rows in the database")
    args = parser.parse_args()
    if connection.vendor != "postgresql":
        sys.exit("The audit log bench runs on PostgreSQL (DATABASE_URL).")
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    clean()
    started = time.monotonic()
    admin, manager, clerk = seed(members=args.members, entries=args.entries, history=args.history)
    print(f"seeded in {time.monotonic() - started:.0f} s", flush=True)
    try:
        url = reverse("admin:console_audit_log")
        member = Member.objects.filter(home_store=manager.store).order_by("pk").first()
        client = Client()
        client.force_login(admin)
        pages = {}
        pages["first_page"], _response = best_ms(client, url, {})
        params = {}
        for _page in range(20):  # walk 20 pages down the keyset
            response = client.get(url, params)
            link = re.search(rb'href="([^"]+)" id="audit-log-next"', response.content)
            params = dict(parse_qsl(html.unescape(link.group(1).decode()).lstrip("?")))
        pages["deep_page"], _response = best_ms(client, url, params)
        pages["staff_member"], _response = best_ms(client, url, {"staff": clerk.pk})
        pages["member"], _response = best_ms(client, url, {"member": member.pk})
        pages["points_ledger"], _response = best_ms(client, url, {"type": "points"})
        pages["store"], _response = best_ms(client, url, {"store": manager.store_id})
        export = reverse("admin:console_audit_log_export")
        pages["member_csv"], _response = best_ms(client, export, {"member": member.pk})
        tag_list, _response = best_ms(client, reverse("admin:members_tag_changelist"), {})
        client.force_login(manager)
        pages["store_manager"], _response = best_ms(client, url, {})
        for name, ms in pages.items():
            print(f"{name}: {ms:.0f} ms")
        print(f"tag list (for scale): {tag_list:.0f} ms")
        slowest = max(pages, key=pages.get)
        print(
            f"RESULT audit_log entries={args.entries} history={args.history} first_page_ms={pages['first_page']:.0f} "
            f"deep_page_ms={pages['deep_page']:.0f} slowest_page_ms={pages[slowest]:.0f} slowest_page={slowest} "
            f"tag_list_ms={tag_list:.0f}"
        )
    finally:
        if not args.keep:
            clean()


if __name__ == "__main__":
    main()

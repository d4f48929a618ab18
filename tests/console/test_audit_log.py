"""The audit log: every manual change of balances, tiers, consents, programme settings and staff permissions, with
who, when, what, before and after, joined from the history tables and the ledgers; filtered, paged by keyset across
sources, held to a store's staff's store, refused to clerks, exported as CSV."""

import csv
import io
from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group, update_last_login
from django.urls import reverse
from django.utils import timezone

from campaigns.channels.unsubscribe import consent_withdraw
from console.audit_log import AuditFilters, audit_log_page
from console.models import HistoricalUser
from members.models import ProgramSettings, Role
from members.services.ledger import points_adjust
from members.services.stored_value import stored_value_adjust
from members.services.tiers import tier_override_set
from tests.console_helpers import make_staff
from tests.factories import MemberFactory, TierFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def log(now):
    """Store A's member Alice: Store A's manager adds 50 points; the merchant admin (head office, no store) adds HK$10
    of stored value and sets her tier by hand;
    Alice unsubscribes from SMS; the admin renames the programme and makes Store A's clerk Carl a manager too.
    Store B's member Bob: his store's manager removes 5 points."""
    staff = make_staff()
    admin, manager_b = staff["merchant_admin"], staff["manager_b"]
    alice = MemberFactory(home_store=staff["manager_a"].store, consent_sms=True)
    bob = MemberFactory(home_store=manager_b.store)
    points_adjust(member_id=bob.pk, points=20, reason="opening", created_by=admin, idempotency_key="b0", now=now)
    points_adjust(
        member_id=alice.pk, points=50, reason="Lost receipt", created_by=staff["manager_a"], idempotency_key="a1",
        now=now + timedelta(minutes=1),
    )  # fmt: skip
    stored_value_adjust(
        member_id=alice.pk, amount=Decimal("10.00"), reason="Goodwill", created_by=admin, idempotency_key="a2",
        now=now + timedelta(minutes=2),
    )  # fmt: skip
    gold = TierFactory(code="GOLD", name="Gold")
    tier_override_set(
        member_id=alice.pk, tier_id=gold.pk, until=now + timedelta(days=30), reason="VIP guest", created_by=admin,
        now=now + timedelta(minutes=3),
    )  # fmt: skip
    consent_withdraw(member_id=alice.pk, channel="sms", source="link", now=now + timedelta(minutes=4))
    settings_row = ProgramSettings.load()
    settings_row._history_user = admin
    settings_row.program_name = "Club Deluxe"
    settings_row.save()
    carl = UserFactory(role=Role.CLERK, store=staff["manager_a"].store, username="carl")
    carl._history_user = admin
    carl.groups.add(Group.objects.get(name=Role.STORE_MANAGER))
    points_adjust(
        member_id=bob.pk, points=-5, reason="Double scan", created_by=manager_b, idempotency_key="b1",
        now=now + timedelta(minutes=5),
    )  # fmt: skip
    return {**staff, "alice": alice, "bob": bob, "gold": gold, "carl": carl}


def rows_of(key, **filters):
    return [row for row in audit_log_page(filters=AuditFilters(**filters), limit=500).rows if row.source == key]


def changes(row):
    return [(change.field, change.before, change.after) for change in row.changes]


def test_points_added_by_staff_show_who_why_and_the_balance_before_and_after(log):
    row = rows_of("points", member_id=log["alice"].pk)[0]

    assert (row.staff, row.action, row.reason, row.member_number) == (
        log["manager_a"].username, "Manual addition +50", "Lost receipt", log["alice"].member_number,
    )  # fmt: skip
    assert changes(row) == [("Points (balance less debt)", "0", "50")]


def test_stored_value_and_tier_overrides_show_before_and_after(log):
    stored_value = rows_of("stored_value")[0]
    tier = rows_of("tier")[0]

    assert (stored_value.staff, stored_value.reason, changes(stored_value)) == (
        log["merchant_admin"].username, "Goodwill", [("Stored value", "0.00", "10.00")],
    )  # fmt: skip
    assert (tier.staff, tier.action, tier.reason) == (log["merchant_admin"].username, "Manual override", "VIP guest")
    assert changes(tier)[0] == ("Tier", "—", str(log["gold"]))


def test_a_consent_withdrawal_shows_the_member_and_its_channel(log):
    consent = rows_of("consent")[0]
    profile = rows_of("history:members.member", member_id=log["alice"].pk)[0]  # the same change on the profile

    assert (consent.staff, consent.action, consent.reason) == ("", "Consent withdrawn", "Unsubscribe link")
    assert changes(consent) == [("Consent: SMS", "—", "No")]
    assert ("SMS consent", "Yes", "No") in changes(profile)


def test_a_settings_change_is_diffed_against_the_version_before(log):
    row = rows_of("history:members.programsettings")[0]

    assert (row.staff, row.action) == (log["merchant_admin"].username, "Changed")
    # the language changed, once: not also the original column, which holds whichever language was active
    assert changes(row) == [("program name [en]", "Loyalty Club", "Club Deluxe")]


def test_a_staff_members_new_role_is_logged_with_who_gave_it(log):
    row = rows_of("history:members.user", staff_id=log["merchant_admin"].pk)[0]

    assert (row.object_id, row.action) == (str(log["carl"].pk), "Changed")
    assert changes(row) == [("groups", Role.CLERK, f"{Role.CLERK}, {Role.STORE_MANAGER}")]


def test_signing_in_writes_no_version_of_the_staff_account(log):
    clerk = log["clerk_a"]
    versions = HistoricalUser.objects.filter(id=clerk.pk).count()

    update_last_login(None, clerk)  # what Django's sign-in does

    assert HistoricalUser.objects.filter(id=clerk.pk).count() == versions


def test_the_log_is_newest_first_across_sources(log):
    rows = audit_log_page(filters=AuditFilters(member_id=log["alice"].pk), limit=500).rows

    assert [row.at for row in rows] == sorted((row.at for row in rows), reverse=True)
    assert {"points", "stored_value", "tier", "consent", "history:members.member"} <= {row.source for row in rows}


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"staff": "manager_b"}, {("points", "Manual removal -5")}),
        ({"member": "bob"}, {("points", "Manual removal -5"), ("points", "Manual addition +20")}),
        ({"source": "tier"}, {("tier", "Manual override")}),
    ],
)
def test_filters_narrow_every_source(log, filters, expected):
    asked = AuditFilters(
        staff_id=log[filters["staff"]].pk if "staff" in filters else None,
        member_id=log[filters["member"]].pk if "member" in filters else None,
        source=filters.get("source"),
    )
    rows = audit_log_page(filters=asked, limit=500).rows

    assert {(row.source, row.action) for row in rows if not row.source.startswith("history:members.member")} == (
        expected
    )


def test_the_object_filter_finds_one_object_of_a_type(log):
    clerk = log["clerk_a"]

    rows = audit_log_page(filters=AuditFilters(source="history:members.user", object_id=str(clerk.pk))).rows

    assert rows
    assert {row.object_id for row in rows} == {str(clerk.pk)}


def test_pages_follow_each_other_across_sources_without_gaps_or_repeats(log, now):
    # given rows of three sources at the very same instant (the keyset's tie-break is the source, then the key)
    member = log["alice"]
    admin = log["merchant_admin"]
    same = now + timedelta(hours=1)
    for number in range(3):
        points_adjust(member_id=member.pk, points=1, reason="tie", created_by=admin, idempotency_key=f"t{number}",
                      now=same)  # fmt: skip
        stored_value_adjust(member_id=member.pk, amount=Decimal("1.00"), reason="tie", created_by=admin,
                            idempotency_key=f"s{number}", now=same)  # fmt: skip
    everything = [(row.source, row.pk) for row in audit_log_page(filters=AuditFilters(), limit=500).rows]

    # when the log is read two rows at a time
    paged, cursor = [], None
    while True:
        page = audit_log_page(filters=AuditFilters(), cursor=cursor, limit=2)
        paged.extend((row.source, row.pk) for row in page.rows)
        if page.next_cursor is None:
            break
        cursor = page.next_cursor

    # then the pages are the whole log, in order, once
    assert paged == everything
    assert len(set(paged)) == len(paged)
    assert len(everything) > 10


def test_a_stores_manager_sees_their_stores_rows_only(client, log):
    client.force_login(log["manager_b"])

    response = client.get(reverse("admin:console_audit_log"))

    rows = [row for row, _url in response.context["rows"]]
    assert response.status_code == 200
    # Bob's points, Bob's profile, Store B and its manager's account; not Alice's rows, not brand-wide settings
    assert {row.source for row in rows} == {
        "points", "history:members.member", "history:members.store", "history:members.user",
    }  # fmt: skip
    assert {row.member_number for row in rows} == {log["bob"].member_number, ""}
    assert {row.object_id for row in rows if row.source == "history:members.user"} == {
        str(log["manager_b"].pk), str(log["merchant_admin_b"].pk),
    }  # fmt: skip


def test_a_stores_manager_may_not_ask_for_another_store(client, log):
    client.force_login(log["manager_b"])

    response = client.get(reverse("admin:console_audit_log"), {"store": log["manager_a"].store_id})

    assert response.status_code == 403


def test_the_merchant_admin_may_narrow_the_log_to_a_store(client, log):
    client.force_login(log["merchant_admin"])

    response = client.get(reverse("admin:console_audit_log"), {"store": log["manager_a"].store_id})

    sources = {row.source for row, _url in response.context["rows"]}
    assert response.status_code == 200
    # Store A's manager's points, Alice's consent and profile, Store A's staff accounts; head office's stored value
    # and tier changes and the programme's settings are brand-wide
    assert {"points", "consent", "history:members.member", "history:members.user"} <= sources
    assert not sources & {"stored_value", "tier", "history:members.programsettings"}
    assert log["bob"].member_number not in {row.member_number for row, _url in response.context["rows"]}


def test_the_page_links_to_the_next_one(client, log):
    client.force_login(log["merchant_admin"])
    url = reverse("admin:console_audit_log")

    first = client.get(url, {"member": log["alice"].pk})
    rows = first.context["rows"]
    assert first.status_code == 200
    assert first.context["next_url"] is None
    assert all(row.member_id == log["alice"].pk for row, _url in rows)
    assert b"Lost receipt" in first.content


def test_a_stores_manager_filtering_by_another_stores_member_learns_nothing_of_them(client, log):
    client.force_login(log["manager_b"])

    response = client.get(reverse("admin:console_audit_log"), {"member": log["alice"].pk})

    # no rows (Alice is Store A's), and the header does not turn her id into her member number
    assert response.status_code == 200
    assert response.context["rows"] == []
    assert response.context["member"] is None
    assert log["alice"].member_number not in response.text


@pytest.mark.parametrize("page", ["admin:console_audit_log", "admin:console_audit_log_export"])
def test_a_clerk_may_not_read_the_log_or_export_it(client, log, page):
    client.force_login(log["clerk_a"])

    assert client.get(reverse(page)).status_code == 403


def test_the_csv_export_has_one_line_per_changed_field_of_the_filtered_log(client, log):
    client.force_login(log["merchant_admin"])

    response = client.get(reverse("admin:console_audit_log_export"), {"member": log["bob"].pk, "type": "points"})

    lines = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode("utf-8-sig"))))
    assert response["Content-Type"].startswith("text/csv")
    assert lines[0][:3] == ["When", "Staff", "Action"]
    assert [(line[1], line[2], line[7], line[8], line[9], line[10]) for line in lines[1:]] == [
        (log["manager_b"].username, "Manual removal -5", "Points (balance less debt)", "20", "15", "Double scan"),
        (log["merchant_admin"].username, "Manual addition +20", "Points (balance less debt)", "0", "20", "opening"),
    ]


def test_the_csv_export_opens_in_excel_as_text_never_as_a_formula(client, log):
    # given a member who named herself with a formula in the mini program, and an adjustment with one as its reason
    alice = log["alice"]
    alice.name = '=HYPERLINK("http://evil.example","Refund")'
    alice.save()
    points_adjust(member_id=alice.pk, points=1, reason="@SUM(A1)", created_by=log["merchant_admin"],
                  idempotency_key="formula", now=timezone.now())  # fmt: skip
    client.force_login(log["merchant_admin"])

    # when the log is exported
    response = client.get(reverse("admin:console_audit_log_export"), {"member": alice.pk})

    # then the file starts with the byte-order mark Excel needs for Chinese, and those cells are text
    body = b"".join(response.streaming_content).decode("utf-8")
    cells = {cell for line in csv.reader(io.StringIO(body.removeprefix("\ufeff"))) for cell in line}
    assert body.startswith("\ufeff")
    assert '\'=HYPERLINK("http://evil.example","Refund")' in cells
    assert "'@SUM(A1)" in cells
    assert not {cell for cell in cells if cell.startswith(("=", "@"))}


def test_a_stores_manager_exports_their_store_only(client, log):
    client.force_login(log["manager_a"])

    response = client.get(reverse("admin:console_audit_log_export"))

    body = b"".join(response.streaming_content).decode()
    assert log["alice"].member_number in body
    assert log["bob"].member_number not in body
    assert "Club Deluxe" not in body


def test_a_new_staff_member_is_logged_as_created(log):
    admin = log["merchant_admin"]
    newcomer = UserFactory.build(username="newcomer", store=log["manager_a"].store, is_staff=True)
    newcomer._history_user = admin
    newcomer.save()

    row = rows_of("history:members.user", object_id=str(newcomer.pk), source="history:members.user")[-1]

    assert (row.action, row.staff) == ("Created", admin.username)
    assert ("username", "—", "newcomer") in changes(row)
    assert not any(change.field == "password" for change in row.changes)

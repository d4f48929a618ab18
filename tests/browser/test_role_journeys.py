"""Each role's working day in a real browser (issue 15): log in, see only the role's sidebar entries, read the
console in 繁體中文 and 简体中文 and back in English, open the dashboard and see its charts drawn, find a member by
phone from the header and open their page, import a CSV with one bad row and read that row's error, adjust points
with a reason and find it in the audit log, issue a coupon; and what the role may not reach, refused.

Every journey also asserts that the console works offline (no request leaves the machine: the charts' script and
the fonts come from our own static files) and that no page logs an error or answers an error it did not expect.
"""

from datetime import timedelta
from decimal import Decimal

import pytest
from playwright.sync_api import expect

from coupons.models import Coupon
from members.models import Member, PointsEntry, Role
from members.services.ledger import points_credit
from tests.browser.helpers import CHARTS_DRAWN, find_member, log_in, switch_language, watch_errors, watch_offline
from tests.coupons.factories import CouponTemplateFactory
from tests.factories import MemberFactory, StoreFactory, UserFactory, checkout_sale

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Sidebar entries by their English title and the page they open.
SIDEBAR = {
    "Dashboard": "/console/",
    "Members": "/console/members/member/",
    "Import members": "/console/members/member/import/",
    "Purchases": "/console/members/purchase/",
    "Points ledger": "/console/members/pointsentry/",
    "Points report": "/console/points/pointsreport/",
    "Hand over a pickup": "/console/points/rewardorder/fulfil/",
    "Issued coupons": "/console/coupons/coupon/",
    "Coupon templates": "/console/coupons/coupontemplate/",
    "Campaigns": "/console/campaigns/campaign/",
    "Audit log": "/console/audit-log/",
    "Program settings": "/console/members/programsettings/",
    "Staff": "/console/members/user/",
    "Roles": "/console/auth/group/",
    "Schedules": "/console/django_celery_beat/periodictask/",
}
# The import: a good row, then a birthday that is no date (row 3 as a spreadsheet numbers it, the header row 1).
IMPORT_CSV = b"phone,name,birthday\n61234501,Dora Lam,1990-01-01\n61234502,Eve Ho,1990-02-30\n"


@pytest.fixture
def chain(now):
    """Two stores; Alice of Causeway Bay (points and a purchase yesterday), Bob of Central; a coupon template."""
    cwb = StoreFactory(code="cwb", name="Causeway Bay")
    central = StoreFactory(code="central", name="Central")
    alice = MemberFactory(
        name="Alice Chan 陳嘉欣", phone="+85291234567", home_store=cwb, joined_at=now - timedelta(days=3)
    )
    points_credit(member_id=alice.pk, points=80, idempotency_key="welcome", now=now, reason="Welcome bonus")
    checkout_sale(store=cwb, member=alice, now=now - timedelta(days=1), external_id="b1", gross_amount=Decimal("120"))
    bob = MemberFactory(name="Bob Wong", phone="+85261234567", home_store=central)
    template = CouponTemplateFactory(name="HK$20 off")
    return {"cwb": cwb, "central": central, "alice": alice, "bob": bob, "template": template}


# -- the steps every journey shares ----------------------------------------------------------------------------------
def expect_sidebar(page, *, shows, hides):
    for title in shows:
        expect(page.locator(f'#nav-sidebar a[href="{SIDEBAR[title]}"]', has_text=title).first).to_be_visible()
    for title in hides:
        expect(page.locator(f'#nav-sidebar a[href="{SIDEBAR[title]}"]')).to_have_count(0)


def read_in_chinese_and_back(page):
    """繁體中文, 简体中文, then English again: the sidebar and the header follow the language."""
    members = page.locator(f'#nav-sidebar a[href="{SIDEBAR["Members"]}"]').first
    switch_language(page, "zh-hant")
    expect(members).to_contain_text("會員")
    expect(page.locator("#console-language-submit")).to_have_text("更改語言")
    switch_language(page, "zh-hans")
    expect(members).to_contain_text("会员")
    expect(page.locator("#console-language-submit")).to_have_text("切换语言")
    switch_language(page, "en")
    expect(members).to_contain_text("Members")
    expect(page.locator("#console-language-submit")).to_have_text("Change language")


def expect_dashboard_charts(page):
    page.goto("/console/")
    expect(page.locator("#console-kpis .console-kpi")).to_have_count(9)
    expect(page.locator("#console-charts canvas.chart")).to_have_count(4)
    assert page.evaluate(CHARTS_DRAWN) == [True, True, True, True]


def import_a_csv_with_a_bad_row(page):
    """Upload the file; the preview counts one new member and names the bad row and its column."""
    page.goto(SIDEBAR["Import members"])
    page.set_input_files("#id_file", files=[{"name": "members.csv", "mimeType": "text/csv", "buffer": IMPORT_CSV}])
    page.click("#member-import-form input[type=submit]")
    expect(page.locator("#import-counts")).to_contain_text("1 new members")
    expect(page.locator("#import-errors tbody tr")).to_have_count(1)
    bad_row = page.locator("#import-errors tbody tr td")
    expect(bad_row).to_have_text(["3", "birthday", "“1990-02-30” is not a real date."])
    page.click("input[value='Confirm import']")
    expect(page.locator(".messagelist .warning")).to_contain_text("1 new, 0 updated, 1 rows with errors")
    assert Member.objects.filter(phone="+85261234501", name="Dora Lam").exists()
    assert not Member.objects.filter(phone="+85261234502").exists()


def issue_a_coupon(page, member, template):
    page.click("#member-action-coupon")
    page.select_option("#id_template", label=template.name)
    page.click("#member-action-submit")
    expect(page.locator(".messagelist .success")).to_contain_text("issued to")
    expect(page.locator("#member-coupons")).to_contain_text(template.name)
    assert Coupon.objects.filter(member=member, template=template, source=Coupon.Source.MANUAL).count() == 1


def refused(page, url):
    """Open a page the role may not reach: Django's 403 page."""
    response = page.goto(url)
    assert response.status == 403, url
    expect(page.locator("h1")).to_have_text("403 Forbidden")


# -- the journeys ----------------------------------------------------------------------------------------------------
def test_a_merchant_admin_runs_the_whole_programme(page, chain):
    alice = chain["alice"]
    admin = UserFactory(username="admin.brand", role=Role.MERCHANT_ADMIN, store=None)
    errors, outside = watch_errors(page), watch_offline(page)

    # logs in to the dashboard, with every part of the console in the sidebar
    log_in(page, admin.username)
    expect_sidebar(page, shows=list(SIDEBAR), hides=[])
    read_in_chinese_and_back(page)

    # the dashboard's charts are drawn, for the brand and for one store
    expect_dashboard_charts(page)
    expect(page.locator("#kpi-active_members .kpi-value")).to_have_text("1")
    page.select_option("#console-store", label="Central")
    page.click("#console-dashboard-apply")
    expect(page.locator("#kpi-active_members .kpi-value")).to_have_text("0")
    assert page.evaluate(CHARTS_DRAWN) == [True, True, True, True]

    # imports members from a file with one bad row
    import_a_csv_with_a_bad_row(page)

    # finds Alice by her phone from the header and opens her page
    find_member(page, "9123 4567")
    expect(page.locator("#member-profile")).to_contain_text("Alice Chan 陳嘉欣")
    expect(page.locator("#member-points-balance")).to_have_text("80")

    # adjusts her points with a reason, then finds the change in the audit log
    page.click("#member-action-points")
    page.fill("#id_points", "120")
    page.fill("#id_reason", "Goodwill for a late delivery")
    page.click("#member-action-submit")
    expect(page.locator("#member-points-balance")).to_have_text("200")
    page.click("#member-audit")
    row = page.locator("#audit-log-rows .audit-row", has_text="Goodwill for a late delivery")
    expect(row).to_contain_text(admin.username)
    expect(row.locator(".audit-change")).to_contain_text("80 → 200")
    entry = PointsEntry.objects.get(kind="addition")
    assert (entry.delta, entry.created_by_id, entry.balance_after) == (120, admin.pk, 200)

    # issues her a coupon, and may export her data
    page.goto(f"/console/member/{alice.pk}/")
    issue_a_coupon(page, alice, chain["template"])
    export = page.request.get(page.locator("#member-export-csv").get_attribute("href"))
    assert export.status == 200
    assert "Alice Chan" in export.text()

    assert errors == []
    assert outside == []


def test_a_store_manager_runs_their_store(page, chain):
    alice, bob = chain["alice"], chain["bob"]
    manager = UserFactory(username="manager.cwb", role=Role.STORE_MANAGER, store=chain["cwb"])
    errors, outside = watch_errors(page), watch_offline(page)

    # logs in to the store's entries of the sidebar: no staff, roles, programme settings or schedules
    log_in(page, manager.username)
    expect_sidebar(
        page,
        shows=["Dashboard", "Members", "Import members", "Purchases", "Points report", "Issued coupons", "Audit log"],
        hides=["Program settings", "Staff", "Roles", "Schedules"],
    )
    read_in_chinese_and_back(page)

    # the dashboard shows the store's figures only, charts drawn
    expect_dashboard_charts(page)
    expect(page.locator("#console-store")).to_have_text("Causeway Bay")
    expect(page.locator("#kpi-active_members .kpi-value")).to_have_text("1")
    page.select_option("#console-period", "7")
    page.click("#console-dashboard-apply")
    expect(page.locator("#console-period")).to_have_value("7")
    assert page.evaluate(CHARTS_DRAWN) == [True, True, True, True]

    # imports members into the store from a file with one bad row
    import_a_csv_with_a_bad_row(page)
    assert Member.objects.get(phone="+85261234501").home_store == chain["cwb"]

    # finds Alice by phone, issues her a coupon; adjusting points is the merchant's, neither offered nor reachable
    find_member(page, "+852 9123 4567")
    expect(page.locator("#member-profile")).to_contain_text("Alice Chan 陳嘉欣")
    expect(page.locator("#member-action-points")).to_have_count(0)
    issue_a_coupon(page, alice, chain["template"])

    # freezes her card with a reason and finds the change in the store's audit log
    page.click("#member-action-freeze")
    page.fill("#id_reason", "Card reported lost")
    page.click("#member-action-submit")
    expect(page.locator("#member-status")).to_contain_text("Frozen")
    page.click("#member-audit")
    expect(page.locator("#audit-log-rows .audit-row", has_text="Card reported lost")).to_contain_text(manager.username)

    assert errors == []

    # adjusting points (by the address) and a member of another store are refused
    refused(page, f"/console/member/{alice.pk}/points/")
    refused(page, f"/console/member/{bob.pk}/")
    assert not PointsEntry.objects.filter(kind="addition").exists()
    assert outside == []


def test_a_clerk_serves_members_at_the_till_and_nothing_more(page, chain):
    alice, bob = chain["alice"], chain["bob"]
    clerk = UserFactory(username="clerk.cwb", role=Role.CLERK, store=chain["cwb"])
    errors, outside = watch_errors(page), watch_offline(page)

    # logs in to the till's entries: no import, campaigns, audit log or settings of the programme
    log_in(page, clerk.username)
    expect_sidebar(
        page,
        shows=["Dashboard", "Members", "Purchases", "Points ledger", "Hand over a pickup", "Issued coupons"],
        hides=["Import members", "Points report", "Coupon templates", "Campaigns", "Audit log", "Staff", "Roles"],
    )
    read_in_chinese_and_back(page)

    # the home page is the member search, without the figures
    expect(page.locator("#console-dashboard-search")).to_be_visible()
    expect(page.locator("#console-kpis")).to_have_count(0)
    expect(page.locator("#console-charts")).to_have_count(0)

    # finds Alice by phone and reads her page, with no action and no export offered
    find_member(page, "91234567")
    expect(page.locator("#member-profile")).to_contain_text("Alice Chan 陳嘉欣")
    expect(page.locator("#member-points")).to_contain_text("Welcome bonus")
    expect(page.locator("#member-360-actions a[id^=member-action-]")).to_have_count(0)
    expect(page.locator("#member-export-csv")).to_have_count(0)
    expect(page.locator("#member-audit")).to_have_count(0)

    assert errors == []

    # exports, the import, the audit log, an action and a member of another store are refused
    refused(page, "/console/members/member/export/")
    refused(page, f"/console/member/{alice.pk}/export.csv")
    refused(page, SIDEBAR["Import members"])
    refused(page, SIDEBAR["Audit log"])
    refused(page, f"/console/member/{alice.pk}/coupon/")
    refused(page, f"/console/member/{bob.pk}/")
    assert not Coupon.objects.exists()
    assert outside == []

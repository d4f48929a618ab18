"""The console's home in a real browser: each role logs in to the dashboard, the charts are drawn by the Chart.js
shipped in Unfold's static files (no CDN, no console errors), and the language switches."""

from datetime import timedelta
from decimal import Decimal

import pytest
from playwright.sync_api import expect

from members.models import Role
from tests.browser.test_console_flows import log_in
from tests.factories import MemberFactory, StoreFactory, UserFactory, checkout_sale

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CHARTS_DRAWN = """() => [...document.querySelectorAll('#console-charts canvas.chart')]
    .map(canvas => Chart.getChart(canvas) !== undefined && canvas.width > 0)"""


@pytest.fixture
def store(now):
    store = StoreFactory(code="a", name="Store A")
    member = MemberFactory(home_store=store, joined_at=now - timedelta(days=3))
    checkout_sale(
        store=store, member=member, now=now - timedelta(days=1), external_id="b1", gross_amount=Decimal("120.00")
    )
    return store


def watch_errors(page):
    errors = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("response", lambda response: errors.append(response.url) if response.status >= 400 else None)
    return errors


@pytest.mark.parametrize("role", [Role.MERCHANT_ADMIN, Role.STORE_MANAGER])
def test_the_dashboard_draws_its_charts_and_switches_language(page, store, role):
    user = UserFactory(username=f"{role}.a", role=role, store=None if role == Role.MERCHANT_ADMIN else store)
    errors = watch_errors(page)

    log_in(page, user.username)

    expect(page.locator("#console-kpis .console-kpi")).to_have_count(9)
    expect(page.locator("#console-charts canvas.chart")).to_have_count(4)
    assert page.evaluate(CHARTS_DRAWN) == [True, True, True, True]
    expect(page.locator("#kpi-active_members .kpi-value")).to_have_text("1")
    page.select_option("#console-period", "7")
    page.click("#console-dashboard-apply")
    expect(page.locator("#console-period")).to_have_value("7")

    page.select_option("#console-language", "zh-hans")
    page.click("#console-language-submit")

    expect(page.locator("html")).to_have_attribute("lang", "zh-hans")
    expect(page.locator("#console-charts canvas.chart")).to_have_count(4)
    assert page.evaluate(CHARTS_DRAWN) == [True, True, True, True]
    assert errors == []


def test_a_clerk_lands_on_the_member_search(page, store):
    clerk = UserFactory(username="clerk.a", role=Role.CLERK, store=store)
    errors = watch_errors(page)

    log_in(page, clerk.username)

    expect(page.locator("#console-dashboard-search")).to_be_visible()
    expect(page.locator("#console-kpis")).to_have_count(0)
    expect(page.locator("#nav-sidebar")).not_to_contain_text("Staff")
    page.select_option("#console-language", "zh-hant")
    page.click("#console-language-submit")
    expect(page.locator("html")).to_have_attribute("lang", "zh-hant")
    assert errors == []

"""Member 360 in a real browser: the header's search opens the member's page, and points are adjusted from it with a
reason that the page's ledger then shows."""

import pytest
from playwright.sync_api import expect

from members.models import PointsEntry, Role
from members.services.ledger import points_credit
from tests.factories import MemberFactory, StoreFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_header_search_opens_the_member_page_where_points_are_adjusted_with_a_reason(page, now):
    store = StoreFactory(code="a", name="Store A")
    user = UserFactory(username="admin.a", role=Role.MERCHANT_ADMIN, store=store)
    member = MemberFactory(name="Alice Chan 陳嘉欣", phone="+85291234567", home_store=store)
    points_credit(member_id=member.pk, points=80, idempotency_key="welcome", now=now, reason="Welcome bonus")
    page.goto("/console/")
    page.fill("#id_username", user.username)
    page.fill("#id_password", "pass-word-123")
    page.click("button[type=submit]")

    page.fill("#console-member-search-input", "9123 4567")
    page.click("#console-member-search-submit")
    expect(page.locator("#member-profile")).to_contain_text("Alice Chan 陳嘉欣")
    page.click("#member-action-points")
    page.fill("#id_points", "120")
    page.fill("#id_reason", "Goodwill for a late delivery")
    page.click("#member-action-submit")

    expect(page.locator("#member-points-balance")).to_have_text("200")
    expect(page.locator("#member-points")).to_contain_text("Goodwill for a late delivery")
    entry = PointsEntry.objects.get(kind="addition")
    assert (entry.delta, entry.created_by_id, entry.reason) == (120, user.pk, "Goodwill for a late delivery")

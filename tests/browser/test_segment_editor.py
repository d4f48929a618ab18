"""The segment editor in a real browser: the builder writes the rule, the count and sample come back live, and
the saved segment keeps what the builder wrote."""

import json
import re

import pytest
from playwright.sync_api import expect

from campaigns.models import Segment
from members.models import Role
from tests.browser.helpers import log_in
from tests.factories import MemberFactory, StoreFactory, TierFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_build_a_rule_see_the_count_and_save_it(page):
    # given a merchant admin and two gold members of three
    gold = TierFactory(name="Gold")
    store = StoreFactory(code="a", name="Store A")
    MemberFactory.create_batch(2, tier=gold, home_store=store)
    MemberFactory(home_store=store)
    user = UserFactory(username="admin.segments", role=Role.MERCHANT_ADMIN)
    log_in(page, user.username)

    # when they add a tier condition with the builder
    page.goto("/console/campaigns/segment/add/")
    page.fill("#id_name", "Gold members")
    page.click("#segment-builder button:has-text('+ condition')")
    page.select_option("#segment-builder .segment-condition select >> nth=0", "tier")
    page.fill("#segment-builder .segment-condition input >> nth=0", f"[{gold.pk}]")
    page.press("#segment-builder .segment-condition input >> nth=0", "Tab")

    # then the rule follows, the count and a sample come back, and the segment saves with that rule
    expect(page.locator("#segment-count")).to_have_text("2")
    expect(page.locator("#segment-sample tbody tr")).to_have_count(2)
    assert json.loads(page.input_value("textarea[name=rule]")) == {
        "match": "all",
        "conditions": [{"field": "tier", "op": "in", "value": [gold.pk]}],
    }
    page.click("[name=_save]")
    expect(page).to_have_url(re.compile(r"/console/campaigns/segment/$"))
    assert Segment.objects.get().rule["conditions"] == [{"field": "tier", "op": "in", "value": [gold.pk]}]

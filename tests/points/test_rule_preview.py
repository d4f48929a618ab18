"""Rule preview: what a rule would have granted on the last 90 days of purchases, in one aggregate query."""

from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from members.models import Purchase
from points.models import EarningRule
from points.selectors import earning_rule_preview
from tests.factories import MemberFactory, PurchaseFactory, StoreFactory, TierFactory

pytestmark = pytest.mark.django_db
HK = ZoneInfo("Asia/Hong_Kong")
NOW = datetime(2026, 6, 30, 12, 0, tzinfo=HK)  # a Tuesday


@pytest.fixture
def history(store, policy):
    """Three members' purchases: a Saturday HK$250 and a Monday HK$99.90 (a), a Sunday HK$1,000 (b),
    one of 100 days ago (c, outside the window) and one fully refunded (a)."""
    a, b, c = MemberFactory(), MemberFactory(), MemberFactory()
    rows = [
        (a, datetime(2026, 6, 27, 15, 0, tzinfo=HK), "250.00", "completed"),
        (a, datetime(2026, 6, 29, 10, 0, tzinfo=HK), "99.90", "completed"),
        (b, datetime(2026, 6, 28, 20, 0, tzinfo=HK), "1000.00", "completed"),
        (c, NOW - timedelta(days=100), "500.00", "completed"),
        (a, datetime(2026, 6, 20, 10, 0, tzinfo=HK), "800.00", "refunded"),
    ]
    for member, at, amount, status in rows:
        PurchaseFactory(member=member, store=store, purchased_at=at, gross_amount=Decimal(amount), status=status)
    for member in (a, b, c):
        first = Purchase.objects.filter(member=member).order_by("purchased_at").first()
        type(member).objects.filter(pk=member.pk).update(first_purchase_at=first.purchased_at)
    return a, b, c


def rule(**fields):
    return EarningRule(name="draft", priority=500, **fields)


def test_a_base_rate_preview_counts_points_members_and_liability(history):
    preview = earning_rule_preview(
        rule=rule(kind="base_rate", amount_per_unit=Decimal(100), points_per_unit=10), now=NOW
    )

    # floor(25.0) + floor(9.99) + floor(100.0) = 25 + 9 + 100
    assert (preview.points, preview.purchases, preview.members) == (134, 3, 2)
    assert preview.liability == Decimal("1.34")  # 500 points = HK$5


def test_a_weekend_multiplier_preview_prices_the_extra_on_the_base_rate(history, base_rule):
    preview = earning_rule_preview(rule=rule(kind="multiplier", multiplier=Decimal(2), weekdays=[5, 6]), now=NOW)

    assert (preview.points, preview.purchases, preview.members) == (125, 2, 2)
    assert any("multiplier" in note for note in preview.notes)


def test_a_first_purchase_bonus_preview_counts_first_purchases_in_the_window(history):
    preview = earning_rule_preview(rule=rule(kind="bonus_first_purchase", bonus_points=50), now=NOW)

    # a's first purchase is the refunded one (left out); b's is in the window; c's is outside it
    assert (preview.points, preview.purchases, preview.members) == (50, 1, 1)


def test_a_rule_scoped_to_another_store_or_tier_reaches_nobody(history):
    base = {"kind": "base_rate", "amount_per_unit": Decimal(100), "points_per_unit": 10}

    by_store = earning_rule_preview(rule=rule(**base), store_ids=[StoreFactory().pk], now=NOW)
    by_tier = earning_rule_preview(rule=rule(**base), tier_ids=[TierFactory().pk], now=NOW)

    assert (by_store.points, by_store.members) == (0, 0)
    assert (by_tier.points, by_tier.members) == (0, 0)


def test_a_cap_per_purchase_applies_in_the_preview(history):
    preview = earning_rule_preview(
        rule=rule(kind="base_rate", amount_per_unit=Decimal(100), points_per_unit=10, max_points_per_purchase=20),
        now=NOW,
    )

    assert preview.points == 20 + 9 + 20


def test_a_behaviour_rule_is_not_previewed(history):
    preview = earning_rule_preview(rule=rule(kind="behaviour", behaviour_event="share", bonus_points=3), now=NOW)

    assert (preview.points, preview.members) == (0, 0)
    assert len(preview.notes) == 2


def test_the_preview_is_one_query(history, django_assert_num_queries, policy):
    draft = rule(kind="base_rate", amount_per_unit=Decimal(100), points_per_unit=10, weekdays=[5, 6])

    with django_assert_num_queries(2):  # the policy row, then the aggregate
        earning_rule_preview(rule=draft, now=NOW)


def test_the_console_preview_button_shows_figures_and_saves_nothing(history, admin_client):
    response = admin_client.post(
        "/console/points/earningrule/add/",
        {"name_en": "Draft", "kind": "base_rate", "priority": "77", "is_active": "on", "amount_per_unit": "100.00",
         "points_per_unit": "10", "rounding": "floor", "_preview": "1"},
    )  # fmt: skip

    assert response.status_code == 200
    assert "would have granted" in response.content.decode()
    assert not EarningRule.objects.filter(priority=77).exists()

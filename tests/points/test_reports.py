"""The points report: monthly issued / redeemed / expired, outstanding points and liability, turnover,
top rules; scoped to the home store for store staff, refused to clerks."""

from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse

from members.models import PointsEntry, Role
from members.services.ledger import points_credit, points_debit
from points.models import EarningRule
from points.reports import points_report
from tests.factories import MemberFactory, StoreFactory, UserFactory

pytestmark = pytest.mark.django_db

HK = ZoneInfo("Asia/Hong_Kong")
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=HK)
OCTOBER = datetime(2026, 10, 10, 12, 0, tzinfo=HK)
REPORT_URL = reverse("admin:points_pointsreport_changelist")
Kind = PointsEntry.Kind


def credit(member, points, at, key, **extra):
    return points_credit(member_id=member.pk, points=points, idempotency_key=key, now=at, **extra)


def debit(member, points, at, key, kind=Kind.REDEMPTION):
    return points_debit(member_id=member.pk, points=points, kind=kind, idempotency_key=key, now=at)


@pytest.fixture
def history():
    """October: 1,000 earned, 200 spent. November: 500 earned, 100 spent, 300 expired, 50 given back by a refund."""
    member = MemberFactory()
    credit(member, 1000, OCTOBER, "oct-earn")
    debit(member, 200, OCTOBER + timedelta(days=1), "oct-spend")
    credit(member, 500, NOW - timedelta(days=5), "nov-earn")
    debit(member, 100, NOW - timedelta(days=4), "nov-spend")
    debit(member, 300, NOW - timedelta(days=3), "nov-expire", kind=Kind.EXPIRATION)
    credit(member, 50, NOW - timedelta(days=2), "nov-refund", kind=Kind.REFUND)
    return member


def test_months_add_up_and_the_turnover_uses_the_start_of_the_month(history):
    report = points_report(now=NOW, months=3)

    september, october, november = report.months
    assert (september.issued, september.outstanding_end) == (0, 0)
    assert (october.issued, october.redeemed, october.outstanding_start, october.outstanding_end) == (1000, 200, 0, 800)
    assert october.turnover_percent is None  # nothing outstanding at its start
    assert (november.issued, november.redeemed, november.expired) == (500, 50, 300)  # 100 spent - 50 given back
    assert november.outstanding_start == 800
    assert november.outstanding_end == 950
    assert november.turnover_percent == Decimal("43.8")  # (50 + 300) / 800


def test_outstanding_points_and_their_liability_follow_the_balances(history):
    report = points_report(now=NOW)
    assert report.outstanding_points == 950
    assert report.liability == Decimal("9.50")  # the default value: 500 points = HK$5


def test_top_rules_read_each_rules_share_from_the_breakdown():
    member = MemberFactory()
    base = EarningRule.objects.create(name="Base", kind=EarningRule.Kind.BASE_RATE, priority=10)
    bonus = EarningRule.objects.create(name="Shoes bonus", kind=EarningRule.Kind.BONUS_CATEGORY, priority=20)
    for n, (base_points, bonus_points) in enumerate([(10, 50), (20, 0)]):
        rules = [{"rule_id": base.pk, "name": "Base", "kind": "base_rate", "points": base_points}]
        if bonus_points:
            rules.append({"rule_id": bonus.pk, "name": "Shoes", "kind": "category_bonus", "points": bonus_points})
        credit(member, base_points + bonus_points, NOW - timedelta(days=1), f"p{n}",
               breakdown={"total": base_points + bonus_points, "rules": rules})  # fmt: skip

    top = points_report(now=NOW).top_rules

    assert [(rule.name, rule.points, rule.purchases) for rule in top] == [("Shoes bonus", 50, 1), ("Base", 30, 2)]


def test_store_staff_see_only_their_stores_members(client, history):
    store = StoreFactory()
    local = MemberFactory(home_store=store)
    credit(local, 70, NOW - timedelta(days=1), "local")
    client.force_login(UserFactory(role=Role.STORE_MANAGER, store=store))

    response = client.get(REPORT_URL)

    assert response.status_code == 200
    assert response.context["report"].outstanding_points == 70


def test_a_merchant_admin_sees_the_whole_programme(client, history):
    client.force_login(UserFactory(role=Role.MERCHANT_ADMIN))
    response = client.get(REPORT_URL)
    assert response.status_code == 200
    assert response.context["report"].outstanding_points == 950
    assert b"points-months" in response.content


def test_a_clerk_may_not_see_the_report(client):
    client.force_login(UserFactory(role=Role.CLERK, store=StoreFactory()))
    assert client.get(REPORT_URL).status_code == 403


def test_an_auction_hold_released_in_the_same_month_is_not_a_redemption():
    member = MemberFactory()
    credit(member, 500, NOW - timedelta(days=3), "earn")
    debit(member, 200, NOW - timedelta(days=2), "hold", kind=Kind.TRANSFER_OUT)
    credit(member, 200, NOW - timedelta(days=1), "release", kind=Kind.TRANSFER_IN)

    november = points_report(now=NOW, months=1).months[0]

    assert (november.issued, november.redeemed, november.outstanding_end) == (500, 0, 500)

"""The dashboard (the console's home): KPIs against the previous period, the same figures whether stored by the
nightly refresh or counted live, a store's staff held to their store."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django_celery_beat.models import PeriodicTask

from console.models import DailyFigure, FigureDay
from console.schedules import REFRESH_TASK_NAME
from console.selectors import dashboard_figures
from console.services.figures import daily_figures_refresh
from coupons.models import Coupon
from coupons.services import coupon_template_issue_to_member
from members.models import Member
from tests.console_helpers import make_staff
from tests.coupons.factories import CouponTemplateFactory
from tests.factories import MemberFactory, checkout_sale

pytestmark = pytest.mark.django_db


def sale(member, store, amount, when, key):
    return checkout_sale(store=store, member=member, now=when, external_id=key, gross_amount=Decimal(amount))


@pytest.fixture
def program(now):
    """Store A: Alice joined 2 days ago and bought twice in the last 30 days; Ben joined 40 days ago and bought once
    in each period. Store B: Carol, joined 3 days ago, no purchase. One coupon issued to Alice, redeemed... not."""
    staff = make_staff()
    store_a, store_b = staff["manager_a"].store, staff["manager_b"].store
    alice = MemberFactory(home_store=store_a, joined_at=now - timedelta(days=2), join_source=Member.JoinSource.STORE_QR)
    ben = MemberFactory(home_store=store_a, joined_at=now - timedelta(days=40), join_source=Member.JoinSource.IMPORT)
    MemberFactory(home_store=store_b, joined_at=now - timedelta(days=3), join_source=Member.JoinSource.STORE_QR)
    sale(alice, store_a, "100.00", now - timedelta(days=1), "a1")
    sale(alice, store_a, "50.00", now - timedelta(hours=1), "a2")
    sale(ben, store_a, "100.00", now - timedelta(days=5), "b1")
    sale(ben, store_a, "80.00", now - timedelta(days=45), "b0")
    coupon_template_issue_to_member(
        template_id=CouponTemplateFactory().pk, member_id=alice.pk, source=Coupon.Source.MANUAL, now=now
    )
    return staff


def test_the_kpis_compare_the_period_with_the_one_before(program, now):
    figures = dashboard_figures(now=now, days=30)

    kpis = {key: (kpi.value, kpi.previous) for key, kpi in figures.kpis.items()}
    assert kpis["members"] == (3, 1)
    assert kpis["new_members"] == (2, 1)
    assert kpis["active_members"] == (2, 1)
    assert kpis["repurchase_rate"] == (Decimal("50.0"), Decimal("0.0"))
    assert kpis["average_spend"] == (Decimal("125.00"), Decimal("80.00"))
    assert kpis["coupon_redemption_rate"] == (Decimal("0.0"), None)
    assert figures.kpis["active_members"].change_percent == Decimal("100.0")


def test_a_store_sees_its_own_figures(program, now):
    store_b = program["manager_b"].store

    figures = dashboard_figures(now=now, days=30, store_id=store_b.pk)

    assert (figures.kpis["members"].value, figures.kpis["active_members"].value) == (1, 0)


def test_stored_figures_and_live_figures_agree(program, now):
    live = dashboard_figures(now=now, days=30)

    refreshed = daily_figures_refresh(now=now)
    stored = dashboard_figures(now=now, days=30)

    assert refreshed is not None
    assert stored.live_days == 1  # today only
    assert live.live_days > 1
    assert (stored.kpis, stored.joins_by_source, stored.sales_by_tier) == (
        live.kpis, live.joins_by_source, live.sales_by_tier,
    )  # fmt: skip
    assert (stored.points_by_month, stored.coupons_by_day) == (live.points_by_month, live.coupons_by_day)


def test_the_refresh_can_run_twice(program, now):
    daily_figures_refresh(now=now)
    first = sorted(DailyFigure.objects.values_list("day", "store_id", "figure", "dimension", "count", "amount"))

    daily_figures_refresh(now=now)

    assert sorted(DailyFigure.objects.values_list("day", "store_id", "figure", "dimension", "count", "amount")) == first
    assert FigureDay.objects.count() == 45  # from the first purchase, 45 days ago, to yesterday


def test_the_refresh_is_a_registered_beat_job():
    assert PeriodicTask.objects.filter(name=REFRESH_TASK_NAME, task="console.refresh_daily_figures").exists()


# -- the page ----------------------------------------------------------------------------------------------------------


def test_the_merchant_admin_sees_every_store_and_may_pick_one(client, program):
    client.force_login(program["merchant_admin"])
    store_b = program["manager_b"].store

    page = client.get(reverse("admin:index"), {"period": "7", "store": store_b.pk})

    assert page.status_code == 200
    assert page.context["figures"].store_id == store_b.pk
    assert page.context["figures"].days == 7
    assert 'id="console-kpis"' in page.text
    assert page.text.count('class="chart"') == 4


def test_a_store_manager_sees_their_store_only(client, program):
    client.force_login(program["manager_a"])

    page = client.get(reverse("admin:index"))

    assert page.context["figures"].store_id == program["manager_a"].store_id
    assert 'id="console-store"' in page.text


def test_a_store_manager_cannot_open_another_stores_figures(client, program):
    client.force_login(program["manager_a"])

    response = client.get(reverse("admin:index"), {"store": program["manager_b"].store_id})

    assert response.status_code == 403


def test_a_clerk_gets_the_member_search_without_figures(client, program):
    client.force_login(program["clerk_a"])

    page = client.get(reverse("admin:index"))

    assert page.status_code == 200
    assert 'id="console-dashboard-search"' in page.text
    assert 'id="console-kpis"' not in page.text


def test_a_new_programs_charts_say_there_is_nothing_to_show_yet(client):
    # given a merchant with staff and nothing else: no member, purchase, point or coupon
    staff = make_staff()
    client.force_login(staff["merchant_admin"])

    page = client.get(reverse("admin:index"))

    assert page.status_code == 200
    assert page.text.count('class="chart"') == 4
    assert page.text.count('class="console-chart-empty') == 4


def test_a_chart_with_figures_draws_them_without_the_empty_note(client, program):
    client.force_login(program["merchant_admin"])

    page = client.get(reverse("admin:index"), {"period": "30"})

    # joins, sales by tier and coupons have figures in the period; no points moved (the sales earned none)
    figures = page.context["figures"]
    empty = [name for name in ("joins_by_source", "sales_by_tier", "coupons_by_day") if getattr(figures, name).is_empty]
    assert empty == []
    assert page.text.count('class="console-chart-empty') == int(figures.points_by_month.is_empty)

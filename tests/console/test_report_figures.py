"""The points report and the coupon report answer from the nightly refresh's daily figures plus today's live
delta, with the figures of their reference (ORM) paths over the same data: for the whole programme and for each
store, before any refresh, after it, and after today's activity; a store's staff see their store's figures only."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.utils import timezone

from console.reports import coupon_report_figures, points_report_figures
from console.selectors import _buyers
from console.selectors.figures import (
    PERIODS,
    _rule_points_by_day_orm,
    buyer_windows,
    buyers_count,
    buyers_stored,
    day_start,
)
from console.services.figures import _buyers_by_store_orm, daily_figures_refresh
from coupons.models import Coupon, CouponTemplate
from coupons.rules import Cart
from coupons.selectors import coupon_templates_with_report
from coupons.services import coupon_claim, coupon_redeem, coupon_template_issue_to_member, coupons_expire
from members.models import PointsEntry, Purchase
from members.selectors.stores import program_time_zone
from members.services.ledger import points_credit, points_debit
from points.models import EarningRule
from points.reports import points_report
from tests.console_helpers import make_staff
from tests.coupons.factories import CouponTemplateFactory
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db
Kind = PointsEntry.Kind
D = Decimal
POINTS_URL = "/console/points/pointsreport/"
COUPONS_URL = "/console/coupons/coupontemplate/report/"


class Book:
    """Writes ledger entries and coupons with unique keys."""

    def __init__(self):
        self.n = 0

    def key(self):
        self.n += 1
        return f"k{self.n}"

    def credit(self, member, points, at, kind=Kind.ACCRUAL, rules=()):
        breakdown = {"total": points, "rules": [{"rule_id": rule.pk, "points": share} for rule, share in rules]}
        points_credit(
            member_id=member.pk, points=points, kind=kind, idempotency_key=self.key(), now=at,
            breakdown=breakdown if rules else None,
        )  # fmt: skip

    def debit(self, member, points, at, kind=Kind.REDEMPTION):
        points_debit(member_id=member.pk, points=points, kind=kind, idempotency_key=self.key(), now=at)

    def sale(self, member, gross, at):
        return Purchase.objects.create(
            member=member, store=member.home_store, channel="pos", external_id=self.key(), purchased_at=at,
            gross_amount=D(gross), discount_amount=D("20.00"), paid_amount=D(gross) - D("20.00"), payment_method="card",
        )  # fmt: skip

    def redeem(self, coupon, gross, at):
        sale = self.sale(coupon.member, gross, at)
        coupon_redeem(
            member_id=coupon.member_id, coupon_id=coupon.pk, purchase_id=sale.pk, external_id=sale.external_id,
            cart=Cart(amount=sale.gross_amount, channel="pos", store_id=sale.store_id), now=at,
        )  # fmt: skip


@pytest.fixture
def program(now):
    """Stores A and B, a year of points (earned under two rules, spent, expired, refunded both ways, held and
    released) and coupons of two templates (claimed, issued, redeemed on purchases, expired) in both."""
    staff = make_staff()
    store_a, store_b = staff["manager_a"].store, staff["manager_b"].store
    base = EarningRule.objects.create(name="Base", kind=EarningRule.Kind.BASE_RATE, priority=10)
    bonus = EarningRule.objects.create(name="Bonus", kind=EarningRule.Kind.BONUS_CATEGORY, priority=20)
    book = Book()
    members = {store: MemberFactory.create_batch(2, home_store=store) for store in (store_a, store_b)}
    for index, member in enumerate(members[store_a] + members[store_b]):
        for days in (400, 200, 60, 9, 2):
            at = now - timedelta(days=days + index)
            book.credit(member, 300 + index, at, rules=[(base, 200), (bonus, 100 + index)])
            book.debit(member, 50, at + timedelta(hours=1))
        book.credit(member, 40, now - timedelta(days=30), kind=Kind.ADDITION)
        book.debit(member, 30, now - timedelta(days=20), kind=Kind.EXPIRATION)
        book.debit(member, 20, now - timedelta(days=15), kind=Kind.REFUND)
        book.credit(member, 10, now - timedelta(days=14), kind=Kind.REFUND)
        book.debit(member, 25, now - timedelta(days=5), kind=Kind.TRANSFER_OUT)
        book.credit(member, 25, now - timedelta(days=4), kind=Kind.TRANSFER_IN)
    offer = CouponTemplateFactory(amount=D("20.00"), per_member_limit=None, valid_days=30)
    gift = CouponTemplateFactory(amount=D("15.00"), per_member_limit=None, valid_days=30)
    for first, second in members.values():
        for at in (now - timedelta(days=100), now - timedelta(days=10), now - timedelta(days=3)):
            coupon = coupon_template_issue_to_member(
                template_id=offer.pk, member_id=first.pk, source=Coupon.Source.MANUAL, now=at
            )
            book.redeem(coupon, "120.00", at + timedelta(days=1))
        coupon_template_issue_to_member(
            template_id=gift.pk, member_id=second.pk, source=Coupon.Source.MANUAL, now=now - timedelta(days=60)
        )
        coupon_claim(member_id=second.pk, template_id=offer.pk, now=now - timedelta(days=6))
    coupons_expire(now=now)
    return {"staff": staff, "book": book, "members": members, "offer": offer, "gift": gift, "rules": (base, bonus)}


def today_activity(program, now):
    """After the refresh: points earned and spent, a coupon claimed and an old one redeemed, today."""
    book, offer = program["book"], program["offer"]
    base, bonus = program["rules"]
    for members in program["members"].values():
        member = members[1]
        at = max(now - timedelta(minutes=5), day_start(now.astimezone(program_time_zone()).date()))
        book.credit(member, 77, at, rules=[(base, 7), (bonus, 70)])
        book.debit(member, 11, at)
        coupon_claim(member_id=member.pk, template_id=program["gift"].pk, now=at)
        held = Coupon.objects.filter(member=member, template=offer, status=Coupon.Status.AVAILABLE).first()
        book.redeem(held, "99.50", at)


def coupon_figures(templates):
    return {
        template.pk: tuple(
            getattr(template, f"report_{name}")
            for name in ("issued", "claimed", "redeemed", "expired", "discount", "sales")
        )
        for template in templates
    }


def assert_reports_agree(program, now):
    for store_id in (None, *(store.pk for store in program["members"])):
        assert points_report_figures(now=now, store_id=store_id) == points_report(now=now, store_id=store_id)
        reference = coupon_figures(coupon_templates_with_report(store_id=store_id))
        aggregated = coupon_figures(coupon_report_figures(list(CouponTemplate.objects.all()), store_id=store_id))
        assert aggregated == reference


def test_before_any_refresh_the_reports_are_their_reference(program, now):
    assert_reports_agree(program, now)


def test_stored_figures_plus_todays_delta_equal_a_direct_count(program, now):
    assert daily_figures_refresh(now=now) is not None

    assert_reports_agree(program, now)
    today_activity(program, now)
    assert_reports_agree(program, now)
    # The reports did count today's activity, and each store's figures add up to the programme's.
    offer = program["offer"]
    total = coupon_figures(coupon_report_figures([offer]))[offer.pk]
    stores = [
        coupon_figures(coupon_report_figures([offer], store_id=store.pk))[offer.pk] for store in program["members"]
    ]
    assert total[2] == 8  # three redeemed in each store before today, one today
    assert total == tuple(a + b for a, b in zip(*stores, strict=True))
    assert [rule.name for rule in points_report_figures(now=now).top_rules] == ["Base", "Bonus"]


def test_a_refresh_after_more_days_and_a_rerun_keep_the_figures(program, now):
    daily_figures_refresh(now=now - timedelta(days=8))  # the job stopped a week ago: eight days counted live
    assert_reports_agree(program, now)
    daily_figures_refresh(now=now)
    daily_figures_refresh(now=now)
    assert_reports_agree(program, now)


def test_a_store_manager_sees_their_stores_figures_only(client, program, now):
    daily_figures_refresh(now=now)
    today_activity(program, now)
    manager_b = program["staff"]["manager_b"]
    client.force_login(manager_b)

    points = client.get(POINTS_URL)
    coupons = client.get(COUPONS_URL)

    assert points.status_code == coupons.status_code == 200
    store_b, shown = manager_b.store_id, points.context["report"]
    assert shown == points_report(now=timezone.now(), store_id=store_b)
    assert shown.months[-1].issued < points_report(now=now).months[-1].issued  # not the programme's
    offer = program["offer"]
    rows = coupon_figures(template for template, _rate in coupons.context["rows"])
    assert rows[offer.pk] == coupon_figures(coupon_templates_with_report(store_id=store_b))[offer.pk]
    assert rows[offer.pk] != coupon_figures(coupon_templates_with_report())[offer.pk]


def test_a_clerk_may_not_open_the_points_report(client, program, now):
    daily_figures_refresh(now=now)
    client.force_login(program["staff"]["clerk_a"])

    assert client.get(POINTS_URL).status_code == 403


@pytest.mark.postgres
@pytest.mark.skipif(connection.vendor != "postgresql", reason="the raw SQL is PostgreSQL's")
def test_the_rule_points_sql_equals_its_orm_reference(program, now):
    from console import sql

    store_a = program["staff"]["manager_a"].store_id
    for store_id in (None, store_a):
        window = {"since": now - timedelta(days=500), "until": now + timedelta(days=1), "store_id": store_id}
        assert sorted(sql.rule_points_by_day(**window)) == sorted(_rule_points_by_day_orm(**window))


def test_the_dashboards_buyers_are_the_stored_windows_plus_todays(program, now):
    """Active members and repeat buyers of every period, stored for the closed days and counted live for today,
    equal a count on the purchases; a member's first purchase of the window today is a new buyer, a second one
    makes a repeat buyer."""
    book, members = program["book"], program["members"]
    today = now.astimezone(program_time_zone()).date()
    first_a, second_a = members[program["staff"]["manager_a"].store]
    book.sale(second_a, "50.00", now - timedelta(days=40))
    daily_figures_refresh(now=now)
    at = max(now - timedelta(minutes=5), day_start(today))
    book.sale(second_a, "50.00", at)  # a new buyer of the 30 days (40 days ago was before them)
    book.sale(first_a, "50.00", at)  # bought 2 days ago (redeeming a coupon): now a repeat buyer
    book.sale(first_a, "50.00", at)

    for days in PERIODS:
        for store_id in (None, *(store.pk for store in members)):
            start = today - timedelta(days=days - 1)
            for first, end in ((start, today + timedelta(days=1)), (start - timedelta(days=days), start)):
                stored = _buyers(start=first, end=end, store_id=store_id, today=today)
                assert buyers_stored(start=first, end=min(end, today), store_id=store_id) is not None
                assert stored == buyers_count(start=first, end=end, store_id=store_id)


@pytest.mark.postgres
@pytest.mark.skipif(connection.vendor != "postgresql", reason="the raw SQL is PostgreSQL's")
def test_the_buyers_sql_equals_its_orm_reference(program, now):
    from console import sql

    for first, end in buyer_windows(now.astimezone(program_time_zone()).date()):
        window = {"since": day_start(first), "until": day_start(end)}
        assert sorted(sql.buyers_by_store(**window), key=str) == sorted(_buyers_by_store_orm(**window), key=str)

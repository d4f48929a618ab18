"""The per-template report: exact figures from one query."""

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from coupons.models import Coupon
from coupons.rules import Cart
from coupons.selectors import coupon_templates_with_report, redemption_rate
from coupons.services import coupon_claim, coupon_redeem, coupons_expire
from members.models import Purchase
from tests.coupons.factories import CouponTemplateFactory
from tests.factories import MemberFactory, StoreFactory

pytestmark = pytest.mark.django_db
D = Decimal


def purchase(member, store, gross, external_id, now):
    return Purchase.objects.create(
        member=member,
        store=store,
        channel="pos",
        external_id=external_id,
        purchased_at=now,
        gross_amount=D(gross),
        discount_amount=D("20.00"),
        paid_amount=D(gross) - D("20.00"),
        payment_method="card",
    )


def test_the_report_gives_exact_figures_per_template_in_one_query(issue, now):
    store = StoreFactory()
    template = CouponTemplateFactory(amount=D("20.00"), per_member_limit=None)
    quiet = CouponTemplateFactory()
    members = MemberFactory.create_batch(5)
    claimed = [coupon_claim(member_id=m.pk, template_id=template.pk, now=now) for m in members[:3]]
    issue(template, members[3])
    issue(template, members[4], at=now.replace(year=now.year - 1))  # its 30 days are over
    coupons_expire(now=now)
    one_sale = purchase(members[0], store, "300.00", "s1", now)
    for coupon, sale in ((claimed[0], one_sale), (claimed[1], purchase(members[1], store, "150.50", "s2", now))):
        coupon_redeem(
            member_id=coupon.member_id,
            coupon_id=coupon.pk,
            cart=Cart(amount=sale.gross_amount, channel="pos", store_id=store.pk),
            purchase_id=sale.pk,
            external_id=sale.external_id,
            now=now,
        )

    with CaptureQueriesContext(connection) as queries:
        rows = {row.pk: row for row in coupon_templates_with_report()}

    assert len(queries.captured_queries) == 1
    row = rows[template.pk]
    figures = (row.report_issued, row.report_claimed, row.report_redeemed, row.report_expired)
    assert figures == (5, 3, 2, 1)
    assert (row.report_discount, row.report_sales, redemption_rate(row)) == (D("40.00"), D("450.50"), D("40.00"))
    assert Coupon.objects.filter(status="expired").count() == 1
    empty = rows[quiet.pk]
    assert (empty.report_issued, empty.report_discount, empty.report_sales, redemption_rate(empty)) == (0, 0, 0, None)


def test_a_store_manager_sees_the_figures_of_their_stores_members_only(client, issue, now):
    from members.models import Role
    from tests.factories import UserFactory

    home, other = StoreFactory(code="a", name="Store A"), StoreFactory(code="b", name="Store B")
    template = CouponTemplateFactory(per_member_limit=None)
    for member in MemberFactory.create_batch(2, home_store=home) + MemberFactory.create_batch(3, home_store=other):
        issue(template, member)
    client.force_login(UserFactory(role=Role.STORE_MANAGER, store=home))

    response = client.get("/console/coupons/coupontemplate/report/")

    assert response.status_code == 200
    assert {row.pk: row.report_issued for row, _rate in response.context["rows"]} == {template.pk: 2}
    assert "Coupons held by the members of Store A." in response.content.decode()
    assert [row.report_issued for row in coupon_templates_with_report()] == [5]

"""Counts on the console's brand-wide pages (tags, post-payment rules, lucky draws, monthly gift runs): a store's
staff see those of their store's members, staff of all stores the brand's."""

from decimal import Decimal

import pytest
from django.urls import reverse

from coupons.models import PostPaymentRule
from members.models import Role
from members.services.ledger import points_credit
from points.models import TierGiftRun
from points.services.draws import draw_spin
from points.services.grants import points_grant_job_create
from tests.console_helpers import make_staff
from tests.coupons.factories import CouponTemplateFactory
from tests.factories import DrawPrizeFactory, MemberFactory, TagFactory, TierFactory, UserFactory, checkout_sale

pytestmark = pytest.mark.django_db


@pytest.fixture
def world():
    staff = make_staff()
    store_a, store_b = staff["manager_a"].store, staff["manager_b"].store
    return {
        **staff,
        "clerk_a": UserFactory(role=Role.CLERK, store=store_a),
        "ours": [MemberFactory(home_store=store_a) for _ in range(2)],
        "theirs": [MemberFactory(home_store=store_b) for _ in range(3)],
    }


def listed(client, user, model: str, attribute: str) -> list:
    client.force_login(user)
    response = client.get(reverse(f"admin:{model}_changelist"))
    assert response.status_code == 200
    return [getattr(row, attribute) for row in response.context["cl"].result_list]


def test_a_tags_member_count_is_the_store_staffs_stores(client, world):
    tag = TagFactory(name="VIP")
    tag.members.add(*world["ours"], *world["theirs"])

    assert listed(client, world["clerk_a"], "members_tag", "member_count") == [2]
    assert listed(client, world["manager_a"], "members_tag", "member_count") == [2]
    assert listed(client, world["merchant_admin"], "members_tag", "member_count") == [5]


def test_a_post_payment_rules_coupons_issued_are_the_store_staffs_stores(client, world, now):
    PostPaymentRule.objects.create(name="Come back", template=CouponTemplateFactory(), min_paid_amount=Decimal("0"))
    for number, member in enumerate([*world["ours"], *world["theirs"]]):
        checkout_sale(store=member.home_store, member=member, now=now, external_id=f"s-{number}",
                      gross_amount=Decimal("100.00"))  # fmt: skip

    assert listed(client, world["manager_a"], "coupons_postpaymentrule", "issued") == [2]
    assert listed(client, world["merchant_admin"], "coupons_postpaymentrule", "issued") == [5]


def test_a_draws_spins_are_the_store_staffs_stores(client, world, now):
    prize = DrawPrizeFactory(stock_total=100)
    for member in [*world["ours"], *world["theirs"]]:
        points_credit(member_id=member.pk, points=1000, idempotency_key=f"seed:{member.pk}", now=now)
        draw_spin(member_id=member.pk, draw_id=prize.draw_id, idempotency_key=f"spin:{member.pk}", now=now)

    assert listed(client, world["manager_a"], "points_luckydraw", "spin_total") == [2]
    assert listed(client, world["merchant_admin"], "points_luckydraw", "spin_total") == [5]


def test_a_monthly_gift_runs_counts_are_shown_to_staff_of_all_stores_only(
    client, world, now, django_capture_on_commit_callbacks
):
    tier = TierFactory(code="V9", name="Gold", rank=9)
    with django_capture_on_commit_callbacks(execute=True):
        job = points_grant_job_create(created_by=world["merchant_admin"], points=10, reason="Monthly gift",
                                      member_list=world["ours"][0].phone, now=now)  # fmt: skip
    TierGiftRun.objects.create(tier=tier, month=now.date().replace(day=1), points=10, points_job=job, created_at=now)
    job.refresh_from_db()
    counts = f"({job.members_granted}/{job.members_total})"
    assert counts == "(1/1)"

    client.force_login(world["manager_a"])
    store_page = client.get(reverse("admin:points_tiergiftrun_changelist")).content.decode()
    client.force_login(world["merchant_admin"])
    brand_page = client.get(reverse("admin:points_tiergiftrun_changelist")).content.decode()

    assert counts not in store_page
    assert job.get_status_display() in store_page
    assert counts in brand_page

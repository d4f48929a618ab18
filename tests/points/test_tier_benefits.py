"""Tier benefits that apply (issue 13.1): the tier discount at the till and in the mini program, in the tier
policy's order with coupons, capped, without excluded categories, shared out by refunds; the birthday multiplier
on its own breakdown line; the same for a tier held by a paid plan; nothing for an anonymous sale.

The probe of the issue: a member of a tier with 10 % off and a x3 birthday multiplier, in their birthday month,
prices HK$1,000 at the till (base rule HK$100 = 10 points). They pay HK$900, which earns 90 base points, and the
birthday multiplier adds 90 x (3 - 1) = 180: 270 points.
"""

from datetime import date
from decimal import Decimal

import pytest
from django.utils import timezone

from coupons.errors import MinSpendNotMet
from coupons.services import coupon_template_issue_to_member
from members.models import Member, PointsEntry, Purchase, TierPolicy
from members.services.plans import plan_purchase
from points.cart import Cart, CartLine, CheckoutContext
from points.models import PointsPolicy, PurchaseCheckout
from points.rules import CartFacts, MemberFacts, Rule, earn_points
from points.services.checkout import purchase_checkout, purchase_preview, purchase_refund
from tests.coupons.factories import CouponTemplateFactory
from tests.factories import MemberFactory, MembershipPlanFactory, StoreFactory, TierFactory

pytestmark = pytest.mark.django_db

D = Decimal
OPENID = "o-tier-member"


def this_month() -> int:
    return timezone.localdate().month


def other_month() -> int:
    return this_month() % 12 + 1


@pytest.fixture
def gold(db):
    return TierFactory(code="V2", name="Gold", rank=2, discount_percent=D("10.00"), birthday_multiplier=D("3.00"))


@pytest.fixture
def birthday_member(gold):
    """A Gold member whose birthday month is the current month (in the program's time zone)."""
    return MemberFactory(tier=gold, birthday=date(1990, this_month(), 1), wechat_openid=OPENID)


@pytest.fixture
def tier_policy(db):
    return TierPolicy.load()


def set_tier_policy(**fields):
    policy = TierPolicy.load()
    for name, value in fields.items():
        setattr(policy, name, value)
    policy.full_clean()
    policy.save()


def till(store, member, now) -> CheckoutContext:
    return CheckoutContext(channel="pos", store_id=store.pk, member_id=member.pk, now=now)


def preview(store, member, now, **cart):
    """Price a HK$1000.00 cart at the till; keywords change the cart."""
    return purchase_preview(cart=Cart(**{"gross_amount": D("1000.00"), **cart}), context=till(store, member, now))


def checkout(store, member, now, **cart):
    """Check out sale-1 of HK$1000.00 paid by card at the till; keywords change the cart."""
    cart = Cart(**{"external_id": "sale-1", "gross_amount": D("1000.00"), "payment_method": "card", **cart})
    return purchase_checkout(cart=cart, context=till(store, member, now))


def kinds(breakdown) -> list[tuple[str, int]]:
    return [(step["kind"], step["points"]) for step in breakdown["rules"]]


# -- the probe, at the till ------------------------------------------------------------------------------------
def test_the_till_preview_takes_the_tier_discount_off_and_earns_the_birthday_points_on_their_own_line(
    store, birthday_member, base_rule, pos_client_for
):
    # given a Gold member (10 % off, x3 in the birthday month) in their birthday month, and HK$100 = 10 points
    till = pos_client_for(store)

    # when the till prices HK$1,000
    response = till.post(
        "/api/v1/pos/purchases/preview",
        {"member_number": birthday_member.member_number, "gross_amount": "1000.00"},
        format="json",
    )

    # then HK$100 comes off on its own line, HK$900 is due, and 90 base + 180 birthday points are earned
    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["tier_discount_amount"], body["amount_due"]) == ("100.00", "900.00")
    assert body["points_earned"] == 270
    assert kinds(body["breakdown"]) == [("base_rate", 90), ("tier_birthday", 180)]
    assert body["breakdown"]["rules"][1]["name"] == "Birthday month (V2 Gold)"
    assert body["breakdown"]["eligible_amount"] == "900.00"


def test_the_till_purchase_records_the_tier_discount_in_the_purchase_and_its_checkout(
    store, birthday_member, base_rule, pos_client_for
):
    till = pos_client_for(store)

    response = till.post(
        "/api/v1/pos/purchases",
        {"external_id": "S-1", "payment_method": "card", "member_number": birthday_member.member_number,
         "gross_amount": "1000.00"},
        format="json",
    )  # fmt: skip

    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["discount_amount"], body["tier_discount_amount"], body["paid_amount"]) == (
        "100.00",
        "100.00",
        "900.00",
    )
    assert (body["points_earned"], body["points_balance"]) == (270, 270)
    purchase = Purchase.objects.get()
    # gross - discount - points value - stored value = paid still holds
    assert (purchase.gross_amount, purchase.discount_amount, purchase.paid_amount) == (D("1000"), D("100"), D("900"))
    assert PurchaseCheckout.objects.get().tier_discount_amount == D("100.00")
    assert kinds(PointsEntry.objects.get(kind="accrual").breakdown) == [("base_rate", 90), ("tier_birthday", 180)]


def test_outside_the_birthday_month_the_discount_applies_and_no_birthday_line_is_shown(store, gold, base_rule, now):
    member = MemberFactory(tier=gold, birthday=date(1990, other_month(), 1))

    pricing = preview(store, member, now)

    assert (pricing.tier_discount_amount, pricing.amount_due, pricing.earning.total) == (D("100"), D("900"), 90)
    assert [step.kind for step in pricing.earning.steps] == ["base_rate"]


def test_the_tills_own_discount_comes_off_before_the_tier_discount(store, birthday_member, base_rule, now):
    pricing = preview(store, birthday_member, now, discount_amount=D("100.00"))

    # 10 % of the HK$900 left after the till's HK$100
    assert (pricing.tier_discount_amount, pricing.amount_due) == (D("90.00"), D("810.00"))


def test_a_member_whose_status_does_not_earn_gets_no_tier_discount(store, gold, base_rule, now):
    frozen = MemberFactory(tier=gold, status=Member.Status.FROZEN)

    pricing = preview(store, frozen, now)

    assert (pricing.tier_discount_amount, pricing.amount_due) == (D("0"), D("1000.00"))


def test_an_anonymous_sale_gets_no_tier_discount(store, base_rule, pos_client_for):
    till = pos_client_for(store)

    response = till.post(
        "/api/v1/pos/purchases", {"external_id": "S-1", "payment_method": "cash", "gross_amount": "1000.00"},
        format="json",
    )  # fmt: skip

    assert response.status_code == 201, response.json()
    assert (response.json()["tier_discount_amount"], response.json()["paid_amount"]) == ("0.00", "1000.00")


# -- coupons, caps, excluded categories --------------------------------------------------------------------------
@pytest.fixture
def coupon_100_off(birthday_member, now):
    """HK$100 off a spend of at least HK$800."""
    template = CouponTemplateFactory(amount=D("100.00"), min_spend=D("800.00"))
    return coupon_template_issue_to_member(
        template_id=template.pk, member_id=birthday_member.pk, source="manual", now=now
    )


@pytest.mark.parametrize(
    ("order", "tier_discount", "due"),
    [
        ("before_coupons", D("100.00"), D("800.00")),  # 1000 - 10 % = 900, then the coupon: 800
        ("after_coupons", D("90.00"), D("810.00")),  # 1000 - coupon = 900, then 10 %: 810
    ],
)
def test_the_tier_policy_orders_the_tier_discount_and_the_coupon(
    order, tier_discount, due, store, birthday_member, coupon_100_off, base_rule, now
):
    set_tier_policy(discount_applies=order)

    result = checkout(store, birthday_member, now, coupon_code=coupon_100_off.code)

    purchase, record = result.purchase, result.checkout
    assert (record.tier_discount_amount, record.coupon_discount_amount) == (tier_discount, D("100.00"))
    assert (purchase.discount_amount, purchase.paid_amount) == (tier_discount + D("100.00"), due)


def test_before_coupons_the_coupons_minimum_spend_counts_the_amount_after_the_tier_discount(
    store, birthday_member, base_rule, now
):
    template = CouponTemplateFactory(amount=D("100.00"), min_spend=D("950.00"))
    coupon = coupon_template_issue_to_member(
        template_id=template.pk, member_id=birthday_member.pk, source="manual", now=now
    )

    # before coupons: HK$900 after the tier discount does not reach HK$950
    with pytest.raises(MinSpendNotMet):
        preview(store, birthday_member, now, coupon_code=coupon.code)
    # after coupons: the coupon sees HK$1,000, then the tier takes 10 % of HK$900
    set_tier_policy(discount_applies="after_coupons")
    pricing = preview(store, birthday_member, now, coupon_code=coupon.code)

    assert (pricing.coupon_discount_amount, pricing.tier_discount_amount, pricing.amount_due) == (
        D("100.00"), D("90.00"), D("810.00"),
    )  # fmt: skip


def test_the_tier_discount_stops_at_the_policys_most_per_purchase(store, birthday_member, base_rule, now):
    set_tier_policy(discount_max_amount=D("50.00"))

    pricing = preview(store, birthday_member, now)

    assert (pricing.tier_discount_amount, pricing.amount_due) == (D("50.00"), D("950.00"))


def test_lines_of_excluded_categories_are_not_discounted(store, birthday_member, base_rule, now):
    set_tier_policy(discount_excluded_categories=["Gift Card", "sale"])
    items = (
        CartLine(sku="SERUM", category="skincare", quantity=2, unit_price=D("300.00")),
        CartLine(sku="GC-200", category="gift card", unit_price=D("200.00")),
        CartLine(sku="MASK", category="Sale ", unit_price=D("200.00")),
    )

    pricing = preview(store, birthday_member, now, items=items)

    # 10 % of the HK$600 of skincare only
    assert (pricing.tier_discount_amount, pricing.amount_due) == (D("60.00"), D("940.00"))


def test_before_coupons_an_item_coupon_sees_its_lines_after_their_share_of_the_tier_discount(
    store, birthday_member, base_rule, now
):
    template = CouponTemplateFactory(kind="percent_off", amount=None, percent=D("50"), categories=["skincare"])
    coupon = coupon_template_issue_to_member(
        template_id=template.pk, member_id=birthday_member.pk, source="manual", now=now
    )
    items = (
        CartLine(sku="SERUM", category="skincare", unit_price=D("600.00")),
        CartLine(sku="LIPSTICK", category="makeup", unit_price=D("400.00")),
    )

    pricing = preview(store, birthday_member, now, items=items, coupon_code=coupon.code)

    # the tier takes HK$100, HK$60 of it from the serum: half of HK$540 is HK$270
    assert (pricing.tier_discount_amount, pricing.coupon_discount_amount, pricing.amount_due) == (
        D("100.00"), D("270.00"), D("630.00"),
    )  # fmt: skip


def test_points_and_stored_value_pay_what_the_discounts_leave(store, birthday_member, base_rule, now, give_points):
    give_points(birthday_member, 10_000)

    pricing = preview(store, birthday_member, now, points_to_spend=10_000)

    # 10,000 points are worth HK$100 (500 points = HK$5); the tier discount is taken from HK$1,000 before them
    assert (pricing.tier_discount_amount, pricing.points_value, pricing.amount_due) == (
        D("100.00"), D("100.00"), D("800.00"),
    )  # fmt: skip
    assert pricing.earning.total == 80 + 160  # earned on the HK$800 paid: 80 base, x3 birthday


# -- refunds -----------------------------------------------------------------------------------------------------
def test_refunds_of_a_tier_discounted_purchase_give_back_the_paid_share(store, birthday_member, base_rule, now):
    # given HK$1,000 paid HK$900 after the tier discount, 270 points earned (available at once)
    checkout(store, birthday_member, now)
    birthday_member.refresh_from_db()
    spend_before = birthday_member.total_spend

    # when half the goods (HK$500 of the gross) come back, then the rest
    half = purchase_refund(
        store_id=store.pk, channel="pos", purchase_external_id="sale-1", refund_external_id="R-1",
        amount=D("500.00"), now=now,
    )  # fmt: skip
    birthday_member.refresh_from_db()
    after_half = (birthday_member.total_spend, birthday_member.points_balance)
    rest = purchase_refund(
        store_id=store.pk, channel="pos", purchase_external_id="sale-1", refund_external_id="R-2",
        amount=D("500.00"), now=now,
    )  # fmt: skip
    birthday_member.refresh_from_db()

    # then each half gives back HK$450 of the HK$900 paid and half the 270 points
    assert spend_before == D("900.00")
    assert (half.refund.points_reversed, after_half) == (135, (D("450.00"), 135))
    assert rest.refund.points_reversed == 135
    assert (birthday_member.total_spend, birthday_member.points_balance) == (D("0.00"), 0)
    assert Purchase.objects.get().status == Purchase.Status.REFUNDED


# -- a tier held by a paid plan ------------------------------------------------------------------------------------
def test_a_tier_held_by_a_paid_plan_gives_the_same_discount_and_birthday_points(store, gold, base_rule, now):
    # given a member without a tier who buys a plan that holds Gold
    member = MemberFactory(tier=None, birthday=date(1990, this_month(), 1))
    plan = MembershipPlanFactory(name="Gold 30 days", tier=gold, price=D("388.00"), duration_value=30)
    plan_purchase(member_id=member.pk, plan_id=plan.pk, provider="wechat_pay_hk", transaction_id="wx-1", now=now)

    # when they buy HK$1,000
    result = checkout(store, member, now)

    # then exactly what an earned Gold gets
    assert (result.checkout.tier_discount_amount, result.purchase.paid_amount) == (D("100.00"), D("900.00"))
    assert kinds(result.checkout.breakdown) == [("base_rate", 90), ("tier_birthday", 180)]


# -- the mini program ----------------------------------------------------------------------------------------------
@pytest.fixture
def online_store(policy):
    store = StoreFactory(code="mini-shop", name="Mini program shop")
    PointsPolicy.objects.filter(pk=policy.pk).update(mini_program_store=store)
    return store


def test_the_mini_program_prices_and_records_the_tier_discount_like_the_till(
    online_store, birthday_member, base_rule, member_client, wechat_pay
):
    app = member_client(birthday_member)
    cart = {"gross_amount": "1000.00"}

    priced = app.post("/api/v1/me/purchases/preview", cart, format="json")
    wechat_pay.add_order("WX-1", total=90000, openid=OPENID)  # the member pays the HK$900 due, today
    wechat_pay.orders["WX-1"]["success_time"] = timezone.localtime().isoformat(timespec="seconds")
    bought = app.post("/api/v1/me/purchases", {**cart, "out_trade_no": "WX-1"}, format="json")

    assert priced.status_code == 200, priced.json()
    assert (priced.json()["tier_discount_amount"], priced.json()["amount_due"]) == ("100.00", "900.00")
    assert kinds(priced.json()["breakdown"]) == [("base_rate", 90), ("tier_birthday", 180)]
    assert bought.status_code == 201, bought.json()
    assert (bought.json()["tier_discount_amount"], bought.json()["paid_amount"], bought.json()["points_earned"]) == (
        "100.00", "900.00", 270,
    )  # fmt: skip


# -- the schema ----------------------------------------------------------------------------------------------------
def test_the_schema_documents_the_tier_discount_of_previews_and_purchases(api_client):
    schema = api_client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()

    components = schema["components"]["schemas"]
    assert "tier_discount_amount" in components["CartPricing"]["required"]
    assert "tier_discount_amount" in components["PurchaseCheckout"]["required"]
    assert "discount_excluded_categories" in components["TierBenefits"]["properties"]
    assert "free_shipping" not in components["TierBenefits"]["properties"]


# -- the earning pipeline alone --------------------------------------------------------------------------------------
BASE = Rule(id=1, name="HK$100 = 10", kind="base_rate", priority=10, amount_per_unit=D(100), points_per_unit=10)


def earn(*, tier_multiplier="1", birthday_multiplier="3", birthday_month=True, stacking="add", rules=(BASE,)):
    at = timezone.now()
    member = MemberFacts(
        tier_id=2,
        tier_name="V2 Gold",
        tier_multiplier=D(tier_multiplier),
        tier_birthday_multiplier=D(birthday_multiplier),
        birthday=date(1990, this_month() if birthday_month else other_month(), 1),
    )
    cart = CartFacts(amount=D("900.00"), store_id=1, channel="pos", purchased_at=at)
    return earn_points(cart=cart, member=member, rules=rules, stacking=stacking)


@pytest.mark.parametrize(
    ("stacking", "expected"),
    [
        ("add", [("base_rate", 90), ("tier", 45), ("tier_birthday", 180)]),  # each adds base x (m - 1)
        ("multiply", [("base_rate", 90), ("tier", 45), ("tier_birthday", 270)]),  # x3 on the 135 so far
    ],
)
def test_the_birthday_multiplier_follows_the_tier_multiplier_and_the_policys_stacking(stacking, expected):
    earning = earn(tier_multiplier="1.5", stacking=stacking)

    assert [(step.kind, step.points) for step in earning.steps] == expected


def test_a_birthday_multiplier_of_one_or_outside_the_birthday_month_adds_no_line():
    assert [step.kind for step in earn(birthday_multiplier="1").steps] == ["base_rate"]
    assert [step.kind for step in earn(birthday_month=False).steps] == ["base_rate"]

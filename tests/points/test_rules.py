"""The earning pipeline as a pure function: each rule kind, order, stacking, caps, the stop flag, breakdowns."""

from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from points.rules import CartFacts, CartItem, MemberFacts, Rule, behaviour_points, earn_points

HK = ZoneInfo("Asia/Hong_Kong")
SATURDAY = datetime(2025, 6, 7, 12, 0, tzinfo=HK)
MONDAY = datetime(2025, 6, 9, 12, 0, tzinfo=HK)
MEMBER = MemberFacts()


def base(rule_id=1, priority=10, amount="100", points=10, **kwargs):
    return Rule(
        id=rule_id,
        name=f"HK${amount} = {points} points",
        kind="base_rate",
        priority=priority,
        amount_per_unit=Decimal(amount),
        points_per_unit=points,
        **kwargs,
    )


def multiplier(rule_id, value, priority=20, name=None, **kwargs):
    return Rule(
        id=rule_id, name=name or f"x{value}", kind="multiplier", priority=priority, multiplier=Decimal(value), **kwargs
    )


def cart(amount="1000", at=SATURDAY, items=(), store_id=1, channel="pos", is_first_purchase=False):
    return CartFacts(
        amount=Decimal(amount),
        store_id=store_id,
        channel=channel,
        purchased_at=at,
        items=tuple(items),
        is_first_purchase=is_first_purchase,
    )


def steps(earning):
    return [(step.rule_id, step.kind, step.points) for step in earning.steps]


@pytest.mark.parametrize(
    ("rounding", "expected"), [("floor", 15), ("round", 16), ("ceil", 16)], ids=["floor", "round", "ceil"]
)
def test_base_rate_rounds_as_the_rule_says(rounding, expected):
    earning = earn_points(cart=cart("155.50"), member=MEMBER, rules=[base(rounding=rounding)])

    assert earning.total == expected


def test_base_rate_is_capped_per_purchase():
    earning = earn_points(cart=cart("10000"), member=MEMBER, rules=[base(max_points_per_purchase=500)])

    assert earning.total == 500


def test_only_the_first_matching_base_rate_applies_so_a_store_rate_overrides_the_general_one():
    store_rate = base(rule_id=1, priority=1, points=20, store_ids=frozenset({7}))
    general = base(rule_id=2, priority=2, points=10)

    at_store_7 = earn_points(cart=cart("100", store_id=7), member=MEMBER, rules=[general, store_rate])
    elsewhere = earn_points(cart=cart("100", store_id=8), member=MEMBER, rules=[general, store_rate])

    assert steps(at_store_7) == [(1, "base_rate", 20)]
    assert steps(elsewhere) == [(2, "base_rate", 10)]


@pytest.mark.parametrize(
    ("condition", "matches"),
    [
        ({"channels": frozenset({"online"})}, False),
        ({"channels": frozenset({"pos"})}, True),
        ({"tier_ids": frozenset({3})}, False),
        ({"valid_from": datetime(2025, 6, 8, tzinfo=HK)}, False),
        ({"valid_until": datetime(2025, 6, 7, 12, 0, tzinfo=HK)}, False),
        ({"valid_until": datetime(2025, 6, 7, 12, 1, tzinfo=HK)}, True),
    ],
)
def test_a_rule_outside_its_scope_or_window_grants_nothing(condition, matches):
    earning = earn_points(cart=cart("100"), member=MEMBER, rules=[base(**condition)])

    assert earning.total == (10 if matches else 0)


def test_weekend_multiplier_applies_on_saturday_only():
    rules = [base(), multiplier(2, "2", name="Weekend double", weekdays=frozenset({5, 6}))]

    saturday = earn_points(cart=cart("1000", at=SATURDAY), member=MEMBER, rules=rules)
    monday = earn_points(cart=cart("1000", at=MONDAY), member=MEMBER, rules=rules)

    assert steps(saturday) == [(1, "base_rate", 100), (2, "multiplier", 100)]
    assert saturday.breakdown()["rules"][1]["name"] == "Weekend double"
    assert monday.total == 100


def test_birthday_month_multiplier_needs_the_members_birthday_in_that_month():
    rules = [base(), multiplier(2, "3", birthday_month_only=True)]
    june_baby = MemberFacts(birthday=date(1990, 6, 30))
    may_baby = MemberFacts(birthday=date(1990, 5, 1))

    assert earn_points(cart=cart("1000"), member=june_baby, rules=rules).total == 300
    assert earn_points(cart=cart("1000"), member=may_baby, rules=rules).total == 100
    assert earn_points(cart=cart("1000"), member=MemberFacts(), rules=rules).total == 100


def test_member_day_multiplier_applies_on_that_day_of_the_month():
    rules = [base(), multiplier(2, "2", member_day=7)]

    assert earn_points(cart=cart("1000", at=SATURDAY), member=MEMBER, rules=rules).total == 200
    assert earn_points(cart=cart("1000", at=MONDAY), member=MEMBER, rules=rules).total == 100


def test_tier_multiplier_comes_after_the_base_and_is_named_after_the_tier():
    gold = MemberFacts(tier_id=2, tier_name="V2 Gold", tier_multiplier=Decimal("1.5"))

    earning = earn_points(cart=cart("1000"), member=gold, rules=[base(), multiplier(2, "2")])

    assert steps(earning) == [(1, "base_rate", 100), (None, "tier", 50), (2, "multiplier", 100)]
    assert earning.breakdown()["rules"][1]["name"] == "V2 Gold"
    assert earning.total == 250


def test_tier_multiplier_below_one_lowers_the_points_but_never_below_zero():
    basic = MemberFacts(tier_id=1, tier_name="V0", tier_multiplier=Decimal("0"))

    earning = earn_points(cart=cart("1000"), member=basic, rules=[base()])

    assert steps(earning) == [(1, "base_rate", 100), (None, "tier", -100)]
    assert earning.total == 0


@pytest.mark.parametrize(("stacking", "expected_total"), [("add", 100 + 100 + 200), ("multiply", 100 * 2 * 3)])
def test_multipliers_stack_as_the_policy_says(stacking, expected_total):
    rules = [base(), multiplier(2, "2", priority=20), multiplier(3, "3", priority=30)]

    earning = earn_points(cart=cart("1000"), member=MEMBER, rules=rules, stacking=stacking)

    assert earning.total == expected_total


def test_a_multiplier_is_capped_per_purchase():
    rules = [base(), multiplier(2, "5", max_points_per_purchase=150)]

    earning = earn_points(cart=cart("1000"), member=MEMBER, rules=rules)

    assert steps(earning) == [(1, "base_rate", 100), (2, "multiplier", 150)]


def test_multipliers_run_in_priority_order_whatever_order_they_come_in():
    late = multiplier(3, "3", priority=30)
    early = multiplier(2, "2", priority=20)

    earning = earn_points(cart=cart("1000"), member=MEMBER, rules=[late, base(), early], stacking="multiply")

    assert steps(earning) == [(1, "base_rate", 100), (2, "multiplier", 100), (3, "multiplier", 400)]


def test_stop_further_rules_ends_the_pipeline_after_the_rule_that_granted_points():
    rules = [
        base(),
        multiplier(2, "2", priority=20, stop_further_rules=True),
        multiplier(3, "3", priority=30),
        Rule(id=4, name="First purchase", kind="bonus_first_purchase", priority=40, bonus_points=50),
    ]

    earning = earn_points(cart=cart("1000", is_first_purchase=True), member=MEMBER, rules=rules)

    assert steps(earning) == [(1, "base_rate", 100), (2, "multiplier", 100)]


def test_a_stopping_rule_that_does_not_match_stops_nothing():
    rules = [
        base(),
        multiplier(2, "2", priority=20, stop_further_rules=True, weekdays=frozenset({0})),
        multiplier(3, "3"),
    ]

    earning = earn_points(cart=cart("1000", at=SATURDAY), member=MEMBER, rules=rules)

    assert steps(earning) == [(1, "base_rate", 100), (3, "multiplier", 200)]


def test_category_bonus_counts_units_and_prices_the_matching_amount():
    rule = Rule(
        id=5,
        name="Skincare",
        kind="bonus_category",
        priority=50,
        category="Skincare",
        bonus_points=5,
        amount_per_unit=Decimal(10),
        points_per_unit=1,
    )
    items = [
        CartItem(sku="A", category="skincare", quantity=2, amount=Decimal("200")),
        CartItem(sku="B", category="makeup", quantity=1, amount=Decimal("300")),
    ]

    earning = earn_points(cart=cart("500", items=items), member=MEMBER, rules=[base(), rule])

    assert steps(earning) == [(1, "base_rate", 50), (5, "bonus_category", 2 * 5 + 20)]


def test_sku_bonus_is_capped_per_purchase():
    rule = Rule(
        id=6, name="Serum", kind="bonus_sku", priority=60, sku="SERUM-30", bonus_points=40, max_points_per_purchase=100
    )
    items = [CartItem(sku="SERUM-30", quantity=3, amount=Decimal("900"))]

    earning = earn_points(cart=cart("900", items=items), member=MEMBER, rules=[rule])

    assert steps(earning) == [(6, "bonus_sku", 100)]


def test_sku_bonus_grants_nothing_without_the_sku():
    rule = Rule(id=6, name="Serum", kind="bonus_sku", priority=60, sku="SERUM-30", bonus_points=40)

    earning = earn_points(
        cart=cart("900", items=[CartItem(sku="OTHER", amount=Decimal(900))]), member=MEMBER, rules=[rule]
    )

    assert earning.total == 0
    assert earning.steps == ()


def test_first_purchase_bonus_only_on_the_first_purchase():
    rule = Rule(id=7, name="Welcome", kind="bonus_first_purchase", priority=70, bonus_points=200)

    assert earn_points(cart=cart("100", is_first_purchase=True), member=MEMBER, rules=[rule]).total == 200
    assert earn_points(cart=cart("100", is_first_purchase=False), member=MEMBER, rules=[rule]).total == 0


def test_multipliers_do_not_multiply_bonuses():
    rules = [
        base(),
        Rule(id=7, name="Welcome", kind="bonus_first_purchase", priority=1, bonus_points=200),
        multiplier(2, "2", priority=99),
    ]

    earning = earn_points(cart=cart("1000", is_first_purchase=True), member=MEMBER, rules=rules)

    assert steps(earning) == [(1, "base_rate", 100), (2, "multiplier", 100), (7, "bonus_first_purchase", 200)]


def test_behaviour_rules_are_not_part_of_a_purchase():
    rule = Rule(id=8, name="Share", kind="behaviour", priority=80, behaviour_event="share", bonus_points=3)

    assert earn_points(cart=cart("100"), member=MEMBER, rules=[rule]).total == 0


@pytest.mark.parametrize(("times_today", "times_ever", "expected"), [(0, 0, 3), (2, 5, 0), (1, 10, 0), (1, 9, 3)])
def test_behaviour_points_stop_at_the_daily_and_lifetime_caps(times_today, times_ever, expected):
    rule = Rule(
        id=8,
        name="Share",
        kind="behaviour",
        priority=80,
        behaviour_event="share",
        bonus_points=3,
        max_times_per_day=2,
        max_times_lifetime=10,
    )

    points = behaviour_points(rule=rule, member=MEMBER, at=SATURDAY, times_today=times_today, times_ever=times_ever)

    assert points == expected


def test_breakdown_names_each_rule_and_its_points():
    rules = [base(), multiplier(2, "2", name="Weekend double")]

    breakdown = earn_points(cart=cart("1000"), member=MEMBER, rules=rules).breakdown()

    assert breakdown == {
        "total": 200,
        "rules": [
            {"rule_id": 1, "name": "HK$100 = 10 points", "kind": "base_rate", "points": 100},
            {"rule_id": 2, "name": "Weekend double", "kind": "multiplier", "points": 100},
        ],
    }


# -- properties -------------------------------------------------------------------------------------------------
amounts = st.decimals(min_value=0, max_value=100_000, places=2, allow_nan=False, allow_infinity=False)
rule_sets = st.lists(
    st.one_of(
        st.builds(
            lambda i, m, cap, stop: multiplier(
                100 + i, m, priority=100 + i, max_points_per_purchase=cap, stop_further_rules=stop
            ),
            st.integers(0, 50),
            st.sampled_from(["1.5", "2", "3", "10"]),
            st.one_of(st.none(), st.integers(0, 1000)),
            st.booleans(),
        ),
        st.builds(
            lambda i, points, first: Rule(
                id=200 + i, name="bonus", kind="bonus_first_purchase", priority=200 + i, bonus_points=points
            ),
            st.integers(0, 50),
            st.integers(1, 500),
            st.booleans(),
        ),
    ),
    max_size=6,
    unique_by=lambda rule: rule.priority,
)


@given(
    amount=amounts,
    extra_rules=rule_sets,
    stacking=st.sampled_from(["add", "multiply"]),
    tier=st.sampled_from(["0.5", "1", "2"]),
)
def test_total_is_always_the_sum_of_the_breakdown_and_never_negative(amount, extra_rules, stacking, tier):
    member = MemberFacts(tier_id=1, tier_name="T", tier_multiplier=Decimal(tier))

    earning = earn_points(
        cart=cart(amount, is_first_purchase=True), member=member, rules=[base(), *extra_rules], stacking=stacking
    )

    assert earning.total == sum(step["points"] for step in earning.breakdown()["rules"])
    assert earning.total >= 0


@given(low=amounts, high=amounts, rounding=st.sampled_from(["floor", "round", "ceil"]))
def test_base_rate_points_never_fall_when_the_amount_grows(low, high, rounding):
    low, high = sorted((low, high))
    rules = [base(rounding=rounding), multiplier(2, "2")]

    assert (
        earn_points(cart=cart(low), member=MEMBER, rules=rules).total
        <= earn_points(cart=cart(high), member=MEMBER, rules=rules).total
    )

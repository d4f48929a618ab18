"""Multiplier windows: a member's "x2 points for 7 days" (a campaign reward) earns the extra on every purchase inside
the window, at the till and in the mini program, preview and purchase alike, with its own breakdown line; refunds
take it back pro rata; overlapping windows do not add up: the highest applies."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction
from django.utils import translation

from infra.errors import InvalidInput, NotFound
from members.errors import PointsAmountTooLarge
from members.models import Member
from points.models import MultiplierWindow, PointsPolicy
from points.rules import CartFacts, MemberFacts, Rule, WindowFacts, earn_points
from points.services.checkout import purchase_refund
from points.services.multiplier_windows import multiplier_window_grant
from tests.factories import MemberFactory, StoreFactory, TierFactory, checkout_sale

pytestmark = pytest.mark.django_db

WEEK = timedelta(days=7)


@pytest.fixture
def grant(member, now):
    """Give the member a window of `multiplier` from `starts_at` (default now) for a week, under `key`."""

    def run(multiplier="2", key="campaign:1", starts_at=None, ends_at=None, reason="Old friends return", **kwargs):
        starts_at = starts_at or now
        return multiplier_window_grant(
            member_id=kwargs.pop("member_id", member.pk),
            multiplier=Decimal(multiplier),
            starts_at=starts_at,
            ends_at=ends_at or starts_at + WEEK,
            key=key,
            reason=reason,
            now=now,
        )

    return run


@pytest.fixture
def sell(store, member, policy, base_rule, now):
    """Check out `gross` at the till for the member at `at` (default now), HK$100 = 10 points."""

    def run(gross="1000.00", external_id="S-1", at=None):
        return checkout_sale(
            store=store, member=member, now=at or now, external_id=external_id, gross_amount=Decimal(gross)
        )

    return run


def window_steps(breakdown):
    return [step for step in breakdown["rules"] if step["kind"] == "multiplier_window"]


# -- the grant ----------------------------------------------------------------------------------------------------
def test_a_grant_is_idempotent_by_its_key(grant, member):
    first, created = grant(key="campaign:7")
    again, created_again = grant(key="campaign:7", multiplier="3")

    assert (created, created_again, again.pk, again.multiplier) == (True, False, first.pk, Decimal("2.00"))
    assert MultiplierWindow.objects.count() == 1


@pytest.mark.parametrize("multiplier", ["1", "0.5", "10.01", "2.005", "NaN"])
def test_a_multiplier_of_1_or_less_above_10_or_with_more_than_2_decimals_is_refused(grant, multiplier):
    with pytest.raises(InvalidInput) as refused:
        grant(multiplier=multiplier)

    assert set(refused.value.fields) == {"multiplier"}
    assert not MultiplierWindow.objects.exists()


def test_a_window_that_does_not_end_after_it_starts_is_refused(grant, now):
    with pytest.raises(InvalidInput) as refused:
        grant(starts_at=now, ends_at=now)

    assert set(refused.value.fields) == {"ends_at"}


def test_a_window_needs_a_reason_and_a_member(grant):
    with pytest.raises(InvalidInput) as refused:
        grant(reason="  ")
    assert set(refused.value.fields) == {"reason"}
    with pytest.raises(NotFound):
        grant(member_id=999_999)


def test_the_database_refuses_a_multiplier_out_of_range(member, now):
    with pytest.raises(IntegrityError), transaction.atomic():
        MultiplierWindow.objects.create(
            member=member, multiplier=Decimal("1.00"), starts_at=now, ends_at=now + WEEK, key="k", reason="r",
            created_at=now,
        )  # fmt: skip


# -- earning ------------------------------------------------------------------------------------------------------
def test_a_purchase_inside_the_window_earns_the_extra_with_its_own_breakdown_line(grant, sell, member, now):
    grant(multiplier="2")

    result = sell("1000.00", at=now + timedelta(days=3))

    assert result.checkout.points_earned == 200
    assert window_steps(result.checkout.breakdown) == [
        {"rule_id": None, "name": "x2 points: Old friends return", "kind": "multiplier_window", "points": 100}
    ]
    assert Member.objects.get(pk=member.pk).points_balance == 200


@pytest.mark.parametrize("offset", [timedelta(seconds=-1), WEEK])
def test_a_purchase_before_or_at_the_end_of_the_window_earns_nothing_extra(grant, sell, now, offset):
    grant(multiplier="2", starts_at=now, ends_at=now + WEEK)

    result = sell("1000.00", at=now + offset)

    assert result.checkout.points_earned == 100
    assert window_steps(result.checkout.breakdown) == []


def test_another_members_window_does_not_count(grant, sell):
    grant(member_id=MemberFactory().pk)

    assert sell("1000.00").checkout.points_earned == 100


def test_of_two_overlapping_windows_the_highest_applies_they_do_not_add_up(grant, sell, now):
    grant(multiplier="2", key="campaign:1", reason="Birthday")
    grant(multiplier="3", key="campaign:2", reason="Old friends return", starts_at=now - timedelta(days=1))
    grant(multiplier="1.5", key="campaign:3", reason="Member day")

    result = sell("1000.00")

    assert result.checkout.points_earned == 300
    assert [(step["name"], step["points"]) for step in window_steps(result.checkout.breakdown)] == [
        ("x3 points: Old friends return", 200)
    ]


def test_the_window_multiplies_the_base_points_beside_the_tier_multiplier(grant, sell, member):
    Member.objects.filter(pk=member.pk).update(tier=TierFactory(earn_multiplier=Decimal("1.5")))
    grant(multiplier="2")

    result = sell("1000.00")

    # "add" stacking: base 100, the tier adds 50, the window adds its share of the base, 100.
    assert result.checkout.points_earned == 250
    assert [step["kind"] for step in result.checkout.breakdown["rules"]] == ["base_rate", "tier", "multiplier_window"]


def test_under_multiply_stacking_the_window_multiplies_the_points_so_far(grant, sell, member, policy):
    PointsPolicy.objects.filter(pk=policy.pk).update(multiplier_stacking="multiply")
    Member.objects.filter(pk=member.pk).update(tier=TierFactory(earn_multiplier=Decimal("1.5")))
    grant(multiplier="2")

    assert sell("1000.00").checkout.points_earned == 300  # (100 + 50) x 2


def test_the_breakdown_names_the_window_in_the_requests_language(grant, sell):
    grant(reason={"en": "Old friends return", "zh-hant": "老友回歸", "zh-hans": "老友回归"})

    with translation.override("zh-hant"):
        result = sell("1000.00")

    assert window_steps(result.checkout.breakdown)[0]["name"].endswith("老友回歸")


def test_a_preview_at_the_till_shows_the_windows_extra(grant, store, member, policy, base_rule, pos_client_for):
    grant(multiplier="2")
    body = {"gross_amount": "1000.00", "member_number": member.member_number}

    response = pos_client_for(store).post("/api/v1/pos/purchases/preview", body, format="json")

    assert response.status_code == 200, response.json()
    assert response.json()["points_earned"] == 200
    assert window_steps(response.json()["breakdown"])[0]["points"] == 100


def test_a_mini_program_purchase_inside_the_window_earns_the_extra(
    grant, member, policy, base_rule, member_client, wechat_pay, now
):
    store = StoreFactory(code="mini-shop")
    PointsPolicy.objects.filter(pk=policy.pk).update(mini_program_store=store)
    Member.objects.filter(pk=member.pk).update(wechat_openid="o-window")
    member.refresh_from_db()
    # The fake WeChat Pay says the order was paid on 2026-11-25: the purchase counts as of then, inside the window.
    paid_at = datetime(2026, 11, 25, 2, 15, tzinfo=UTC)
    grant(multiplier="2", starts_at=min(now, paid_at) - timedelta(days=1), ends_at=max(now, paid_at) + WEEK)
    app = member_client(member)
    body = {"gross_amount": "1000.00"}

    preview = app.post("/api/v1/me/purchases/preview", body, format="json")
    wechat_pay.add_order("WX-1", total=100000, openid="o-window")
    bought = app.post("/api/v1/me/purchases", {**body, "out_trade_no": "WX-1"}, format="json")

    assert preview.json()["points_earned"] == 200, preview.json()
    assert bought.status_code == 201, bought.json()
    assert bought.json()["points_earned"] == 200


# -- refunds ------------------------------------------------------------------------------------------------------
def test_a_half_refund_takes_back_half_of_what_the_window_earned_too(grant, sell, store, member, now):
    grant(multiplier="2")
    sell("1000.00")

    refund = purchase_refund(
        store_id=store.pk,
        channel="pos",
        purchase_external_id="S-1",
        refund_external_id="R-1",
        amount=Decimal("500.00"),
        now=now + timedelta(days=1),
    )

    assert refund.refund.points_reversed == 100
    assert Member.objects.get(pk=member.pk).points_balance == 100


# -- the pipeline alone -------------------------------------------------------------------------------------------
def test_the_pipeline_skips_a_window_that_is_closed_at_the_purchases_time(now):
    base = Rule(id=1, name="base", kind="base_rate", priority=1, amount_per_unit=Decimal(100), points_per_unit=10)
    window = WindowFacts(id=1, multiplier=Decimal(2), starts_at=now + WEEK, ends_at=now + 2 * WEEK)
    cart = CartFacts(amount=Decimal(1000), store_id=None, channel="pos", purchased_at=now)

    earning = earn_points(cart=cart, member=MemberFacts(multiplier_windows=(window,)), rules=[base])

    assert earning.total == 100


# -- the per-purchase maximum -----------------------------------------------------------------------------------------
def test_a_window_that_would_push_a_sale_past_the_per_purchase_maximum_is_cut_to_it_instead_of_refused(
    grant, sell, member, policy
):
    PointsPolicy.objects.filter(pk=policy.pk).update(max_points_per_purchase=150)
    grant(multiplier="2")

    result = sell("1000.00")

    # Base 100, the window's extra 100 is cut to 50: the sale earns the maximum, and the line says it was capped.
    assert result.checkout.points_earned == 150
    assert window_steps(result.checkout.breakdown) == [
        {
            "rule_id": None, "name": "x2 points: Old friends return", "kind": "multiplier_window", "points": 50,
            "capped": True, "points_before_cap": 100,
        }
    ]  # fmt: skip
    assert Member.objects.get(pk=member.pk).points_balance == 150


def test_a_preview_at_the_till_shows_the_window_cut_to_the_maximum(
    grant, store, member, policy, base_rule, pos_client_for
):
    PointsPolicy.objects.filter(pk=policy.pk).update(max_points_per_purchase=120)
    grant(multiplier="3")
    body = {"gross_amount": "1000.00", "member_number": member.member_number}

    response = pos_client_for(store).post("/api/v1/pos/purchases/preview", body, format="json")

    assert response.status_code == 200, response.json()
    assert response.json()["points_earned"] == 120
    assert window_steps(response.json()["breakdown"])[0]["points_before_cap"] == 200


def test_a_sale_whose_rules_alone_earn_more_than_the_maximum_is_still_refused(grant, sell, member, policy):
    PointsPolicy.objects.filter(pk=policy.pk).update(max_points_per_purchase=90)
    grant(multiplier="2")

    with pytest.raises(PointsAmountTooLarge):
        sell("1000.00")  # 100 base points are already more than 90: the window is not what pushed it over

    assert Member.objects.get(pk=member.pk).points_balance == 0


def test_the_pipeline_cuts_only_the_windows_extra_to_the_maximum(now):
    base = Rule(id=1, name="base", kind="base_rate", priority=1, amount_per_unit=Decimal(100), points_per_unit=10)
    window = WindowFacts(id=1, multiplier=Decimal(3), starts_at=now - WEEK, ends_at=now + WEEK)
    cart = CartFacts(amount=Decimal(1000), store_id=None, channel="pos", purchased_at=now)
    member = MemberFacts(multiplier_windows=(window,))

    uncut = earn_points(cart=cart, member=member, rules=[base])
    within = earn_points(cart=cart, member=member, rules=[base], max_total=500)
    cut = earn_points(cart=cart, member=member, rules=[base], max_total=250)
    above = earn_points(cart=cart, member=member, rules=[base], max_total=50)

    assert (uncut.total, within.total, cut.total) == (300, 300, 250)
    assert [(step.kind, step.points, step.points_before_cap) for step in cut.steps] == [
        ("base_rate", 100, None), ("multiplier_window", 150, 200),
    ]  # fmt: skip
    # The rules alone are above the maximum: the window adds nothing, and the checkout refuses the sale.
    assert above.total == 100

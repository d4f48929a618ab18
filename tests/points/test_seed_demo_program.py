from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from modeltranslation.translator import translator

from coupons.models import CouponTemplate, PostPaymentRule
from infra.translation import localized_column
from members.models import MembershipPlan, Store, StoreHoursException, Tier, TopUpOffer
from members.services.tiers import thresholds_are_valid
from points.management.commands.seed_demo import Command as SeedDemo
from points.models import Auction, DrawPrize, EarningRule, LuckyDraw, PointsPolicy, Reward, TierMonthlyGift

SEEDED_MODELS = (
    Tier, PointsPolicy, EarningRule, CouponTemplate, TopUpOffer, MembershipPlan, PostPaymentRule, TierMonthlyGift,
    Reward, LuckyDraw, DrawPrize, Auction,
)  # fmt: skip


def _seed_program() -> str:
    out = StringIO()
    call_command("seed_demo_program", stdout=out)
    return out.getvalue()


def _counts() -> dict:
    return {model.__name__: model.objects.count() for model in SEEDED_MODELS}


@pytest.fixture
def demo(db):
    call_command("seed_demo", members=20, stdout=StringIO())


def test_second_run_changes_nothing_and_prints_the_same(demo):
    # given
    first_output = _seed_program()
    first_counts = _counts()
    # when
    second_output = _seed_program()
    # then
    assert _counts() == first_counts
    assert first_counts == {
        "Tier": 4,
        "PointsPolicy": 1,
        "EarningRule": 10,
        "CouponTemplate": 6,
        "TopUpOffer": 3,
        "MembershipPlan": 1,
        "PostPaymentRule": 1,
        "TierMonthlyGift": 3,
        "Reward": 4,
        "LuckyDraw": 1,
        "DrawPrize": 3,
        "Auction": 1,
    }
    assert second_output == first_output


def test_every_seeded_row_passes_full_clean(demo):
    # given
    _seed_program()
    # when
    rows = [row for model in SEEDED_MODELS for row in model.objects.order_by("pk")]
    # then
    for row in rows:
        row.full_clean()


def test_tier_thresholds_are_valid_for_the_review(demo):
    # given
    _seed_program()
    # when
    tiers = list(Tier.objects.order_by("rank"))
    # then
    assert thresholds_are_valid(tiers)
    assert [(tier.code, tier.min_score_to_reach, tier.min_score_to_keep) for tier in tiers] == [
        ("V1", Decimal("0.00"), Decimal("0.00")),
        ("V2", Decimal("5000.00"), Decimal("3000.00")),
        ("V3", Decimal("9000.00"), Decimal("7000.00")),
        ("V4", Decimal("12000.00"), Decimal("10000.00")),
    ]


def test_thresholds_a_merchant_set_are_kept(db):
    # given: the demo's tiers (seed_demo itself configures the program once they exist), V2's thresholds set first
    SeedDemo()._tiers()
    Tier.objects.filter(code="V2").update(min_score_to_reach=Decimal(800), min_score_to_keep=Decimal(500))
    # when
    _seed_program()
    # then
    assert list(Tier.objects.order_by("rank").values_list("min_score_to_reach", flat=True)) == [
        Decimal("0.00"),
        Decimal("800.00"),
        Decimal("0.00"),
        Decimal("0.00"),
    ]


def test_points_policy_expires_points_12_months_after_earning_at_the_months_end(demo):
    # when
    _seed_program()
    # then
    policy = PointsPolicy.objects.get(pk=1)
    assert (policy.expiry_mode, policy.expiry_months) == (PointsPolicy.ExpiryMode.MONTHS_END, 12)


def test_seeded_stock_is_set_through_the_services(demo):
    _seed_program()
    assert {reward.name: reward.stock_remaining for reward in Reward.objects.all()}["Tote bag"] == 200
    assert sorted(DrawPrize.objects.values_list("stock_remaining", flat=True)) == [20, 100, 300]


def test_every_seeded_merchant_text_has_its_three_languages(demo):
    # given

    _seed_program()
    # when
    missing = [
        f"{type(row).__name__} {row.pk} {field}"
        for model in (*SEEDED_MODELS, Store, StoreHoursException)
        if model in translator.get_registered_models()
        for row in model.objects.order_by("pk")
        for field in translator.get_options_for_model(model).get_field_names()
        if getattr(row, localized_column(field, "en"))
        and not all(getattr(row, localized_column(field, language)) for language in ("zh-hant", "zh-hans"))
    ]
    # then
    assert missing == []
    gold = Tier.objects.get(code="V2")
    assert (gold.name_en, gold.name_zh_hant, gold.name_zh_hans) == ("Gold", "金卡", "金卡")
    assert Store.objects.get(code="central").name_zh_hans == "中环"

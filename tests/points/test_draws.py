"""Lucky draws: a spin costs points, draws a prize by weight among those in stock, and records how it was drawn."""

import secrets
from collections import Counter
from datetime import timedelta
from decimal import Decimal

import pytest

from coupons.models import Coupon
from infra.errors import InvalidInput, NotFound
from members.errors import IdempotencyKeyReused, InsufficientPoints
from members.models import Member, PointsEntry
from members.services.ledger import points_ledger_drift
from points.errors import (
    DrawNotAvailable,
    DrawNotForMember,
    DrawSoldOut,
    PointsSpendingNotAllowed,
    SpinLimitReached,
)
from points.models import DrawPrize, DrawSpin, PointsPolicy
from points.services.draws import _option_at, draw_prize_stock_set, draw_spin
from tests.coupons.factories import CouponTemplateFactory
from tests.factories import DrawPrizeFactory, LuckyDrawFactory, MemberFactory, TierFactory

pytestmark = pytest.mark.django_db


def fixed(*numbers):
    """A random source that returns these numbers in turn (tests only; the service uses secrets.randbelow)."""
    queue = list(numbers)
    return lambda total: queue.pop(0)


@pytest.fixture
def draw(db):
    """100 points a spin: 50 points (weight 1), a gift (weight 2), nothing (weight 7)."""
    draw = LuckyDrawFactory(no_prize_weight=7)
    DrawPrizeFactory(draw=draw, name="50 points", kind="points", points=50, weight=1, stock_total=5)
    DrawPrizeFactory(draw=draw, name="Tote bag", kind="gift", points=None, weight=2, stock_total=3)
    return draw


@pytest.fixture
def rich_member(give_points):
    member = MemberFactory()
    give_points(member, 1000)
    return member


def spin(member, draw, now, key="k1", numbers=(0,)):
    return draw_spin(member_id=member.pk, draw_id=draw.pk, idempotency_key=key, now=now, random_below=fixed(*numbers))


def prizes_of(draw):
    return list(draw.prizes.order_by("pk"))


# -- drawing ---------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("number", "expected"),
    [(0, "50 points"), (1, "Tote bag"), (2, "Tote bag"), (3, None), (9, None)],
)
def test_the_number_drawn_falls_in_one_prize_weight_range(draw, rich_member, now, number, expected):
    result = spin(rich_member, draw, now, numbers=(number,))

    assert (result.spin.prize.name if result.spin.prize else None) == expected
    assert result.spin.random_number == number


def test_each_number_below_the_total_weight_wins_each_prize_exactly_its_weight(draw, now, give_points):
    member = MemberFactory()
    give_points(member, 10 * 100)
    draw.prizes.update(stock_total=100, stock_remaining=100)

    outcomes = Counter(
        spin(member, draw, now, key=f"k{number}", numbers=(number,)).spin.outcome for number in range(10)
    )

    assert outcomes == {"points": 1, "gift": 2, "none": 7}


def test_secrets_randbelow_over_the_weights_gives_each_prize_its_share():
    options = [("a", 1), ("b", 2), ("c", 3), (None, 14)]
    total, spins = 20, 100_000

    counts = Counter(_option_at(options, secrets.randbelow(total)) for _ in range(spins))

    for option, weight in options:
        expected = spins * weight / total
        sigma = (spins * weight / total * (1 - weight / total)) ** 0.5
        assert abs(counts[option] - expected) < 5 * sigma, (option, counts[option], expected)


def test_a_real_spin_draws_with_secrets_and_records_its_number(draw, rich_member, now):
    result = draw_spin(member_id=rich_member.pk, draw_id=draw.pk, idempotency_key="k1", now=now)

    attempt = result.spin.weights["attempts"][0]
    assert attempt["total"] == 10
    assert 0 <= result.spin.random_number < 10
    assert attempt["random_number"] == result.spin.random_number


# -- what a spin writes ----------------------------------------------------------------------------------------------
def test_a_spin_spends_its_points_and_records_the_weights_it_drew_over(draw, rich_member, now):
    points_prize, gift = prizes_of(draw)

    result = spin(rich_member, draw, now, numbers=(5,))

    spun = result.spin
    assert result.is_replay is False
    assert (spun.outcome, spun.prize, spun.points_spent) == ("none", None, 100)
    assert spun.weights == {
        "attempts": [
            {
                "options": [
                    {"prize_id": points_prize.pk, "weight": 1},
                    {"prize_id": gift.pk, "weight": 2},
                    {"prize_id": None, "weight": 7},
                ],
                "total": 10,
                "random_number": 5,
                "prize_id": None,
            }
        ]
    }
    assert (spun.spend_entry.kind, spun.spend_entry.delta, spun.spend_entry.source) == (
        "redemption",
        -100,
        f"draw:{draw.pk}",
    )
    rich_member.refresh_from_db()
    assert rich_member.points_balance == 900
    assert points_ledger_drift() == []


def test_a_points_prize_is_credited_with_the_policy_expiry_and_takes_one_from_stock(draw, rich_member, now):
    policy = PointsPolicy.load()
    policy.expiry_mode, policy.expiry_days = "days", 365
    policy.save()

    spun = spin(rich_member, draw, now, numbers=(0,)).spin

    assert (spun.outcome, spun.prize_entry.kind, spun.prize_entry.delta) == ("points", "accrual", 50)
    assert spun.prize_entry.lot.expires_at == now + timedelta(days=365)
    assert DrawPrize.objects.get(name="50 points").stock_remaining == 4
    rich_member.refresh_from_db()
    assert rich_member.points_balance == 1000 - 100 + 50
    assert points_ledger_drift() == []


def test_a_gift_prize_gets_a_claim_code_to_collect_in_store(draw, rich_member, now):
    spun = spin(rich_member, draw, now, numbers=(1,)).spin

    assert spun.outcome == "gift"
    assert spun.claim_code.startswith("D")
    assert len(spun.claim_code) == 12
    assert (spun.prize_entry, spun.coupon) == (None, None)


def test_a_coupon_prize_issues_a_coupon_of_its_template(rich_member, now):
    template = CouponTemplateFactory(amount=Decimal("20.00"), per_member_limit=1)
    draw = LuckyDrawFactory()
    DrawPrizeFactory(draw=draw, kind="coupon", points=None, coupon_template=template, weight=1, stock_total=2)

    first = spin(rich_member, draw, now, key="k1").spin
    second = spin(rich_member, draw, now, key="k2").spin

    assert first.outcome == second.outcome == "coupon"
    assert Coupon.objects.filter(member=rich_member, template=template, source="reward").count() == 2
    assert first.coupon.template == template


def test_an_out_of_stock_prize_drops_out_of_the_draw(draw, rich_member, now):
    points_prize, gift = prizes_of(draw)
    DrawPrize.objects.filter(pk=points_prize.pk).update(stock_remaining=0)

    spun = spin(rich_member, draw, now, numbers=(0,)).spin

    assert spun.prize == gift
    assert [option["prize_id"] for option in spun.weights["attempts"][0]["options"]] == [gift.pk, None]
    assert spun.weights["attempts"][0]["total"] == 9


def test_a_prize_won_by_someone_else_during_the_spin_is_redrawn_among_what_is_left(draw, rich_member, now):
    points_prize, gift = prizes_of(draw)
    numbers = iter([0, 0])

    def race(total):
        # Another spin takes the last 50 points between our read of the stock and our conditional UPDATE.
        DrawPrize.objects.filter(pk=points_prize.pk).update(stock_remaining=0)
        return next(numbers)

    spun = draw_spin(member_id=rich_member.pk, draw_id=draw.pk, idempotency_key="k1", now=now, random_below=race).spin

    assert spun.prize == gift
    first, second = spun.weights["attempts"]
    assert (first["prize_id"], first["out_of_stock"], first["total"]) == (points_prize.pk, True, 10)
    assert (second["prize_id"], second["total"]) == (gift.pk, 9)
    assert DrawPrize.objects.get(pk=gift.pk).stock_remaining == 2


def test_when_the_last_prize_goes_during_the_spin_and_there_is_no_empty_share_nothing_is_charged(rich_member, now):
    draw = LuckyDrawFactory()
    prize = DrawPrizeFactory(draw=draw, stock_total=1)

    def race(total):
        DrawPrize.objects.filter(pk=prize.pk).update(stock_remaining=0)
        return 0

    with pytest.raises(DrawSoldOut):
        draw_spin(member_id=rich_member.pk, draw_id=draw.pk, idempotency_key="k1", now=now, random_below=race)

    rich_member.refresh_from_db()
    assert rich_member.points_balance == 1000
    assert DrawSpin.objects.count() == 0


# -- idempotency -----------------------------------------------------------------------------------------------------
def test_a_retry_with_the_same_key_returns_the_first_spin_without_charging_again(draw, rich_member, now):
    first = spin(rich_member, draw, now, numbers=(0,))

    again = spin(rich_member, draw, now, numbers=(9,))

    assert again.is_replay is True
    assert again.spin == first.spin
    assert PointsEntry.objects.filter(member=rich_member, kind="redemption").count() == 1
    rich_member.refresh_from_db()
    assert rich_member.points_balance == 950


def test_the_same_key_on_another_draw_is_refused(draw, rich_member, now):
    spin(rich_member, draw, now)
    other = LuckyDrawFactory(no_prize_weight=1)

    with pytest.raises(IdempotencyKeyReused):
        spin(rich_member, other, now)


def test_two_members_may_use_the_same_key(draw, rich_member, now, give_points):
    other = MemberFactory()
    give_points(other, 100)

    spin(rich_member, draw, now, numbers=(9,))
    result = spin(other, draw, now, numbers=(9,))

    assert result.is_replay is False
    assert DrawSpin.objects.count() == 2


@pytest.mark.parametrize("key", ["", "   ", "x" * 101, "tab\there"])
def test_a_missing_or_bad_key_is_refused(draw, rich_member, now, key):
    with pytest.raises(InvalidInput) as error:
        spin(rich_member, draw, now, key=key)

    assert error.value.code == "idempotency_key_invalid"
    assert DrawSpin.objects.count() == 0


# -- denials ---------------------------------------------------------------------------------------------------------
def test_an_unknown_draw_is_not_found(rich_member, now):
    with pytest.raises(NotFound):
        draw_spin(member_id=rich_member.pk, draw_id=999_999, idempotency_key="k", now=now)


@pytest.mark.parametrize(
    "change",
    [
        {"is_active": False},
        {"starts_at_in": timedelta(minutes=1)},
        {"ends_at_in": timedelta(0)},
    ],
    ids=["inactive", "not started", "ended"],
)
def test_a_draw_out_of_its_window_or_inactive_is_not_available(draw, rich_member, now, change):
    draw.is_active = change.get("is_active", True)
    if "starts_at_in" in change:
        draw.starts_at = now + change["starts_at_in"]
    if "ends_at_in" in change:
        draw.ends_at = now + change["ends_at_in"]
    draw.save()

    with pytest.raises(DrawNotAvailable):
        spin(rich_member, draw, now)

    rich_member.refresh_from_db()
    assert rich_member.points_balance == 1000


def test_a_member_without_enough_points_cannot_spin_and_nothing_is_taken(draw, now, give_points):
    member = MemberFactory()
    give_points(member, 99)

    with pytest.raises(InsufficientPoints):
        spin(member, draw, now, numbers=(0,))

    assert DrawSpin.objects.count() == 0
    assert sum(draw.prizes.values_list("stock_remaining", flat=True)) == 8


def test_a_member_who_may_not_spend_points_cannot_spin(draw, rich_member, now):
    Member.objects.filter(pk=rich_member.pk).update(status=Member.Status.FROZEN)

    with pytest.raises(PointsSpendingNotAllowed):
        spin(rich_member, draw, now)


def test_a_draw_for_some_tiers_refuses_other_members(draw, rich_member, now):
    gold, silver = TierFactory(code="GOLD"), TierFactory(code="SILVER")
    draw.tiers.add(gold)
    Member.objects.filter(pk=rich_member.pk).update(tier=silver)

    with pytest.raises(DrawNotForMember):
        spin(rich_member, draw, now)

    Member.objects.filter(pk=rich_member.pk).update(tier=gold)
    assert spin(rich_member, draw, now).is_replay is False


def test_the_total_spin_limit_is_enforced(draw, rich_member, now):
    draw.total_spin_limit = 2
    draw.starts_at = now - timedelta(days=5)
    draw.save()
    spin(rich_member, draw, now, key="a", numbers=(9,))
    spin(rich_member, draw, now - timedelta(days=3), key="b", numbers=(9,))

    with pytest.raises(SpinLimitReached):
        spin(rich_member, draw, now, key="c", numbers=(9,))

    rich_member.refresh_from_db()
    assert rich_member.points_balance == 800


def test_the_daily_spin_limit_counts_only_today(draw, rich_member, now):
    draw.daily_spin_limit = 1
    draw.starts_at = now - timedelta(days=5)
    draw.save()
    spin(rich_member, draw, now - timedelta(days=2), key="yesterday", numbers=(9,))
    spin(rich_member, draw, now, key="today", numbers=(9,))

    with pytest.raises(SpinLimitReached):
        spin(rich_member, draw, now, key="again", numbers=(9,))


def test_a_draw_with_every_prize_gone_refuses_spins(draw, rich_member, now):
    draw.prizes.update(stock_remaining=0)

    with pytest.raises(DrawSoldOut):
        spin(rich_member, draw, now)

    rich_member.refresh_from_db()
    assert rich_member.points_balance == 1000


def test_a_coupon_prize_whose_offer_cannot_issue_drops_out_and_keeps_its_stock(rich_member, now):
    template = CouponTemplateFactory(is_active=False)
    draw = LuckyDrawFactory(no_prize_weight=1)
    coupon_prize = DrawPrizeFactory(draw=draw, kind="coupon", points=None, coupon_template=template, stock_total=1)

    spun = spin(rich_member, draw, now, numbers=(0, 0)).spin

    assert spun.outcome == "none"
    first, second = spun.weights["attempts"]
    assert (first["prize_id"], first["unavailable"]) == (coupon_prize.pk, "template_inactive")
    assert [option["prize_id"] for option in second["options"]] == [None]
    coupon_prize.refresh_from_db()
    assert coupon_prize.stock_remaining == 1
    assert Coupon.objects.count() == 0


def test_a_draw_whose_only_prize_cannot_be_granted_refuses_the_spin_and_charges_nothing(rich_member, now):
    template = CouponTemplateFactory(is_active=False)
    draw = LuckyDrawFactory()
    DrawPrizeFactory(draw=draw, kind="coupon", points=None, coupon_template=template, stock_total=1)

    with pytest.raises(DrawSoldOut):
        spin(rich_member, draw, now)

    assert DrawPrize.objects.get().stock_remaining == 1
    rich_member.refresh_from_db()
    assert rich_member.points_balance == 1000


# -- stock -----------------------------------------------------------------------------------------------------------
def test_setting_a_prize_stock_keeps_what_was_won(draw, rich_member, now):
    points_prize, _gift = prizes_of(draw)
    spin(rich_member, draw, now, numbers=(0,))

    prize = draw_prize_stock_set(prize_id=points_prize.pk, stock_total=8)

    assert (prize.stock_total, prize.stock_remaining) == (8, 7)


def test_a_prize_stock_cannot_go_below_what_was_won(draw, rich_member, now):
    points_prize, _gift = prizes_of(draw)
    spin(rich_member, draw, now, key="a", numbers=(0,))
    spin(rich_member, draw, now, key="b", numbers=(0,))

    with pytest.raises(InvalidInput) as error:
        draw_prize_stock_set(prize_id=points_prize.pk, stock_total=1)

    assert "stock_total" in error.value.fields
    points_prize.refresh_from_db()
    assert (points_prize.stock_total, points_prize.stock_remaining) == (5, 3)

"""Real concurrent spins on PostgreSQL: prize stock is never exceeded and spin limits hold."""

import pytest
from django.utils import timezone

from members.models import PointsEntry
from members.services.ledger import points_credit, points_ledger_drift
from points.errors import DrawSoldOut, PrizeAlreadyCollected, SpinLimitReached
from points.models import DrawPrize, DrawSpin
from points.services.draws import draw_gift_collect, draw_spin
from tests.concurrency import run_in_threads
from tests.factories import DrawPrizeFactory, LuckyDrawFactory, MemberFactory, StoreFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def members_with_points(count, points, now):
    members = [MemberFactory() for _ in range(count)]
    for member in members:
        points_credit(member_id=member.pk, points=points, idempotency_key=f"seed:{member.pk}", now=now)
    return members


def spin_call(member, draw, now, key="k1"):
    return lambda: draw_spin(member_id=member.pk, draw_id=draw.pk, idempotency_key=key, now=now)


def test_forty_members_spinning_at_once_never_win_more_prizes_than_the_stock():
    now = timezone.now()
    draw = LuckyDrawFactory(no_prize_weight=1)
    prize = DrawPrizeFactory(draw=draw, kind="points", points=30, weight=10_000, stock_total=5)
    members = members_with_points(40, 1000, now)

    results = run_in_threads([spin_call(member, draw, now) for member in members], workers=40)

    assert [r for r in results if isinstance(r, Exception)] == []
    prize.refresh_from_db()
    assert prize.stock_remaining == 0
    assert DrawSpin.objects.filter(prize=prize).count() == 5
    assert DrawSpin.objects.count() == 40
    assert PointsEntry.objects.filter(kind="accrual", source=f"draw:{draw.pk}").count() == 5
    assert points_ledger_drift() == []


def test_when_prizes_run_out_under_load_the_late_spins_are_refused_and_charged_nothing():
    now = timezone.now()
    draw = LuckyDrawFactory(no_prize_weight=0)
    prizes = [
        DrawPrizeFactory(draw=draw, kind="gift", points=None, weight=1, stock_total=3),
        DrawPrizeFactory(draw=draw, kind="points", points=10, weight=1, stock_total=4),
    ]
    members = members_with_points(40, 100, now)

    results = run_in_threads([spin_call(member, draw, now) for member in members], workers=40)

    won = [r for r in results if not isinstance(r, Exception)]
    refused = [r for r in results if isinstance(r, DrawSoldOut)]
    assert (len(won), len(refused)) == (7, 33)
    assert sorted(
        DrawPrize.objects.filter(pk__in=[p.pk for p in prizes]).values_list("stock_remaining", flat=True)
    ) == [
        0,
        0,
    ]
    assert PointsEntry.objects.filter(kind="redemption").count() == 7
    assert sum(member.points_balance for member in type(members[0]).objects.all()) == 40 * 100 - 7 * 100 + 4 * 10
    assert points_ledger_drift() == []


def test_one_member_spinning_from_ten_threads_stays_within_the_daily_limit():
    now = timezone.now()
    draw = LuckyDrawFactory(no_prize_weight=1, daily_spin_limit=3)
    DrawPrizeFactory(draw=draw, weight=1, stock_total=100)
    (member,) = members_with_points(1, 5000, now)

    results = run_in_threads([spin_call(member, draw, now, key=f"k{i}") for i in range(10)], workers=10)

    assert len([r for r in results if not isinstance(r, Exception)]) == 3
    assert len([r for r in results if isinstance(r, SpinLimitReached)]) == 7
    assert DrawSpin.objects.filter(member=member).count() == 3
    assert points_ledger_drift() == []


def test_the_same_spin_retried_from_ten_threads_is_spun_once():
    now = timezone.now()
    draw = LuckyDrawFactory(no_prize_weight=1)
    DrawPrizeFactory(draw=draw, weight=1, stock_total=100)
    (member,) = members_with_points(1, 5000, now)

    results = run_in_threads([spin_call(member, draw, now)] * 10, workers=10)

    assert [r for r in results if isinstance(r, Exception)] == []
    assert sorted(r.is_replay for r in results) == [False] + [True] * 9
    assert DrawSpin.objects.count() == 1
    member.refresh_from_db()
    assert member.points_balance in (4900, 4950)


def test_ten_tills_handing_over_the_same_gift_hand_it_over_once():
    now = timezone.now()
    draw = LuckyDrawFactory()
    DrawPrizeFactory(draw=draw, kind="gift", points=None, stock_total=1)
    (member,) = members_with_points(1, 100, now)
    spin = draw_spin(member_id=member.pk, draw_id=draw.pk, idempotency_key="k", now=now).spin
    stores = [StoreFactory() for _ in range(10)]
    calls = [
        lambda store=store: draw_gift_collect(claim_code=spin.claim_code, store_id=store.pk, now=now)
        for store in stores
    ]

    results = run_in_threads(calls, workers=10)

    assert len([r for r in results if not isinstance(r, Exception)]) == 1
    assert len([r for r in results if isinstance(r, PrizeAlreadyCollected)]) == 9

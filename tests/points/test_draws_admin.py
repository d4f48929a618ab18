"""The console for lucky draws: prizes with their chances and stock, and the spins as a read-only audit."""

import pytest

from members.models import Role
from points.models import DrawPrize, DrawSpin, LuckyDraw
from points.services.draws import draw_spin
from tests.factories import DrawPrizeFactory, LuckyDrawFactory, MemberFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def merchant_admin(client):
    client.force_login(UserFactory(role=Role.MERCHANT_ADMIN))
    return client


def draw_form(draw=None, prizes=(), **overrides):
    form = {
        "name_en": "Summer draw",
        "description_en": "",
        "points_per_spin": 200,
        "is_active": "on",
        "starts_at_0": "2026-07-01",
        "starts_at_1": "00:00:00",
        "ends_at_0": "2026-07-31",
        "ends_at_1": "23:59:59",
        "daily_spin_limit": 3,
        "total_spin_limit": "",
        "no_prize_weight": 6,
        "prizes-TOTAL_FORMS": len(prizes),
        "prizes-INITIAL_FORMS": sum(1 for prize in prizes if prize.get("id")),
        "prizes-MIN_NUM_FORMS": 0,
        "prizes-MAX_NUM_FORMS": 1000,
    }
    for index, prize in enumerate(prizes):
        for name, value in prize.items():
            form[f"prizes-{index}-{name}"] = value
        if draw is not None:
            form[f"prizes-{index}-draw"] = draw.pk
    form.update(overrides)
    return form


def test_a_draw_is_set_up_with_its_prizes_in_stock(merchant_admin):
    prizes = [
        {"name_en": "100 points", "kind": "points", "points": 100, "weight": 3, "stock_total": 50},
        {"name_en": "Tote bag", "kind": "gift", "points": "", "weight": 1, "stock_total": 10},
    ]

    response = merchant_admin.post("/console/points/luckydraw/add/", draw_form(prizes=prizes))

    assert response.status_code == 302, response.context["adminform"].form.errors
    draw = LuckyDraw.objects.get()
    assert [(p.name, p.stock_total, p.stock_remaining) for p in draw.prizes.order_by("pk")] == [
        ("100 points", 50, 50),
        ("Tote bag", 10, 10),
    ]


def test_the_draw_page_shows_each_prize_chance_as_a_percentage(merchant_admin):
    draw = LuckyDrawFactory(no_prize_weight=6)
    DrawPrizeFactory(draw=draw, weight=3)
    DrawPrizeFactory(draw=draw, weight=1)

    response = merchant_admin.get(f"/console/points/luckydraw/{draw.pk}/change/")

    assert response.status_code == 200
    assert "30.00 %" in response.content.decode()
    assert "10.00 %" in response.content.decode()
    changelist = merchant_admin.get("/console/points/luckydraw/").content.decode()
    assert "60.00 %" in changelist


def test_raising_a_prize_stock_keeps_what_was_won(merchant_admin, give_points, now):
    draw = LuckyDrawFactory()
    prize = DrawPrizeFactory(draw=draw, stock_total=5)
    member = MemberFactory()
    give_points(member, 500)
    draw_spin(member_id=member.pk, draw_id=draw.pk, idempotency_key="k", now=now)
    row = {"id": prize.pk, "name_en": "Renamed", "kind": "points", "points": 50, "weight": 1, "stock_total": 20}
    form = draw_form(draw, [row], name_en=draw.name, **_window(draw))

    response = merchant_admin.post(f"/console/points/luckydraw/{draw.pk}/change/", form)

    assert response.status_code == 302, response.context["inline_admin_formsets"][0].formset.errors
    prize.refresh_from_db()
    assert (prize.name, prize.stock_total, prize.stock_remaining) == ("Renamed", 20, 19)


def test_a_prize_stock_below_what_was_won_is_refused(merchant_admin, give_points, now):
    draw = LuckyDrawFactory()
    prize = DrawPrizeFactory(draw=draw, stock_total=2)
    member = MemberFactory()
    give_points(member, 500)
    draw_spin(member_id=member.pk, draw_id=draw.pk, idempotency_key="a", now=now)
    draw_spin(member_id=member.pk, draw_id=draw.pk, idempotency_key="b", now=now)
    row = {"id": prize.pk, "name_en": prize.name, "kind": "points", "points": 50, "weight": 1, "stock_total": 1}

    response = merchant_admin.post(
        f"/console/points/luckydraw/{draw.pk}/change/", draw_form(draw, [row], name_en=draw.name, **_window(draw))
    )

    assert response.status_code == 200
    assert "2 of this prize were already won" in response.content.decode()
    prize.refresh_from_db()
    assert (prize.stock_total, prize.stock_remaining) == (2, 0)


def test_spins_are_a_read_only_audit(merchant_admin, give_points, now):
    draw = LuckyDrawFactory(no_prize_weight=1)
    DrawPrizeFactory(draw=draw)
    member = MemberFactory()
    give_points(member, 500)
    spin = draw_spin(member_id=member.pk, draw_id=draw.pk, idempotency_key="k", now=now).spin

    listing = merchant_admin.get("/console/points/drawspin/")
    page = merchant_admin.get(f"/console/points/drawspin/{spin.pk}/change/")

    assert listing.status_code == page.status_code == 200
    assert str(spin.random_number) in page.content.decode()
    assert merchant_admin.get("/console/points/drawspin/add/").status_code == 403
    assert merchant_admin.post(f"/console/points/drawspin/{spin.pk}/delete/", {"post": "yes"}).status_code == 403
    assert DrawSpin.objects.count() == 1


def test_a_clerk_cannot_open_the_draws(client):
    client.force_login(UserFactory(role=Role.CLERK))

    assert client.get("/console/points/luckydraw/").status_code == 403
    assert client.get("/console/points/drawspin/").status_code == 403
    assert DrawPrize.objects.count() == 0


def _window(draw):
    from django.utils import timezone

    starts, ends = timezone.localtime(draw.starts_at), timezone.localtime(draw.ends_at)
    return {
        "starts_at_0": starts.date().isoformat(),
        "starts_at_1": starts.time().replace(microsecond=0).isoformat(),
        "ends_at_0": ends.date().isoformat(),
        "ends_at_1": ends.time().replace(microsecond=0).isoformat(),
        "points_per_spin": draw.points_per_spin,
        "daily_spin_limit": "",
        "no_prize_weight": draw.no_prize_weight,
    }

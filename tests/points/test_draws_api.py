"""Lucky draws through HTTP with a real member token: listing with odds, spinning, the member's own spins."""

from datetime import timedelta

import pytest

from members.models import Member
from points.models import DrawSpin
from tests.factories import DrawPrizeFactory, LuckyDrawFactory, MemberFactory, TierFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def draw(db):
    """100 points a spin: 50 points (weight 1, 5 left), a gift (weight 3, none left), nothing (weight 3)."""
    draw = LuckyDrawFactory(name="Spring draw", no_prize_weight=3, daily_spin_limit=2)
    DrawPrizeFactory(draw=draw, name="50 points", kind="points", points=50, weight=1, stock_total=5)
    DrawPrizeFactory(draw=draw, name="Tote bag", kind="gift", points=None, weight=3, stock_total=0)
    return draw


@pytest.fixture
def client(member, member_client, give_points):
    give_points(member, 1000)
    return member_client(member)


def spin(client, draw, key="k1"):
    return client.post(f"/api/v1/draws/{draw.pk}/spin", HTTP_IDEMPOTENCY_KEY=key)


def test_the_list_shows_open_draws_with_each_prize_chance_and_the_spins_used(client, draw, now):
    LuckyDrawFactory(name="Over", starts_at=now - timedelta(days=9), ends_at=now - timedelta(days=1))
    LuckyDrawFactory(name="Off", is_active=False)
    spin(client, draw)

    response = client.get("/api/v1/draws")

    assert response.status_code == 200
    (listed,) = response.json()
    assert (listed["name"], listed["points_per_spin"], listed["spins_today"], listed["spins_total"]) == (
        "Spring draw",
        100,
        1,
        1,
    )
    assert listed["no_prize_percent"] == 75.0
    assert [(p["name"], p["kind"], p["in_stock"], p["chance_percent"]) for p in listed["prizes"]] == [
        ("50 points", "points", True, 25.0),
        ("Tote bag", "gift", False, 0.0),
    ]


def test_the_list_leaves_out_draws_for_other_tiers(client, draw, member):
    draw.tiers.add(TierFactory(code="GOLD"))
    Member.objects.filter(pk=member.pk).update(tier=TierFactory(code="SILVER"))

    assert client.get("/api/v1/draws").json() == []


def test_a_spin_spends_points_and_answers_what_was_won(client, draw, member):
    response = spin(client, draw)

    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["draw_name"], body["points_spent"]) == ("Spring draw", 100)
    assert body["outcome"] in ("points", "none")
    member.refresh_from_db()
    assert member.points_balance == 900 + (50 if body["outcome"] == "points" else 0)


def test_a_retried_spin_gets_the_first_answer_and_is_charged_once(client, draw, member):
    first = spin(client, draw)

    again = spin(client, draw)

    assert (again.status_code, again.json(), again["Idempotent-Replayed"]) == (201, first.json(), "true")
    assert DrawSpin.objects.count() == 1


def test_a_spin_without_an_idempotency_key_is_refused(client, draw):
    response = client.post(f"/api/v1/draws/{draw.pk}/spin")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "idempotency_key_invalid"
    assert DrawSpin.objects.count() == 0


@pytest.mark.parametrize(
    ("arrange", "status", "code"),
    [
        ("unknown", 404, "not_found"),
        ("ended", 409, "draw_not_available"),
        ("limit", 409, "spin_limit_reached"),
        ("poor", 409, "insufficient_points"),
        ("tier", 403, "draw_not_eligible"),
        ("sold_out", 409, "draw_sold_out"),
    ],
)
def test_a_spin_that_cannot_happen_answers_its_error_and_writes_nothing(
    client, draw, member, now, arrange, status, code
):
    draw_id = draw.pk
    if arrange == "unknown":
        draw_id = 999_999
    elif arrange == "ended":
        draw.ends_at = now - timedelta(seconds=1)
        draw.starts_at = now - timedelta(days=1)
        draw.save()
    elif arrange == "limit":
        spin(client, draw, key="a")
        spin(client, draw, key="b")
    elif arrange == "poor":
        Member.objects.filter(pk=member.pk).update(points_balance=0)
    elif arrange == "tier":
        draw.tiers.add(TierFactory(code="GOLD"))
    elif arrange == "sold_out":
        draw.prizes.update(stock_remaining=0)
    spins_before = DrawSpin.objects.count()

    response = client.post(f"/api/v1/draws/{draw_id}/spin", HTTP_IDEMPOTENCY_KEY="new")

    assert response.status_code == status, response.json()
    assert response.json()["error"]["code"] == code
    assert DrawSpin.objects.count() == spins_before


def test_the_member_sees_only_their_own_spins(client, draw, member_client, give_points):
    spin(client, draw, key="a")
    other = MemberFactory()
    give_points(other, 500)
    other_client = member_client(other)
    spin(other_client, draw, key="a")
    spin(other_client, draw, key="b")

    mine = client.get("/api/v1/me/draws/spins").json()
    theirs = other_client.get("/api/v1/me/draws/spins").json()

    assert len(mine["results"]) == 1
    assert len(theirs["results"]) == 2
    assert not {s["id"] for s in mine["results"]} & {s["id"] for s in theirs["results"]}


def test_the_draw_endpoints_need_a_member_token(api_client, draw):
    assert api_client.get("/api/v1/draws").status_code == 401
    assert api_client.post(f"/api/v1/draws/{draw.pk}/spin", HTTP_IDEMPOTENCY_KEY="k").status_code == 401
    assert api_client.get("/api/v1/me/draws/spins").status_code == 401

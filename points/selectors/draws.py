"""Read queries of lucky draws shared by the member API and the console."""

from dataclasses import dataclass
from datetime import datetime, time, timedelta

from django.db.models import Count, Prefetch, Q, QuerySet
from django.utils import timezone

from members.models import Member
from points.models import DrawPrize, DrawSpin, LuckyDraw


def day_bounds(now: datetime) -> tuple[datetime, datetime]:
    """The start and end of `now`'s day in the program's time zone (a member's spins per day count within them)."""
    local = timezone.localtime(now)
    start = datetime.combine(local.date(), time.min, tzinfo=local.tzinfo)
    return start, start + timedelta(days=1)


@dataclass(frozen=True)
class PrizeChance:
    prize: DrawPrize
    in_stock: bool
    chance_percent: float


@dataclass(frozen=True)
class DrawForMember:
    draw: LuckyDraw
    prizes: list[PrizeChance]
    no_prize_percent: float
    spins_today: int
    spins_total: int


def draw_prize_chances(*, draw: LuckyDraw, prizes) -> tuple[list[PrizeChance], float]:
    """Each prize's chance now (its weight over the weights still in stock plus "no prize"), and no prize's."""
    total = sum(prize.weight for prize in prizes if prize.stock_remaining > 0) + draw.no_prize_weight
    percent = (lambda weight: round(100 * weight / total, 2)) if total else (lambda weight: 0.0)
    chances = [
        PrizeChance(prize=prize, in_stock=prize.stock_remaining > 0, chance_percent=percent(prize.weight))
        if prize.stock_remaining > 0
        else PrizeChance(prize=prize, in_stock=False, chance_percent=0.0)
        for prize in prizes
    ]
    return chances, percent(draw.no_prize_weight)


def draws_open_for_member(*, member: Member, now: datetime) -> list[DrawForMember]:
    """The draws a member may spin now (active, in their window, for their tier), with odds and spins used."""
    draws = list(
        LuckyDraw.objects.filter(is_active=True, starts_at__lte=now, ends_at__gt=now)
        .filter(Q(tiers__isnull=True) | Q(tiers=member.tier_id))
        .distinct()
        .prefetch_related(Prefetch("prizes", queryset=DrawPrize.objects.order_by("pk")))
        .order_by("ends_at", "pk")
    )
    start, end = day_bounds(now)
    counts = {
        row["draw_id"]: row
        for row in DrawSpin.objects.filter(member=member, draw_id__in=[draw.pk for draw in draws])
        .values("draw_id")
        .annotate(total=Count("pk"), today=Count("pk", filter=Q(created_at__gte=start, created_at__lt=end)))
    }
    result = []
    for draw in draws:
        chances, no_prize = draw_prize_chances(draw=draw, prizes=list(draw.prizes.all()))
        row = counts.get(draw.pk, {"total": 0, "today": 0})
        result.append(DrawForMember(draw, chances, no_prize, spins_today=row["today"], spins_total=row["total"]))
    return result


def member_draw_spins(*, member_id: int) -> QuerySet[DrawSpin]:
    """A member's own spins, newest first."""
    return (
        DrawSpin.objects.filter(member_id=member_id)
        .select_related("draw", "prize", "coupon", "prize_entry")
        .order_by("-pk")
    )

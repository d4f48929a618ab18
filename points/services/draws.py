"""Lucky draws: a spin costs points and draws a prize by weight, with `secrets`, over the prizes still in stock.

Lock order: the member row (members.services.locks.lock_member; it serialises one member's spins, so the spin
limits hold), then a prize row, taken by the conditional UPDATE of its stock. Nothing here reads the clock.

When the prize drawn runs out between the read of the stock and the conditional UPDATE (another member's spin
won the last one), it drops out and the spin draws again among what is left, with a fresh random number: the
member's odds are exactly those of a spin that started a moment later, when the prize was already gone. Both
attempts are recorded on the spin. Should every prize be gone by then (and the draw have no "no prize" share),
the spin is refused with `draw_sold_out` and nothing is written (the points debit rolls back).
A coupon prize whose offer can no longer issue (deactivated, ended, its own quota gone) drops out the same way:
its unit of stock is given back and the attempt records why.
"""

import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils.translation import gettext_lazy as _

from coupons.codes import generate_code, is_valid_code, normalize_code
from coupons.errors import CouponError
from coupons.models import Coupon
from coupons.services import coupon_template_issue_to_member
from infra.errors import InvalidInput, NotFound
from infra.translation import translations_of
from members.errors import IdempotencyKeyReused
from members.models import PointsEntry
from members.services.idempotency import idempotency_key_validate
from members.services.ledger import points_credit, points_debit
from members.services.locks import lock_member
from points.errors import (
    ClaimCodeInvalid,
    DrawNotAvailable,
    DrawNotForMember,
    DrawSoldOut,
    PointsSpendingNotAllowed,
    PrizeAlreadyCollected,
    SpinLimitReached,
)
from points.models import DrawPrize, DrawSpin, LuckyDraw, PointsPolicy
from points.selectors.draws import day_bounds

CLAIM_CODE_PREFIX = "D"
CLAIM_CODE_ATTEMPTS = 5

RandomBelow = Callable[[int], int]


@dataclass(frozen=True)
class SpinResult:
    spin: DrawSpin
    is_replay: bool


def ledger_key(*parts, client_key: str) -> str:
    """A ledger idempotency key from fixed parts and a client's key (hashed: it may be up to 100 characters)."""
    digest = hashlib.sha256(client_key.encode()).hexdigest()[:32]
    return ":".join([*map(str, parts), digest])


def draw_is_open(*, draw: LuckyDraw, now: datetime) -> bool:
    return draw.is_active and draw.starts_at <= now < draw.ends_at


@transaction.atomic
def draw_spin(
    *,
    member_id: int,
    draw_id: int,
    idempotency_key: str,
    now: datetime,
    random_below: RandomBelow = secrets.randbelow,
) -> SpinResult:
    """Spin a lucky draw once for a member: pay its points, draw a prize by weight, grant it, record it all.

    The same idempotency key again returns the first spin (`is_replay`). `random_below(n)` must return an integer
    in [0, n); it is `secrets.randbelow` except in tests.
    Raises InvalidInput (bad key), NotFound, IdempotencyKeyReused (the key was used on another draw),
    DrawNotAvailable, PointsSpendingNotAllowed, DrawNotForMember, SpinLimitReached, DrawSoldOut,
    InsufficientPoints (nothing is written then).
    """
    key = idempotency_key_validate(idempotency_key)
    draw = LuckyDraw.objects.filter(pk=draw_id).first()
    if draw is None:
        raise NotFound(_("No such lucky draw."))
    member = lock_member(member_id=member_id)
    existing = DrawSpin.objects.filter(member_id=member_id, idempotency_key=key).first()
    if existing is not None:
        if existing.draw_id != draw.pk:
            raise IdempotencyKeyReused.for_field("Idempotency-Key")
        return SpinResult(spin=existing, is_replay=True)

    if not draw_is_open(draw=draw, now=now):
        raise DrawNotAvailable()
    policy = PointsPolicy.load()
    if member.status not in policy.spending_statuses:
        raise PointsSpendingNotAllowed()
    tier_ids = set(draw.tiers.values_list("pk", flat=True))
    if tier_ids and member.tier_id not in tier_ids:
        raise DrawNotForMember()
    _check_limits(draw=draw, member_id=member_id, now=now)
    prizes = list(DrawPrize.objects.filter(draw=draw, stock_remaining__gt=0).order_by("pk"))
    if not prizes:
        raise DrawSoldOut()

    base_key = ledger_key("draw", draw.pk, member_id, client_key=key)
    spend_entry = points_debit(
        member_id=member_id,
        points=draw.points_per_spin,
        kind=PointsEntry.Kind.REDEMPTION,
        idempotency_key=f"{base_key}:spin",
        now=now,
        source=f"draw:{draw.pk}",
        reason=translations_of(draw, "name"),  # as it is now, shown in each reader's language
        breakdown={"draw_id": draw.pk},
    )
    prize, attempts, granted = _draw_prize(
        prizes=prizes,
        no_prize_weight=draw.no_prize_weight,
        random_below=random_below,
        grant=lambda prize: _grant(
            prize=prize, draw=draw, member_id=member_id, base_key=base_key, policy=policy, now=now
        ),
    )
    fields = {
        "draw": draw,
        "member_id": member_id,
        "prize": prize,
        "outcome": prize.kind if prize else DrawSpin.Outcome.NONE,
        "points_spent": draw.points_per_spin,
        "spend_entry": spend_entry,
        "random_number": attempts[-1]["random_number"],
        "weights": {"attempts": attempts},
        "idempotency_key": key,
        "created_at": now,
        **granted,
    }
    return SpinResult(spin=_spin_insert(fields), is_replay=False)


def _check_limits(*, draw: LuckyDraw, member_id: int, now: datetime) -> None:
    """Count the member's spins under their row lock (so two spins at once cannot both take the last one)."""
    spins = DrawSpin.objects.filter(draw=draw, member_id=member_id)
    if draw.total_spin_limit is not None and spins.count() >= draw.total_spin_limit:
        raise SpinLimitReached.for_field("spins", _("At most %(n)d spins in total.") % {"n": draw.total_spin_limit})
    if draw.daily_spin_limit is not None:
        start, end = day_bounds(now)
        if spins.filter(created_at__gte=start, created_at__lt=end).count() >= draw.daily_spin_limit:
            message = _("At most %(n)d spins a day.") % {"n": draw.daily_spin_limit}
            raise SpinLimitReached.for_field("spins", message)


class _OutOfStock(Exception):
    pass


def _draw_prize(*, prizes: list[DrawPrize], no_prize_weight: int, random_below: RandomBelow, grant):
    """Draw by weight among `prizes` and "no prize", take the prize's stock and grant it.

    Return (prize or None, attempts, the spin fields `grant` returned).
    """
    attempts = []
    candidates = list(prizes)
    while True:
        options = [(prize, prize.weight) for prize in candidates]
        if no_prize_weight:
            options.append((None, no_prize_weight))
        total = sum(weight for _option, weight in options)
        if total == 0:  # every prize went while we drew, and there is no "no prize" share
            raise DrawSoldOut()
        number = random_below(total)
        if not isinstance(number, int) or not 0 <= number < total:
            raise ValueError(f"random_below({total}) returned {number!r}")
        chosen = _option_at(options, number)
        attempts.append(
            {
                "options": [{"prize_id": option.pk if option else None, "weight": w} for option, w in options],
                "total": total,
                "random_number": number,
                "prize_id": chosen.pk if chosen else None,
            }
        )
        if chosen is None:
            return None, attempts, {}
        try:
            with transaction.atomic():  # a savepoint: a prize that cannot be granted gives its unit back
                taken = DrawPrize.objects.filter(pk=chosen.pk, stock_remaining__gt=0).update(
                    stock_remaining=F("stock_remaining") - 1
                )
                if not taken:
                    raise _OutOfStock()
                return chosen, attempts, grant(chosen)
        except _OutOfStock:
            attempts[-1]["out_of_stock"] = True
        except CouponError as error:
            attempts[-1]["unavailable"] = error.code
        candidates = [prize for prize in candidates if prize.pk != chosen.pk]


def _option_at(options, number: int):
    """The option whose cumulative weight range [start, start + weight) holds `number`."""
    start = 0
    for option, weight in options:
        if number < start + weight:
            return option
        start += weight
    raise ValueError(number)  # unreachable: number < total


def _grant(*, prize: DrawPrize, draw: LuckyDraw, member_id: int, base_key: str, policy, now: datetime) -> dict:
    if prize.kind == DrawPrize.Kind.POINTS:
        entry = points_credit(
            member_id=member_id,
            points=prize.points,
            kind=PointsEntry.Kind.ACCRUAL,
            idempotency_key=f"{base_key}:prize",
            now=now,
            expires_at=policy.expires_at_for(earned_at=now),
            source=f"draw:{draw.pk}",
            reason=translations_of(prize, "name"),
            breakdown={"draw_id": draw.pk, "prize_id": prize.pk},
        )
        return {"prize_entry": entry}
    if prize.kind == DrawPrize.Kind.COUPON:
        coupon = coupon_template_issue_to_member(
            template_id=prize.coupon_template_id,
            member_id=member_id,
            source=Coupon.Source.REWARD,
            now=now,
            issue_key=f"{base_key}:prize"[:100],
            enforce_member_limit=False,  # the member won it; the prize's stock is the limit
        )
        return {"coupon": coupon}
    return {}  # a gift collected in store: its claim code is drawn at insert time


def _spin_insert(fields: dict) -> DrawSpin:
    if fields["outcome"] != DrawSpin.Outcome.GIFT:
        return DrawSpin.objects.create(**fields)
    for _attempt in range(CLAIM_CODE_ATTEMPTS):
        fields["claim_code"] = generate_code(prefix=CLAIM_CODE_PREFIX)
        try:
            with transaction.atomic():
                return DrawSpin.objects.create(**fields)
        except IntegrityError:  # a claim code taken (about 1 in 10**14); the member lock rules out the key
            continue
    raise InvalidInput(_("Could not draw a free claim code; please try again."), code="claim_code_exhausted")


@transaction.atomic
def draw_prize_stock_set(*, prize_id: int, stock_total: int) -> DrawPrize:
    """Set a prize's stock: what was already won stays won, the rest is left in stock.

    Locks the prize row, so a spin taking a unit at the same time is counted. Raises NotFound, InvalidInput
    (the new stock is below what was already won).
    """
    prize = DrawPrize.objects.select_for_update().filter(pk=prize_id).first()
    if prize is None:
        raise NotFound()
    won = prize.stock_total - prize.stock_remaining
    if stock_total < won:
        message = _("%(won)d of this prize were already won: the stock cannot be lower.") % {"won": won}
        raise InvalidInput.for_field("stock_total", message)
    DrawPrize.objects.filter(pk=prize.pk).update(stock_total=stock_total, stock_remaining=stock_total - won)
    prize.refresh_from_db()
    return prize


def claim_code_normalize(claim_code: str, *, prefix: str) -> str:
    """Return a typed claim code in its stored form, or raise ClaimCodeInvalid (wrong kind, typo)."""
    code = normalize_code(claim_code)
    if not code.startswith(prefix) or not is_valid_code(code):
        raise ClaimCodeInvalid()
    return code


@transaction.atomic
def draw_gift_collect(*, claim_code: str, store_id: int, now: datetime) -> DrawSpin:
    """Hand over a gift won in a lucky draw: once, by a conditional UPDATE (two tills cannot both hand it over).

    Raises ClaimCodeInvalid, PrizeAlreadyCollected.
    """
    code = claim_code_normalize(claim_code, prefix=CLAIM_CODE_PREFIX)
    spins = DrawSpin.objects.filter(claim_code=code)
    mark_collected(spins, store_id=store_id, now=now)
    return spins.select_related("draw", "prize", "member").get()


def mark_collected(prizes, *, store_id: int, now: datetime) -> None:
    """Mark the prize of a claim code (`prizes`: the queryset of its one row) collected at `store_id`, once, by a
    conditional UPDATE. Raises PrizeAlreadyCollected, ClaimCodeInvalid (no such prize)."""
    if not prizes.filter(collected_at__isnull=True).update(collected_at=now, collected_store_id=store_id):
        if prizes.exists():
            raise PrizeAlreadyCollected()
        raise ClaimCodeInvalid()

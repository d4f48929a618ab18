"""Holds on a member's points and stored value: set aside for a checkout until its payment settles or releases it.

A hold moves no balance. It is a BalanceHold row plus the caches `Member.points_held` / `stored_value_held`,
moved with F() under the member lock (members.services.locks) like every ledger write, so a hold and a debit of
the same member serialise. Every debit that a member chooses (a till's spend, a mall redemption, an auction bid,
a draw, a stored-value payment, a removal by staff) may take only what is available: the balance minus what is
held. Claw-backs that may record a debt (refunds) and lot expiry ignore holds; a checkout whose held points went
that way finds them missing when it settles, and its payment is refunded (points.services.checkout_orders).
"""

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db import transaction
from django.db.models import DecimalField, F, OuterRef, Q, Subquery, Sum, Value
from django.db.models.functions import Coalesce

from members.errors import IdempotencyKeyReused, InsufficientPoints, InsufficientStoredValue
from members.models import BalanceHold, Member
from members.selectors.holds import points_available, stored_value_available
from members.services.locks import lock_member

Status = BalanceHold.Status
ZERO = Decimal("0.00")


@transaction.atomic
def balance_hold_place(
    *, member_id: int, points: int, stored_value_amount: Decimal, reference: str, expires_at: datetime, now: datetime
) -> BalanceHold:
    """Hold `points` and `stored_value_amount` of the member's available balances for `reference` until
    `expires_at`.

    Idempotent by reference: the same hold again returns the first one. Raises InsufficientPoints,
    InsufficientStoredValue (naming points_to_spend and stored_value_amount, the checkout's fields),
    IdempotencyKeyReused (the reference holds something else).
    """
    member = lock_member(member_id=member_id)
    existing = BalanceHold.objects.filter(reference=reference).first()
    if existing is not None:
        if (existing.member_id, existing.points, existing.stored_value_amount) != (
            member_id, points, stored_value_amount,
        ):  # fmt: skip
            raise IdempotencyKeyReused()
        return existing
    if points > points_available(member):
        raise InsufficientPoints.for_field("points_to_spend")
    if stored_value_amount > stored_value_available(member):
        raise InsufficientStoredValue.for_field("stored_value_amount")
    hold = BalanceHold.objects.create(
        member=member, points=points, stored_value_amount=stored_value_amount, reference=reference,
        created_at=now, expires_at=expires_at,
    )  # fmt: skip
    Member.objects.filter(pk=member.pk).update(
        points_held=F("points_held") + points, stored_value_held=F("stored_value_held") + stored_value_amount
    )
    return hold


@transaction.atomic
def balance_hold_close(*, hold_id: int, now: datetime, settled: bool = False) -> bool:
    """Close an active hold: released (given back to the available balance) or, with `settled`, spent by the
    purchase its checkout records in this same transaction. Return whether this call closed it; closing a closed
    hold does nothing (safe to run twice, from a job and a request at once)."""
    member_id = BalanceHold.objects.filter(pk=hold_id).values_list("member_id", flat=True).first()
    if member_id is None:
        return False
    lock_member(member_id=member_id)
    hold = BalanceHold.objects.filter(pk=hold_id, status=Status.ACTIVE).first()  # read again under the lock
    if hold is None:
        return False
    BalanceHold.objects.filter(pk=hold.pk).update(status=Status.SETTLED if settled else Status.RELEASED, closed_at=now)
    Member.objects.filter(pk=member_id).update(
        points_held=F("points_held") - hold.points, stored_value_held=F("stored_value_held") - hold.stored_value_amount
    )
    return True


@dataclass(frozen=True)
class HoldDrift:
    member_id: int
    points_held: int
    active_points_sum: int
    stored_value_held: Decimal
    active_stored_value_sum: Decimal


def balance_holds_drift(*, member_ids=None) -> list[HoldDrift]:
    """Return every member whose held caches disagree with the sums of their active holds (set-based)."""
    active = BalanceHold.objects.filter(member=OuterRef("pk"), status=Status.ACTIVE).values("member")
    money = DecimalField(max_digits=14, decimal_places=2)
    members = Member.objects.annotate(
        active_points=Coalesce(Subquery(active.annotate(total=Sum("points")).values("total")), 0),
        active_amount=Coalesce(
            Subquery(active.annotate(total=Sum("stored_value_amount")).values("total")), Value(ZERO), output_field=money
        ),
    ).filter(~Q(active_points=F("points_held")) | ~Q(active_amount=F("stored_value_held")))
    if member_ids is not None:
        members = members.filter(pk__in=member_ids)
    rows = members.order_by("pk").values_list(
        "pk", "points_held", "active_points", "stored_value_held", "active_amount"
    )
    return [HoldDrift(*row) for row in rows]

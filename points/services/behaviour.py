"""Behaviour bonuses: points for a try-on, a share, a completed profile or a photo upload, within caps."""

from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.utils.translation import gettext_lazy as _

from infra.errors import InvalidInput
from members.models import Member, PointsEntry
from members.services.ledger import points_credit
from members.services.locks import lock_member
from points.errors import BehaviourNotSelfReported, ProfileIncomplete, UnknownBehaviour
from points.models import EarningRule, PointsPolicy
from points.rules import behaviour_points
from points.selectors import earning_rules_active, member_facts_get, pos_member_resolve
from points.selectors.draws import day_bounds

Event = EarningRule.BehaviourEvent
# What a member's own client may report; a try-on is only believed from a store's till.
SELF_REPORTED = (Event.SHARE, Event.PHOTO_UPLOAD, Event.PROFILE_COMPLETED)
REQUIRED = _("This field is required.")


@dataclass(frozen=True)
class BehaviourReward:
    points: int
    entries: tuple[PointsEntry, ...]
    points_balance: int  # the member's balance once the points are granted


@transaction.atomic
def behaviour_reward(*, member_id: int, event: str, occurrence_key: str, now: datetime) -> BehaviourReward:
    """Grant the points the active behaviour rules give for one occurrence of `event`.

    Each rule counts its own grants to the member (per local day and ever) under the member lock, so caps
    hold under concurrency; `occurrence_key` makes a retried report return the first grant. A member whose
    status does not earn gets nothing. Raises UnknownBehaviour (no active rule for the event).
    """
    rules = [
        rule
        for rule in earning_rules_active(at=now, kinds=[EarningRule.Kind.BEHAVIOUR])
        if rule.behaviour_event == event
    ]
    if not rules:
        raise UnknownBehaviour()
    member = lock_member(member_id=member_id)
    policy = PointsPolicy.load()
    if member.status not in policy.earning_statuses:
        return BehaviourReward(points=0, entries=(), points_balance=member.points_balance)
    facts = member_facts_get(member=member)
    start, end = day_bounds(now)
    entries = []
    for rule in rules:
        source = f"behaviour:{rule.id}"
        key = f"{source}:{occurrence_key}"
        entry = PointsEntry.objects.filter(idempotency_key=key, member_id=member_id).first()
        if entry is None:
            granted = PointsEntry.objects.filter(member_id=member_id, source=source, delta__gt=0)
            points = behaviour_points(
                rule=rule,
                member=facts,
                at=now,
                times_today=granted.filter(created_at__gte=start, created_at__lt=end).count(),
                times_ever=granted.count(),
            )
            if not points:
                continue
            activates_at = policy.activates_at_for(earned_at=now)
            entry = points_credit(
                member_id=member_id,
                points=points,
                kind=PointsEntry.Kind.ACCRUAL,
                idempotency_key=key,
                now=now,
                activates_at=activates_at,
                expires_at=policy.expires_at_for(earned_at=activates_at),
                source=source,
                breakdown={
                    "total": points,
                    "rules": [{"rule_id": rule.id, "name": rule.label, "kind": rule.kind, "points": points}],
                },
            )
        entries.append(entry)
        if rule.stop_further_rules:
            break
    balance = Member.objects.filter(pk=member_id).values_list("points_balance", flat=True).get()
    return BehaviourReward(points=sum(entry.delta for entry in entries), entries=tuple(entries), points_balance=balance)


@transaction.atomic
def behaviour_reward_at_till(
    *,
    store_id: int,
    event: str,
    occurrence_id: str,
    now: datetime,
    card_code: str = "",
    member_number: str = "",
    phone: str = "",
) -> BehaviourReward:
    """behaviour_reward for what a store's till saw (a try-on) of the member it names by card code, member number
    or phone (points.selectors.pos_member_resolve, under the points policy); `occurrence_id` is the till's id for
    it, so a retry earns nothing more. Raises InvalidInput (no member named), pos_member_resolve's errors and
    behaviour_reward's."""
    member = pos_member_resolve(
        now=now, policy=PointsPolicy.load(), card_code=card_code, member_number=member_number, phone=phone
    )
    if member is None:
        raise InvalidInput.for_field("card_code", _("Identify the member by card code, member number or phone."))
    return behaviour_reward(
        member_id=member.pk,
        event=event,
        occurrence_key=f"store:{store_id}:member:{member.pk}:{occurrence_id.strip()}",
        now=now,
    )


@transaction.atomic
def behaviour_reward_self_reported(*, member_id: int, event: str, occurrence_id: str, now: datetime) -> BehaviourReward:
    """behaviour_reward for what the member's own client reports (SELF_REPORTED: a share, a photo upload, a completed
    profile); `occurrence_id` names the occurrence (a share ticket, a photo id), so the same one again earns nothing
    more. A completed profile earns once, needs no occurrence id, and only when the member's profile really is
    complete (checked under the member lock the grant takes). Raises BehaviourNotSelfReported (a try-on),
    ProfileIncomplete, InvalidInput (no occurrence id), NotFound and behaviour_reward's errors."""
    if event not in SELF_REPORTED:
        raise BehaviourNotSelfReported()
    if event == Event.PROFILE_COMPLETED:
        if not lock_member(member_id=member_id).profile_is_complete:
            raise ProfileIncomplete()
        occurrence = "once"
    else:
        occurrence = occurrence_id.strip()
        if not occurrence:
            raise InvalidInput.for_field("occurrence_id", REQUIRED)
    return behaviour_reward(
        member_id=member_id, event=event, occurrence_key=f"member:{member_id}:{occurrence}", now=now
    )

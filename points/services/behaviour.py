"""Behaviour bonuses: points for a try-on, a share, a completed profile or a photo upload, within caps."""

from dataclasses import dataclass
from datetime import datetime, time, timedelta

from django.db import transaction
from django.utils import timezone

from members.models import PointsEntry
from members.services.ledger import points_credit
from members.services.locks import lock_member
from points.errors import UnknownBehaviour
from points.models import EarningRule, PointsPolicy
from points.rules import behaviour_points
from points.selectors import earning_rules_active, member_facts_get


@dataclass(frozen=True)
class BehaviourReward:
    points: int
    entries: tuple[PointsEntry, ...]


def _day_bounds(now: datetime) -> tuple[datetime, datetime]:
    local = timezone.localtime(now)
    start = datetime.combine(local.date(), time.min, tzinfo=local.tzinfo)
    return start, start + timedelta(days=1)


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
        return BehaviourReward(points=0, entries=())
    facts = member_facts_get(member=member)
    start, end = _day_bounds(now)
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
    return BehaviourReward(points=sum(entry.delta for entry in entries), entries=tuple(entries))

"""Tier evaluation: the review per chunk of member ids; the instant upgrade after a purchase; overrides.

The review reads, for every active member of the chunk, the indicators over the rolling window (aggregates over
members_purchase and members_pointsentry), the tier score, and decides the target tier
(members.selectors.tiers.tier_decide):

- a score at or above a higher tier's score to reach moves the member up at once (several steps if earned);
- a score below the current tier's score to keep starts the grace period (`tier_below_keep_since`); once
  the grace period has passed, a review moves the member down one tier, and a new grace period starts
  if the score is still below the lower tier's score to keep;
- members whose tier was set by hand (`tier_override_until` in the future) are left alone;
- a member holding a tier for a period (a paid plan or a tier-granting top-up: a running
  MemberPlanSubscription) is never placed below that tier; while held there, no grace period runs. When the
  period ends, the normal rules apply from the next review on (the plan expiry job runs it for them at once).

Only rows that change are written, each guarded by the tier and grace state the review read, so a concurrent
instant upgrade after a purchase (which locks the member row) is never overwritten by a review computed from an
older snapshot: that member is skipped and reviewed again at the next review. The reference is the ORM
(`tier_review_orm`: five reads and a handful of grouped UPDATEs per chunk); on PostgreSQL one statement of
members/sql.py does the same in one round trip, with an equivalence test comparing the rows both write.
"""

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from django.db import transaction
from django.utils.translation import gettext_lazy as _

from infra.bulk_sql import set_based
from infra.db_session import chunk_transaction
from infra.translation import translations_of
from members import sql
from members.errors import TierOverrideInvalid, TierOverrideReasonRequired
from members.models import Member, Tier, TierHistory, TierPolicy
from members.models.tiers import TIER_EVALUATION_TASK_NAME, tier_thresholds_check
from members.selectors.tiers import tier_review_decisions
from members.services.locks import lock_member
from members.services.notifications import NotificationDraft, notify_many
from members.signals import send_after_commit, tier_changed

logger = logging.getLogger(__name__)

TIER_EVALUATION_TASK = "members.tasks.tier_evaluation_task"
DEFAULT_CHUNK_SIZE = 10_000
Reason = TierHistory.Reason


@dataclass
class TierEvaluationSummary:
    members_from_id: int | None = None
    members_to_id: int | None = None
    upgrades: int = 0
    downgrades: int = 0
    grace_changes: int = 0
    changes: list = field(default_factory=list, repr=False)


# -- the schedule ---------------------------------------------------------------------------------------------
def tier_schedule_sync(*, interval_hours: int, interval_model=None, task_model=None):
    """Create or update the django-celery-beat schedule of the tier evaluation (idempotent).

    The schedule lives in the database (never CELERY_BEAT_SCHEDULE), so console edits survive beat restarts.
    """
    from django_celery_beat.models import IntervalSchedule, PeriodicTask

    interval_model = interval_model or IntervalSchedule
    task_model = task_model or PeriodicTask
    interval, _created = interval_model.objects.get_or_create(every=interval_hours, period="hours")
    task, created = task_model.objects.get_or_create(
        name=TIER_EVALUATION_TASK_NAME,
        defaults={"task": TIER_EVALUATION_TASK, "interval": interval, "kwargs": "{}"},
    )
    if not created and (task.interval_id != interval.pk or task.task != TIER_EVALUATION_TASK):
        task.interval = interval
        task.task = TIER_EVALUATION_TASK
        task.save()  # save() (not update) so django-celery-beat tells the running beat
    return task


@transaction.atomic
def tier_policy_save(*, policy: TierPolicy) -> TierPolicy:
    """Validate and save the tier policy, and move the beat schedule to its interval.

    Raises ValidationError.
    """
    policy.full_clean()
    policy.save()
    tier_schedule_sync(interval_hours=policy.evaluation_interval_hours)
    return policy


# -- the review -----------------------------------------------------------------------------------------------
def tier_review_orm(*, policy, tiers, now, first_id, last_id, instant=False, member_ids=None) -> list[tuple]:
    """Review a chunk and write what changes (the portable reference of members.sql.tier_review_apply, same
    arguments and result): the members' new tier and grace state, and a TierHistory row per tier move. Returns the
    moves as (member id, old tier id, new tier id, reason) by member id.

    The rows to change are locked and written only if still as the review read them, so a concurrent instant
    upgrade (which locks the member row) is never overwritten from an older snapshot: that member waits for the
    next review. The writes are one UPDATE per (new tier, grace start), a handful per chunk.
    """
    decisions = tier_review_decisions(
        policy=policy, tiers=tiers, now=now, first_id=first_id, last_id=last_id, instant=instant,
        member_ids=member_ids,
    )  # fmt: skip
    changed = {decision.member_id: decision for decision in decisions if decision.changes}
    if not changed:
        return []
    current = (
        Member.objects.select_for_update()
        .filter(pk__in=list(changed))
        .order_by("pk")
        .values_list("pk", "tier_id", "tier_below_keep_since", "tier_override_until")
    )
    applied = [
        changed[member_id]
        for member_id, tier_id, since, override_until in current
        if (tier_id, since) == (changed[member_id].old_tier_id, changed[member_id].old_since)
        and (override_until is None or override_until <= now)
    ]
    groups = defaultdict(list)
    for decision in applied:
        groups[decision.new_tier_id, decision.new_since].append(decision.member_id)
    for (tier_id, since), member_ids_of_group in groups.items():
        Member.objects.filter(pk__in=member_ids_of_group).update(tier_id=tier_id, tier_below_keep_since=since)
    moves = [decision for decision in applied if decision.new_tier_id != decision.old_tier_id]
    TierHistory.objects.bulk_create(
        TierHistory(
            member_id=move.member_id,
            old_tier_id=move.old_tier_id,
            new_tier_id=move.new_tier_id,
            score=move.score,
            reason=move.reason,
            created_at=now,
        )  # fmt: skip
        for move in moves
    )
    return [(move.member_id, move.old_tier_id, move.new_tier_id, move.reason) for move in moves]


def _load(*, policy=None, tiers=None):
    policy = policy or TierPolicy.load()
    tiers = list(tiers) if tiers is not None else list(Tier.objects.order_by("rank"))
    return policy, tiers


def _evaluate_range(*, policy, tiers, first_id, last_id, now, instant, member_ids=None) -> list[tuple]:
    # On PostgreSQL one statement reviews and writes the chunk (members/sql.py; bench/tier_evaluation.py shows it
    # pays, tests/members/test_sql_equivalence.py that it writes the rows of the reference).
    review = sql.tier_review_apply if set_based() else tier_review_orm
    rows = review(
        policy=policy, tiers=tiers, now=now, first_id=first_id, last_id=last_id, instant=instant,
        member_ids=member_ids,
    )  # fmt: skip
    tier_changes_announce(changes=rows, now=now)
    return rows


def tier_changes_announce(*, changes: list[tuple[int, int | None, int, str]], now: datetime) -> None:
    """Tell each member who moved tier (an inbox notification, and the channels they consented to) and, after
    commit, the apps that react (the tier_changed signal). `changes`: (member id, old tier id, new tier id, reason).

    Written by the service that moves the tier, in its transaction: a move rolled back notifies nobody, and the
    dedupe key (member, new tier, time of the move) keeps a repeated review from notifying twice.
    """
    if not changes:
        return
    # In every language: each member is told in their own (members.services.notifications).
    new_tier_ids = {new for _member, _old, new, _reason in changes}
    names = {tier.pk: translations_of(tier, "name") for tier in Tier.objects.filter(pk__in=new_tier_ids)}
    stamp = now.strftime("%Y%m%dT%H%M%S.%f")
    notify_many(
        kind="tier_changed",
        drafts=[
            NotificationDraft(
                member_id=member_id,
                params={"tier": names[new_tier_id]},
                dedupe_key=f"tier:{member_id}:{new_tier_id}:{stamp}",
            )
            for member_id, _old, new_tier_id, _reason in changes
        ],
        now=now,
    )
    send_after_commit(
        tier_changed,
        changes=[
            {"member_id": member_id, "old_tier_id": old_tier_id, "new_tier_id": new_tier_id, "reason": reason}
            for member_id, old_tier_id, new_tier_id, reason in changes
        ],
    )


def thresholds_are_valid(tiers) -> bool:
    from django.core.exceptions import ValidationError

    try:
        tier_thresholds_check(tiers=tiers)
    except ValidationError:
        return False
    return bool(tiers)


def tier_evaluate_chunk(*, first_id: int, last_id: int, now: datetime) -> TierEvaluationSummary:
    """Re-evaluate the active members with first_id <= id <= last_id (one transaction, idempotent for one `now`).

    Does nothing when the tier thresholds are invalid (e.g. every tier still at 0 after an upgrade).
    """
    policy, tiers = _load()
    summary = TierEvaluationSummary(members_from_id=first_id, members_to_id=last_id)
    if not thresholds_are_valid(tiers):
        logger.warning("tier evaluation skipped: the tier thresholds are invalid")
        return summary
    # A chunk is ~10,000 members: compiling the review statement's many CASE expressions with JIT costs more than
    # it saves (measured: JIT took ~80% of a steady-state chunk's time).
    with chunk_transaction(jit=False):
        rows = _evaluate_range(
            policy=policy, tiers=tiers, first_id=first_id, last_id=last_id, now=now, instant=False
        )  # fmt: skip
    summary.upgrades = sum(1 for row in rows if row[3] == Reason.UPGRADE)
    summary.downgrades = sum(1 for row in rows if row[3] == Reason.DOWNGRADE)
    summary.changes = rows
    return summary


def tier_review_members(*, member_ids, now: datetime) -> list[tuple]:
    """Re-evaluate the given active members by the normal review rules (one statement for all of them).

    Returns the tier moves as (member id, old tier id, new tier id, reason). Does nothing when the tier
    thresholds are invalid.
    """
    member_ids = sorted(set(member_ids))
    policy, tiers = _load()
    if not member_ids or not thresholds_are_valid(tiers):
        return []
    with chunk_transaction(jit=len(member_ids) == 1):  # as a chunk (above); one member's is below JIT's threshold
        return _evaluate_range(
            policy=policy, tiers=tiers, first_id=member_ids[0], last_id=member_ids[-1], now=now, instant=False,
            member_ids=member_ids,
        )  # fmt: skip


def tier_evaluation_chunks(*, chunk_size: int = DEFAULT_CHUNK_SIZE) -> list[tuple[int, int]]:
    """Split the member ids into ranges of chunk_size ids (ids are dense enough; gaps only make chunks lighter)."""
    from django.db.models import Max, Min

    bounds = Member.objects.aggregate(low=Min("pk"), high=Max("pk"))
    if bounds["low"] is None:
        return []
    return [
        (start, min(start + chunk_size - 1, bounds["high"]))
        for start in range(bounds["low"], bounds["high"] + 1, chunk_size)
    ]


def tier_review_mark(*, now: datetime) -> None:
    """Record when the last review ran (the next review date shown to members is derived from it)."""
    TierPolicy.load()
    TierPolicy.objects.filter(pk=1).update(last_evaluated_at=now)


@transaction.atomic
def tier_evaluate_member(*, member_id: int, now: datetime, member_locked: bool = False) -> TierHistory | None:
    """Move a member up at once when their score reaches a higher tier (never down). Returns the history row.

    Locks the member row first, unless the caller's transaction already holds that lock (`member_locked`).
    """
    if not member_locked:
        lock_member(member_id=member_id)
    policy, tiers = _load()
    if not thresholds_are_valid(tiers):
        return None
    rows = _evaluate_range(policy=policy, tiers=tiers, first_id=member_id, last_id=member_id, now=now, instant=True)
    if not rows:
        return None
    return TierHistory.objects.filter(member_id=member_id).order_by("-pk").first()


@transaction.atomic
def tier_override_set(
    *, member_id: int, tier_id: int, until: datetime, reason: str, created_by, now: datetime
) -> TierHistory:
    """Set a member's tier by hand until `until` (reviews leave them alone until then); audited.

    Raises TierOverrideReasonRequired, TierOverrideInvalid, NotFound.
    """
    reason = (reason or "").strip()
    if not reason:
        raise TierOverrideReasonRequired.for_field("note")
    if until is None or until <= now:
        raise TierOverrideInvalid.for_field("override_until", _("Choose an end date in the future."))
    tier = Tier.objects.filter(pk=tier_id).first()
    if tier is None:
        raise TierOverrideInvalid.for_field("new_tier", _("Choose a tier."))
    member = lock_member(member_id=member_id)
    old_tier_id = member.tier_id
    Member.objects.filter(pk=member.pk).update(tier=tier, tier_override_until=until, tier_below_keep_since=None)
    entry = TierHistory.objects.create(
        member=member,
        old_tier_id=old_tier_id,
        new_tier=tier,
        reason=Reason.OVERRIDE,
        note=reason,
        override_until=until,
        created_by=created_by,
        created_at=now,
    )
    if old_tier_id != tier.pk:
        tier_changes_announce(changes=[(member.pk, old_tier_id, tier.pk, Reason.OVERRIDE)], now=now)
    return entry

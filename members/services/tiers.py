"""Tier evaluation: set-based in SQL, per chunk of member ids; the instant upgrade after a purchase; overrides.

One statement per chunk computes, for every active member of the chunk, the indicators over the rolling
window (aggregates over members_purchase and members_pointsentry), the tier score, and the target tier:

- a score at or above a higher tier's score to reach moves the member up at once (several steps if earned);
- a score below the current tier's score to keep starts the grace period (`tier_below_keep_since`); once
  the grace period has passed, a review moves the member down one tier, and a new grace period starts
  if the score is still below the lower tier's score to keep;
- members whose tier was set by hand (`tier_override_until` in the future) are left alone;
- a member holding a tier for a period (a paid plan or a tier-granting top-up: a running
  MemberPlanSubscription) is never placed below that tier; while held there, no grace period runs. When the
  period ends, the normal rules apply from the next review on (the plan expiry job runs it for them at once).

Only rows that change are written. On PostgreSQL the evaluation, the member UPDATE and the TierHistory
INSERT are one statement (data-modifying CTEs); elsewhere (SQLite) the changed rows are read and written
by a short loop. Either way each UPDATE is guarded by the tier and grace state the evaluation read, so a
concurrent instant upgrade after a purchase (which locks the member row) is never overwritten by an
evaluation computed from an older snapshot: that member is skipped and evaluated again at the next review.
"""

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import connection, transaction
from django.utils.translation import gettext_lazy as _

from infra.prepared import PreparedRead
from members.errors import TierOverrideInvalid, TierOverrideReasonRequired
from members.models import Member, MemberPlanSubscription, PointsEntry, Purchase, Tier, TierHistory, TierPolicy
from members.models.tiers import TIER_EVALUATION_TASK_NAME, tier_thresholds_check
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

    def add(self, other: "TierEvaluationSummary") -> None:
        self.upgrades += other.upgrades
        self.downgrades += other.downgrades
        self.grace_changes += other.grace_changes


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


# -- the evaluation statement ---------------------------------------------------------------------------------
def _number(value) -> str:
    """A numeric SQL literal for a value read from our own Decimal/int columns (never user text)."""
    return f"{Decimal(value):f}"


def _is_distinct(left: str, right: str) -> str:
    if connection.vendor == "postgresql":
        return f"{left} IS DISTINCT FROM {right}"
    return f"{left} IS NOT {right}"  # SQLite's null-safe comparison


def _is_same(left: str, right: str) -> str:
    if connection.vendor == "postgresql":
        return f"{left} IS NOT DISTINCT FROM {right}"
    return f"{left} IS {right}"


def _case(subject: str, pairs, *, default: str = "NULL") -> str:
    if not pairs:
        return default
    whens = " ".join(f"WHEN {when} THEN {then}" for when, then in pairs)
    return f"CASE {subject} {whens} ELSE {default} END" if subject else f"CASE {whens} ELSE {default} END"


def _evaluation_cte(*, policy, tiers, instant: bool, member_ids=None) -> tuple[str, dict]:
    """Return `WITH ... d AS (...)`: one row per active, not overridden member of the chunk, with its score,
    old and new tier, old and new start of the grace period, and the reason of a tier move.

    The chunk is first_id..last_id, or the given member ids (our own integers, inlined).
    Parameters: first_id, last_id, window_start, now, grace_cutoff, and the returned extra parameters.
    """
    ordered = sorted(tiers, key=lambda tier: tier.rank)
    weights = policy.weights()
    qn = connection.ops.quote_name
    purchase, entry, member = (qn(model._meta.db_table) for model in (Purchase, PointsEntry, Member))
    grant = qn(MemberPlanSubscription._meta.db_table)
    if member_ids is None:
        ids = "BETWEEN %(first_id)s AND %(last_id)s"
    else:
        ids = f"IN ({', '.join(str(int(member_id)) for member_id in member_ids) or 'NULL'})"
    extra = {}
    purchase_columns = [
        ("spend", "SUM(pu.paid_amount + pu.stored_value_amount)"),
        ("purchases", "COUNT(*)"),
        ("stores", "COUNT(DISTINCT pu.store_id)"),
    ]
    if weights["active_days"]:
        local_date, date_params = connection.ops.datetime_cast_date_sql("pu.purchased_at", (), settings.TIME_ZONE)
        for index, value in enumerate(date_params):  # positional %s -> named, to share one params dict
            local_date = local_date.replace("%s", f"%(date_param_{index})s", 1)
            extra[f"date_param_{index}"] = value
        purchase_columns.append(("active_days", f"COUNT(DISTINCT {local_date})"))
    purchase_columns = [(name, sql) for name, sql in purchase_columns if weights[name]]
    terms, ctes, joins = [], [], []
    if purchase_columns:
        ctes.append(
            f"p AS (SELECT pu.member_id, {', '.join(f'{sql} AS {name}' for name, sql in purchase_columns)} "
            f"FROM {purchase} pu WHERE pu.member_id {ids} "
            f"AND pu.purchased_at > %(window_start)s AND pu.purchased_at <= %(now)s AND pu.status <> 'refunded' "
            f"GROUP BY pu.member_id)"
        )
        joins.append("LEFT JOIN p ON p.member_id = m.id")
        terms += [f"COALESCE(p.{name}, 0) * {_number(weights[name])}" for name, _sql in purchase_columns]
    if weights["points"]:
        ctes.append(
            f"e AS (SELECT pe.member_id, SUM(pe.delta) AS points FROM {entry} pe "
            f"WHERE pe.member_id {ids} AND pe.kind = 'accrual' "
            f"AND pe.created_at > %(window_start)s AND pe.created_at <= %(now)s GROUP BY pe.member_id)"
        )
        joins.append("LEFT JOIN e ON e.member_id = m.id")
        terms.append(f"COALESCE(e.points, 0) * {_number(weights['points'])}")
    # The highest tier the member holds for a period (plan or top-up) running at the review time.
    rank_of_grant = _case("gs.tier_id", [(str(t.pk), str(t.rank)) for t in ordered], default="0")
    ctes.append(
        f"g AS (SELECT gs.member_id, MAX({rank_of_grant}) AS grant_rank FROM {grant} gs "
        f"WHERE gs.member_id {ids} AND gs.ends_at > %(now)s AND gs.starts_at <= %(now)s GROUP BY gs.member_id)"
    )
    joins.append("LEFT JOIN g ON g.member_id = m.id")
    score = f"ROUND({' + '.join(terms) or '0'}, 2)"
    ctes.append(
        f"s AS (SELECT m.id AS member_id, m.tier_id AS old_tier_id, m.tier_below_keep_since AS old_since, "
        f"{score} AS score, COALESCE(g.grant_rank, 0) AS grant_rank FROM {member} m {' '.join(joins)} "
        f"WHERE m.id {ids} AND m.status = 'active' "
        f"AND (m.tier_override_until IS NULL OR m.tier_override_until <= %(now)s))"
    )
    by_rank_desc = list(reversed(ordered))
    lower_of = list(zip(ordered[1:], ordered, strict=False))  # (tier, the tier one step below)
    reaches = [f"s.score >= {_number(t.min_score_to_reach)}" for t in by_rank_desc]
    reach_rank = _case("", [(when, str(t.rank)) for when, t in zip(reaches, by_rank_desc, strict=True)], default="0")
    reach_id = _case("", [(when, str(t.pk)) for when, t in zip(reaches, by_rank_desc, strict=True)])
    old_rank = _case("s.old_tier_id", [(str(t.pk), str(t.rank)) for t in ordered], default="0")
    keep = _case("s.old_tier_id", [(str(t.pk), _number(t.min_score_to_keep)) for t in ordered], default="0")
    lower_id = _case("s.old_tier_id", [(str(t.pk), str(lower.pk)) for t, lower in lower_of])
    lower_keep = _case(
        "s.old_tier_id", [(str(t.pk), _number(lower.min_score_to_keep)) for t, lower in lower_of], default="0"
    )
    grant_id = _case("s.grant_rank", [(str(t.rank), str(t.pk)) for t in ordered])
    ctes.append(
        f"r AS (SELECT s.*, {reach_rank} AS reach_rank, {reach_id} AS reach_tier_id, {old_rank} AS old_rank, "
        f"{keep} AS keep_score, {lower_id} AS lower_tier_id, {lower_keep} AS lower_keep_score, "
        f"{grant_id} AS grant_tier_id FROM s)"
    )
    since = "COALESCE(r.old_since, %(now)s)"
    if instant:
        new_tier = "CASE WHEN r.reach_rank > r.old_rank THEN r.reach_tier_id ELSE r.old_tier_id END"
        new_since = "CASE WHEN r.reach_rank > r.old_rank OR r.score >= r.keep_score THEN NULL ELSE r.old_since END"
        reason = f"'{Reason.PURCHASE_UPGRADE}'"
    else:
        stays = "r.old_tier_id IS NULL OR r.score >= r.keep_score OR r.lower_tier_id IS NULL"
        new_tier = (
            f"CASE WHEN r.reach_rank > r.old_rank THEN r.reach_tier_id WHEN {stays} THEN r.old_tier_id "
            f"WHEN {since} <= %(grace_cutoff)s THEN r.lower_tier_id ELSE r.old_tier_id END"
        )
        new_since = (
            f"CASE WHEN r.reach_rank > r.old_rank THEN NULL WHEN {stays} THEN NULL "
            f"WHEN {since} <= %(grace_cutoff)s THEN "
            f"(CASE WHEN r.score >= r.lower_keep_score THEN NULL ELSE %(now)s END) ELSE {since} END"
        )
        reason = f"CASE WHEN r.reach_rank > r.old_rank THEN '{Reason.UPGRADE}' ELSE '{Reason.DOWNGRADE}' END"
    ctes.append(
        f"t AS (SELECT r.member_id, r.old_tier_id, r.old_since, r.score, r.old_rank, r.grant_rank, "
        f"r.grant_tier_id, {new_tier} AS new_tier_id, {new_since} AS new_since, {reason} AS reason FROM r)"
    )
    # A running plan or top-up holds the member at its tier at least (and stops the grace clock there).
    new_rank = _case("t.new_tier_id", [(str(t.pk), str(t.rank)) for t in ordered], default="0")
    held = f"t.grant_rank > 0 AND t.grant_rank > {new_rank}"
    # Computed once, planned on its own: inlined into the UPDATE, PostgreSQL's estimate of the changed rows
    # falls to 1 and it re-runs the window aggregates in a nested loop for every member.
    materialized = "MATERIALIZED " if connection.vendor == "postgresql" else ""
    ctes.append(
        f"d AS {materialized}(SELECT t.member_id, t.old_tier_id, t.old_since, t.score, "
        f"CASE WHEN {held} THEN t.grant_tier_id ELSE t.new_tier_id END AS new_tier_id, "
        f"CASE WHEN {held} THEN NULL ELSE t.new_since END AS new_since, "
        f"CASE WHEN {held} AND t.grant_rank > t.old_rank THEN '{Reason.GRANT}' ELSE t.reason END AS reason FROM t)"
    )
    return "WITH " + ", ".join(ctes), extra


def _params(*, policy, now, first_id, last_id) -> dict:
    adapt = connection.ops.adapt_datetimefield_value
    return {
        "first_id": first_id,
        "last_id": last_id,
        "window_start": adapt(now - timedelta(days=policy.window_days)),
        "now": adapt(now),
        "grace_cutoff": adapt(now - timedelta(days=policy.grace_period_days)),
    }


def tier_evaluation_statement(
    *, policy, tiers, now, first_id, last_id, instant=False, member_ids=None
) -> tuple[str, dict]:
    """Return the evaluation CTE (ending with `d`) and its parameters, for selectors that read it (preview)."""
    cte, extra = _evaluation_cte(policy=policy, tiers=tiers, instant=instant, member_ids=member_ids)
    return cte, {**_params(policy=policy, now=now, first_id=first_id, last_id=last_id), **extra}


def _changed(alias: str = "d") -> str:
    return (
        f"{_is_distinct(f'{alias}.new_tier_id', f'{alias}.old_tier_id')} "
        f"OR {_is_distinct(f'{alias}.new_since', f'{alias}.old_since')}"
    )


def _apply_postgresql(*, cte, params, now, chunk: bool = True) -> list[tuple]:
    qn = connection.ops.quote_name
    member, history = qn(Member._meta.db_table), qn(TierHistory._meta.db_table)
    sql = (
        f"{cte}, c AS (SELECT * FROM d WHERE {_changed()}), "
        f"applied AS (UPDATE {member} m SET tier_id = c.new_tier_id, tier_below_keep_since = c.new_since "
        f"FROM c WHERE m.id = c.member_id AND m.tier_id IS NOT DISTINCT FROM c.old_tier_id "
        f"AND m.tier_below_keep_since IS NOT DISTINCT FROM c.old_since "
        f"AND (m.tier_override_until IS NULL OR m.tier_override_until <= %(now)s) "
        f"RETURNING c.member_id, c.old_tier_id, c.new_tier_id, c.score, c.reason) "
        f"INSERT INTO {history} (member_id, old_tier_id, new_tier_id, score, reason, note, created_at) "
        f"SELECT member_id, old_tier_id, new_tier_id, score, reason, '', %(now)s FROM applied "
        f"WHERE new_tier_id IS DISTINCT FROM old_tier_id "
        f"RETURNING member_id, old_tier_id, new_tier_id, reason"
    )
    with connection.cursor() as cursor:
        if chunk:
            # A chunk is ~10,000 rows: compiling the statement's many CASE expressions with JIT costs more than it
            # saves (measured: JIT took ~80% of a steady-state chunk's time). SET LOCAL ends with the transaction.
            # One member's evaluation costs far below JIT's threshold: no need for the extra round trip.
            cursor.execute("SET LOCAL jit = off")
        cursor.execute(sql, params)
        return cursor.fetchall()


def _apply_portable(*, cte, params, now) -> list[tuple]:
    """Read the changed rows, then write each with the same guard (SQLite and any other backend)."""
    qn = connection.ops.quote_name
    member = qn(Member._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"{cte} SELECT member_id, old_tier_id, new_tier_id, old_since, new_since, score, reason "
            f"FROM d WHERE {_changed()} ORDER BY member_id",
            params,
        )
        changed = cursor.fetchall()
        history, rows = [], []
        for member_id, old_tier_id, new_tier_id, old_since, new_since, score, reason in changed:
            cursor.execute(
                f"UPDATE {member} SET tier_id = %s, tier_below_keep_since = %s WHERE id = %s "
                f"AND {_is_same('tier_id', '%s')} AND {_is_same('tier_below_keep_since', '%s')} "
                f"AND (tier_override_until IS NULL OR tier_override_until <= %s)",
                [new_tier_id, new_since, member_id, old_tier_id, old_since, params["now"]],
            )
            if cursor.rowcount != 1 or new_tier_id == old_tier_id:
                continue
            history.append(
                TierHistory(
                    member_id=member_id,
                    old_tier_id=old_tier_id,
                    new_tier_id=new_tier_id,
                    score=Decimal(str(score)).quantize(Decimal("0.01")),
                    reason=reason,
                    created_at=now,
                )
            )
            rows.append((member_id, old_tier_id, new_tier_id, reason))
    TierHistory.objects.bulk_create(history)
    return rows


# The tiers, read by every purchase's instant tier evaluation: the SQL is compiled once per process.
_TIERS_BY_RANK = PreparedRead(lambda: Tier.objects.order_by("rank"))


def _load(*, policy=None, tiers=None):
    policy = policy or TierPolicy.load()
    tiers = list(tiers) if tiers is not None else _TIERS_BY_RANK.all()
    return policy, tiers


def _evaluate_range(*, policy, tiers, first_id, last_id, now, instant, member_ids=None) -> list[tuple]:
    cte, params = tier_evaluation_statement(
        policy=policy, tiers=tiers, now=now, first_id=first_id, last_id=last_id, instant=instant,
        member_ids=member_ids,
    )  # fmt: skip
    if connection.vendor == "postgresql":
        rows = _apply_postgresql(cte=cte, params=params, now=now, chunk=first_id != last_id)
    else:
        rows = _apply_portable(cte=cte, params=params, now=now)
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
    names = dict(Tier.objects.filter(pk__in={new for _member, _old, new, _reason in changes}).values_list("pk", "name"))
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
    for member_id, old_tier_id, new_tier_id, reason in changes:
        send_after_commit(
            tier_changed, member_id=member_id, old_tier_id=old_tier_id, new_tier_id=new_tier_id, reason=reason
        )


def thresholds_are_valid(tiers) -> bool:
    from django.core.exceptions import ValidationError

    try:
        tier_thresholds_check(tiers=tiers)
    except ValidationError:
        return False
    return bool(tiers)


@transaction.atomic
def tier_evaluate_chunk(*, first_id: int, last_id: int, now: datetime) -> TierEvaluationSummary:
    """Re-evaluate the active members with first_id <= id <= last_id (one transaction, idempotent for one `now`).

    Does nothing when the tier thresholds are invalid (e.g. every tier still at 0 after an upgrade).
    """
    policy, tiers = _load()
    summary = TierEvaluationSummary(members_from_id=first_id, members_to_id=last_id)
    if not thresholds_are_valid(tiers):
        logger.warning("tier evaluation skipped: the tier thresholds are invalid")
        return summary
    rows = _evaluate_range(policy=policy, tiers=tiers, first_id=first_id, last_id=last_id, now=now, instant=False)
    summary.upgrades = sum(1 for row in rows if row[3] == Reason.UPGRADE)
    summary.downgrades = sum(1 for row in rows if row[3] == Reason.DOWNGRADE)
    summary.changes = rows
    return summary


@transaction.atomic
def tier_review_members(*, member_ids, now: datetime) -> list[tuple]:
    """Re-evaluate the given active members by the normal review rules (one statement for all of them).

    Returns the tier moves as (member id, old tier id, new tier id, reason). Does nothing when the tier
    thresholds are invalid.
    """
    member_ids = sorted(set(member_ids))
    policy, tiers = _load()
    if not member_ids or not thresholds_are_valid(tiers):
        return []
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


def tier_evaluate_all(*, now: datetime, chunk_size: int = DEFAULT_CHUNK_SIZE) -> TierEvaluationSummary:
    """Re-evaluate every active member, chunk after chunk (the scheduled job fans the chunks out instead)."""
    summary = TierEvaluationSummary()
    for first_id, last_id in tier_evaluation_chunks(chunk_size=chunk_size):
        summary.add(tier_evaluate_chunk(first_id=first_id, last_id=last_id, now=now))
    tier_review_mark(now=now)
    return summary


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
        raise TierOverrideReasonRequired(fields={"note": [str(TierOverrideReasonRequired.message)]})
    if until is None or until <= now:
        raise TierOverrideInvalid(fields={"override_until": [str(_("Choose an end date in the future."))]})
    tier = Tier.objects.filter(pk=tier_id).first()
    if tier is None:
        raise TierOverrideInvalid(fields={"new_tier": [str(_("Choose a tier."))]})
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

"""Tier evaluation: indicators and score, reach/keep thresholds, grace period, one-step downgrades, overrides,
instant upgrades after a purchase, history rows and the tier_changed signal, threshold validation, preview."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django_celery_beat.models import PeriodicTask

from members.errors import TierOverrideInvalid, TierOverrideReasonRequired
from members.models import Member, PointsEntry, Purchase, TierHistory, TierPolicy
from members.models.tiers import TIER_EVALUATION_TASK_NAME
from members.selectors.tiers import member_indicators, tier_policy_preview, tier_score
from members.services.ledger import points_credit
from members.services.tiers import (
    tier_evaluate_chunk,
    tier_evaluate_member,
    tier_evaluation_chunks,
    tier_override_set,
    tier_policy_save,
)
from members.signals import tier_changed
from members.tasks import tier_evaluate_chunk_task, tier_evaluation_task
from tests.factories import MemberFactory, PurchaseFactory, StoreFactory, TierFactory, UserFactory, checkout_sale

pytestmark = pytest.mark.django_db


@pytest.fixture
def tiers():
    return {
        "V1": TierFactory(code="V1", name="Silver", rank=1),
        "V2": TierFactory(code="V2", name="Gold", rank=2, min_score_to_reach=1000, min_score_to_keep=800),
        "V3": TierFactory(code="V3", name="Diamond", rank=3, min_score_to_reach=5000, min_score_to_keep=4000),
    }


def member_with_spend(tier, spend, *, now, **fields):
    member = MemberFactory(tier=tier, **fields)
    if spend:
        PurchaseFactory(member=member, gross_amount=Decimal(spend), purchased_at=now - timedelta(days=10))
    return member


@pytest.fixture
def signals():
    received = []

    def receiver(sender, *, changes, **kwargs):
        received.extend(changes)

    tier_changed.connect(receiver)
    yield received
    tier_changed.disconnect(receiver)


# -- indicators and score -----------------------------------------------------------------------------------------
def test_score_weighs_every_indicator_over_the_window(review, tiers, now):
    # given a policy weighing all five indicators
    policy = TierPolicy.load()
    policy.weight_spend, policy.weight_purchases, policy.weight_points = Decimal(1), Decimal(10), Decimal("0.5")
    policy.weight_active_days, policy.weight_stores = Decimal(20), Decimal(100)
    policy.save()
    tiers["V2"].min_score_to_reach, tiers["V2"].min_score_to_keep = Decimal(600), Decimal(500)
    tiers["V2"].save()
    member = MemberFactory(tier=tiers["V1"])
    central, mongkok = StoreFactory(code="central"), StoreFactory(code="mongkok")
    PurchaseFactory(member=member, store=central, gross_amount=Decimal("100.00"), purchased_at=now - timedelta(days=3))
    PurchaseFactory(member=member, store=mongkok, gross_amount=Decimal("250.00"), purchased_at=now - timedelta(days=40))
    PurchaseFactory(member=member, gross_amount=Decimal("9000.00"), purchased_at=now - timedelta(days=400))
    PurchaseFactory(
        member=member, gross_amount=Decimal("7000.00"), purchased_at=now - timedelta(days=1),
        status=Purchase.Status.REFUNDED,
    )  # fmt: skip
    points_credit(member_id=member.pk, points=40, idempotency_key="earn", now=now - timedelta(days=2))

    # when
    indicators = member_indicators(member_id=member.pk, policy=policy, now=now)
    review(now=now)

    # then
    assert indicators == {"spend": Decimal("350.00"), "purchases": 2, "points": 40, "active_days": 2, "stores": 2}
    assert tier_score(indicators=indicators, policy=policy) == Decimal("630.00")
    history = TierHistory.objects.get(member=member)
    assert (history.old_tier, history.new_tier, history.score, history.reason) == (
        tiers["V1"], tiers["V2"], Decimal("630.00"), "upgrade",
    )  # fmt: skip


def test_spend_paid_with_stored_value_counts_but_points_value_does_not(tiers, now):
    member = MemberFactory(tier=tiers["V1"])
    PurchaseFactory(
        member=member, gross_amount=Decimal("1500.00"), points_value_amount=Decimal("600.00"),
        stored_value_amount=Decimal("300.00"), paid_amount=Decimal("600.00"), purchased_at=now - timedelta(hours=1),
    )  # fmt: skip

    indicators = member_indicators(member_id=member.pk, policy=TierPolicy.load(), now=now)

    assert indicators["spend"] == Decimal("900.00")


# -- reach and keep thresholds, grace, one step down --------------------------------------------------------------
@pytest.mark.parametrize(
    ("start", "spend", "expected"),
    [
        ("V1", 999, "V1"),
        ("V1", 1000, "V2"),
        ("V1", 6000, "V3"),  # an upgrade may skip tiers
        ("V2", 900, "V2"),  # between keep and reach: kept
        ("V3", 4000, "V3"),
    ],
)
def test_review_moves_up_to_the_highest_tier_reached_and_keeps_above_keep(review, tiers, now, start, spend, expected):
    member = member_with_spend(tiers[start], spend, now=now)

    review(now=now)

    member.refresh_from_db()
    assert member.tier == tiers[expected]
    assert member.tier_below_keep_since is None


def test_member_without_tier_gets_the_entry_tier(review, tiers, now):
    member = member_with_spend(None, 0, now=now)

    review(now=now)

    member.refresh_from_db()
    assert member.tier == tiers["V1"]


def test_falling_below_keep_starts_the_grace_period_without_moving(review, tiers, now):
    member = member_with_spend(tiers["V2"], 500, now=now)

    review(now=now)

    member.refresh_from_db()
    assert (member.tier, member.tier_below_keep_since) == (tiers["V2"], now)
    assert TierHistory.objects.count() == 0


def test_no_downgrade_before_the_grace_period_ends(review, tiers, now):
    member = member_with_spend(tiers["V3"], 0, now=now, tier_below_keep_since=now - timedelta(days=29))

    review(now=now)

    member.refresh_from_db()
    assert (member.tier, member.tier_below_keep_since) == (tiers["V3"], now - timedelta(days=29))


def test_after_the_grace_period_a_review_moves_down_one_step_and_restarts_grace(review, tiers, now):
    # given a Diamond member with no spend at all, below the score to keep for 31 days (grace: 30)
    member = member_with_spend(tiers["V3"], 0, now=now, tier_below_keep_since=now - timedelta(days=31))

    # when
    review(now=now)

    # then one step only (Gold, not Silver), and a new grace period starts because 0 < Gold's keep
    member.refresh_from_db()
    assert (member.tier, member.tier_below_keep_since) == (tiers["V2"], now)
    history = TierHistory.objects.get(member=member)
    assert (history.old_tier, history.new_tier, history.score, history.reason, history.created_at) == (
        tiers["V3"], tiers["V2"], Decimal("0.00"), "downgrade", now,
    )  # fmt: skip


def test_one_step_down_ends_grace_when_the_lower_tier_is_kept(review, tiers, now):
    member = member_with_spend(tiers["V3"], 850, now=now, tier_below_keep_since=now - timedelta(days=31))

    review(now=now)

    member.refresh_from_db()
    assert (member.tier, member.tier_below_keep_since) == (tiers["V2"], None)


def test_score_back_above_keep_clears_the_grace_period(review, tiers, now):
    member = member_with_spend(tiers["V2"], 850, now=now, tier_below_keep_since=now - timedelta(days=31))

    review(now=now)

    member.refresh_from_db()
    assert (member.tier, member.tier_below_keep_since) == (tiers["V2"], None)


def test_a_second_review_at_the_same_time_changes_nothing(review, tiers, now):
    member_with_spend(tiers["V1"], 1200, now=now)
    member_with_spend(tiers["V3"], 0, now=now, tier_below_keep_since=now - timedelta(days=40))
    review(now=now)

    review(now=now)

    assert TierHistory.objects.count() == 2


def test_visitors_and_frozen_members_are_not_evaluated(review, tiers, now):
    frozen = member_with_spend(tiers["V1"], 6000, now=now, status=Member.Status.FROZEN)

    review(now=now)

    frozen.refresh_from_db()
    assert frozen.tier == tiers["V1"]


def test_review_does_nothing_while_the_thresholds_are_invalid(review, now):
    # every tier at 0 (as right after the migration): a review must not move everyone to the top
    low = TierFactory(code="V1", rank=1)
    TierFactory(code="V2", rank=2)
    member = member_with_spend(low, 50, now=now)

    review(now=now)

    member.refresh_from_db()
    assert member.tier == low
    assert TierHistory.objects.count() == 0


def test_review_in_several_chunks_reaches_every_member(tiers, now):
    members = [member_with_spend(tiers["V1"], 1500, now=now) for _ in range(7)]

    for first_id, last_id in tier_evaluation_chunks(chunk_size=2):
        tier_evaluate_chunk_task(first_id=first_id, last_id=last_id, now=now.isoformat())

    assert TierHistory.objects.filter(reason="upgrade").count() == 7
    assert set(Member.objects.filter(pk__in=[m.pk for m in members]).values_list("tier__code", flat=True)) == {"V2"}


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)  # SET LOCAL lasts until the outermost commit: the chunk's own here
def test_a_chunk_reviews_with_jit_off_and_leaves_the_connection_as_it_was(tiers, now, monkeypatch):
    from django.db import connection

    from members import sql

    def show_jit():
        with connection.cursor() as cursor:
            cursor.execute("SHOW jit")
            return cursor.fetchone()[0]

    seen = []
    review = sql.tier_review_apply
    monkeypatch.setattr(sql, "tier_review_apply", lambda **kwargs: seen.append(show_jit()) or review(**kwargs))
    members = [member_with_spend(tiers["V1"], 1500, now=now) for _ in range(2)]
    before = show_jit()

    tier_evaluate_chunk(first_id=members[0].pk, last_id=members[1].pk, now=now)

    assert (seen, show_jit()) == (["off"], before)


# -- history rows and the signal after commit ---------------------------------------------------------------------
def test_tier_changed_is_sent_after_commit_only(tiers, now, signals, django_capture_on_commit_callbacks):
    member = member_with_spend(tiers["V1"], 1200, now=now)

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        tier_evaluate_chunk_task(first_id=member.pk, last_id=member.pk, now=now.isoformat())
    assert signals == []
    for callback in callbacks:
        callback()

    assert signals == [
        {"member_id": member.pk, "old_tier_id": tiers["V1"].pk,
         "new_tier_id": tiers["V2"].pk, "reason": "upgrade"},
    ]  # fmt: skip


def test_a_review_chunk_announces_all_its_moves_in_one_signal(tiers, now, django_capture_on_commit_callbacks):
    # a chunk moves thousands of members: the apps that react (webhooks, campaigns) read what they need once
    members = [member_with_spend(tiers["V1"], 1200, now=now) for _ in range(3)]
    sent = []

    def receiver(sender, *, changes, **kwargs):
        sent.append(changes)

    tier_changed.connect(receiver)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            tier_evaluate_chunk_task(first_id=members[0].pk, last_id=members[-1].pk, now=now.isoformat())
    finally:
        tier_changed.disconnect(receiver)

    [changes] = sent
    assert sorted(change["member_id"] for change in changes) == [member.pk for member in members]


# -- instant upgrade after a purchase -----------------------------------------------------------------------------
def test_a_purchase_crossing_a_threshold_upgrades_at_once(tiers, now, signals, django_capture_on_commit_callbacks):
    # given a Silver member with HK$900 in the window
    member = member_with_spend(tiers["V1"], 900, now=now)
    store = StoreFactory(code="central")

    # when a HK$200 purchase is recorded
    with django_capture_on_commit_callbacks(execute=True):
        checkout_sale(store=store, member=member, now=now, external_id="T-1", gross_amount=Decimal("200.00"))

    # then
    member.refresh_from_db()
    assert member.tier == tiers["V2"]
    history = TierHistory.objects.get(member=member)
    assert (history.old_tier, history.new_tier, history.score, history.reason) == (
        tiers["V1"], tiers["V2"], Decimal("1100.00"), "purchase_upgrade",
    )  # fmt: skip
    assert [(s["member_id"], s["new_tier_id"], s["reason"]) for s in signals] == [
        (member.pk, tiers["V2"].pk, "purchase_upgrade")
    ]


def test_instant_evaluation_never_downgrades_nor_starts_grace(tiers, now):
    member = member_with_spend(tiers["V3"], 10, now=now)

    history = tier_evaluate_member(member_id=member.pk, now=now)

    member.refresh_from_db()
    assert history is None
    assert (member.tier, member.tier_below_keep_since) == (tiers["V3"], None)


# -- manual override ----------------------------------------------------------------------------------------------
def test_override_sets_the_tier_with_an_audit_entry_and_reviews_leave_it(review, tiers, now):
    staff = UserFactory()
    member = member_with_spend(tiers["V1"], 0, now=now)

    entry = tier_override_set(
        member_id=member.pk, tier_id=tiers["V3"].pk, until=now + timedelta(days=90), reason="VIP event guest",
        created_by=staff, now=now,
    )  # fmt: skip
    review(now=now + timedelta(days=31))

    member.refresh_from_db()
    assert (member.tier, member.tier_override_until) == (tiers["V3"], now + timedelta(days=90))
    assert (entry.old_tier, entry.new_tier, entry.reason, entry.note, entry.created_by) == (
        tiers["V1"], tiers["V3"], "override", "VIP event guest", staff,
    )  # fmt: skip
    assert TierHistory.objects.count() == 1


def test_after_the_override_ends_the_usual_grace_applies(review, tiers, now):
    member = member_with_spend(tiers["V1"], 0, now=now)
    tier_override_set(
        member_id=member.pk, tier_id=tiers["V3"].pk, until=now + timedelta(days=1), reason="Complaint goodwill",
        created_by=UserFactory(), now=now,
    )  # fmt: skip

    later = now + timedelta(days=2)
    review(now=later)

    member.refresh_from_db()
    assert (member.tier, member.tier_below_keep_since) == (tiers["V3"], later)


@pytest.mark.parametrize("reason", ["", "   "])
def test_override_without_a_reason_is_refused_and_writes_nothing(tiers, now, reason):
    member = member_with_spend(tiers["V1"], 0, now=now)

    with pytest.raises(TierOverrideReasonRequired) as error:
        tier_override_set(
            member_id=member.pk, tier_id=tiers["V3"].pk, until=now + timedelta(days=9), reason=reason,
            created_by=UserFactory(), now=now,
        )  # fmt: skip

    assert error.value.code == "reason_required"
    member.refresh_from_db()
    assert (member.tier, member.tier_override_until, TierHistory.objects.count()) == (tiers["V1"], None, 0)


def test_override_ending_in_the_past_is_refused(tiers, now):
    member = member_with_spend(tiers["V1"], 0, now=now)

    with pytest.raises(TierOverrideInvalid) as error:
        tier_override_set(
            member_id=member.pk, tier_id=tiers["V3"].pk, until=now, reason="why", created_by=None, now=now
        )

    assert error.value.code == "tier_override_invalid"
    assert TierHistory.objects.count() == 0


# -- threshold validation -----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("reach", "keep", "message"),
    [
        (900, 800, "V2: the score to reach (900.00) must be higher than V1's (1000.00)."),
        (6000, 6500, "V2: the score to keep (6500.00) must not exceed the score to reach (6000.00)."),
        (6000, 500, "V2: the score to keep (500.00) must be higher than V1's (800.00)."),
        (6000, 900, "V2: the score to keep (900.00) overlaps V1: it must be at least V1's score to reach (1000.00)."),
    ],
)
def test_thresholds_that_are_not_monotonic_or_overlap_are_refused_naming_the_tier(reach, keep, message):
    TierFactory(code="V1", rank=1, min_score_to_reach=Decimal("1000.00"), min_score_to_keep=Decimal("800.00"))
    tier = TierFactory.build(
        code="V2", name="Gold", rank=2, min_score_to_reach=Decimal(reach).quantize(Decimal("0.01")),
        min_score_to_keep=Decimal(keep).quantize(Decimal("0.01")),
    )  # fmt: skip

    with pytest.raises(ValidationError) as error:
        tier.full_clean()

    assert message in error.value.messages


def test_a_policy_without_any_weight_is_refused():
    policy = TierPolicy.load()
    policy.weight_spend = Decimal(0)

    with pytest.raises(ValidationError) as error:
        tier_policy_save(policy=policy)

    assert error.value.messages == ["Give at least one indicator a weight above zero."]


# -- schedule and job ---------------------------------------------------------------------------------------------
def test_the_review_is_a_beat_schedule_of_72_hours_that_follows_the_policy():
    task = PeriodicTask.objects.get(name=TIER_EVALUATION_TASK_NAME)
    assert (task.task, task.interval.every, task.interval.period) == ("members.tasks.tier_evaluation_task", 72, "hours")

    policy = TierPolicy.load()
    policy.evaluation_interval_hours = 24
    tier_policy_save(policy=policy)
    tier_policy_save(policy=policy)

    task = PeriodicTask.objects.get(name=TIER_EVALUATION_TASK_NAME)
    assert (PeriodicTask.objects.filter(name=TIER_EVALUATION_TASK_NAME).count(), task.interval.every) == (1, 24)


def test_the_scheduled_task_reviews_everyone_and_records_the_review(tiers, django_capture_on_commit_callbacks):
    from django.utils import timezone

    member = member_with_spend(tiers["V1"], 1200, now=timezone.now())

    with django_capture_on_commit_callbacks(execute=True):
        chunks = tier_evaluation_task()

    member.refresh_from_db()
    assert (chunks, member.tier) == (1, tiers["V2"])
    assert TierPolicy.load().last_evaluated_at is not None


# -- preview ------------------------------------------------------------------------------------------------------
def test_preview_counts_members_moving_per_tier_without_writing(review, tiers, now):
    member_with_spend(tiers["V1"], 1200, now=now)
    member_with_spend(tiers["V1"], 100, now=now)
    member_with_spend(tiers["V2"], 900, now=now)
    member_with_spend(tiers["V3"], 0, now=now, tier_below_keep_since=now - timedelta(days=60))
    member_with_spend(tiers["V3"], 3000, now=now)
    tiers["V2"].min_score_to_keep = Decimal(950)  # a stricter keep, not saved yet

    rows = tier_policy_preview(now=now, tiers=tiers.values())

    assert [(r.tier.code, r.members, r.up, r.down, r.stay, r.grace) for r in rows] == [
        ("V1", 2, 1, 0, 1, 0),
        ("V2", 1, 0, 0, 1, 1),
        ("V3", 2, 0, 1, 1, 1),
    ]
    assert TierHistory.objects.count() == 0
    assert Member.objects.filter(tier_below_keep_since__isnull=False).count() == 1


def test_points_earned_count_only_accruals(tiers, now):
    member = MemberFactory(tier=tiers["V1"])
    points_credit(member_id=member.pk, points=30, idempotency_key="a", now=now, kind=PointsEntry.Kind.ADDITION)
    points_credit(member_id=member.pk, points=20, idempotency_key="b", now=now)

    assert member_indicators(member_id=member.pk, policy=TierPolicy.load(), now=now)["points"] == 20

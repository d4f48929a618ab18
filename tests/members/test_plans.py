"""Paid membership plans and tier periods: purchase, replay, payment id reuse, renewal, the tier held by the review
while a plan runs and dropped after it by the normal rules, the expiry job, tier-granting top-ups, the schedule."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django_celery_beat.models import PeriodicTask

from members.errors import MemberNotActive, PaymentAlreadyUsed, PlanUnavailable
from members.models import Member, MemberPlanSubscription, TierHistory, TierPolicy
from members.models.plans import PLAN_EXPIRY_TASK_NAME, add_duration
from members.services.plans import plan_purchase, plans_expire
from members.services.stored_value import stored_value_top_up
from members.tasks import plans_expire_task
from tests.factories import MemberFactory, MembershipPlanFactory, PurchaseFactory, TierFactory, TopUpOfferFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def tiers():
    return {
        "V1": TierFactory(code="V1", name="Silver", rank=1),
        "V2": TierFactory(code="V2", name="Gold", rank=2, min_score_to_reach=1000, min_score_to_keep=800),
        "V3": TierFactory(code="V3", name="Diamond", rank=3, min_score_to_reach=5000, min_score_to_keep=4000),
    }


@pytest.fixture
def gold_plan(tiers):
    return MembershipPlanFactory(name="Gold 30 days", tier=tiers["V2"], price=Decimal("388.00"), duration_value=30)


@pytest.fixture
def no_grace():
    policy = TierPolicy.load()
    policy.grace_period_days = 0
    policy.save()
    return policy


def buy(member, plan, now, transaction_id="wx-1", provider="wechat_pay_hk"):
    return plan_purchase(
        member_id=member.pk, plan_id=plan.pk, provider=provider, transaction_id=transaction_id, now=now
    )


def tier_code(member):
    member.refresh_from_db()
    return member.tier.code if member.tier_id else None


# -- purchase, replay, payment reuse ------------------------------------------------------------------------------
def test_a_purchase_records_the_period_and_raises_the_tier_at_once(tiers, gold_plan, now):
    # given a Silver member
    member = MemberFactory(tier=tiers["V1"])

    # when they buy the Gold plan
    result = buy(member, gold_plan, now)

    # then a 30-day Gold period starts now, and the tier history says why they are Gold
    subscription = result.subscription
    assert result.is_replay is False
    assert (subscription.source, subscription.plan_id, subscription.tier_id, subscription.price) == (
        "plan", gold_plan.pk, tiers["V2"].pk, Decimal("388.00"),
    )  # fmt: skip
    assert (subscription.starts_at, subscription.ends_at) == (now, now + timedelta(days=30))
    assert (subscription.provider, subscription.transaction_id) == ("wechat_pay_hk", "wx-1")
    assert tier_code(member) == "V2"
    history = list(TierHistory.objects.values_list("old_tier__code", "new_tier__code", "reason", "note"))
    assert history == [("V1", "V2", "grant", "Membership plan: Gold 30 days")]


def test_a_replayed_payment_returns_the_first_subscription_and_writes_nothing(tiers, gold_plan, now):
    member = MemberFactory(tier=tiers["V1"])
    first = buy(member, gold_plan, now)

    replay = buy(member, gold_plan, now + timedelta(minutes=5))

    assert (replay.is_replay, replay.subscription.pk) == (True, first.subscription.pk)
    assert replay.subscription.ends_at == now + timedelta(days=30)
    assert MemberPlanSubscription.objects.count() == 1
    assert TierHistory.objects.count() == 1


@pytest.mark.parametrize("other", ["member", "plan"])
def test_a_payment_id_reused_for_another_member_or_plan_is_refused(tiers, gold_plan, now, other):
    # given a payment already recorded for a member's Gold plan
    member = MemberFactory(tier=tiers["V1"])
    buy(member, gold_plan, now)
    other_member = MemberFactory(tier=tiers["V1"]) if other == "member" else member
    other_plan = MembershipPlanFactory(tier=tiers["V3"]) if other == "plan" else gold_plan

    # when the same payment id is used again for another member or plan
    with pytest.raises(PaymentAlreadyUsed) as refused:
        buy(other_member, other_plan, now)

    # then it is refused and nothing is written
    assert refused.value.code == "payment_already_used"
    assert MemberPlanSubscription.objects.count() == 1
    assert TierHistory.objects.count() == 1


def test_a_top_up_payment_id_cannot_buy_a_plan(tiers, gold_plan, now):
    member = MemberFactory(tier=tiers["V1"])
    offer = TopUpOfferFactory()
    stored_value_top_up(member_id=member.pk, offer_id=offer.pk, provider="payme", transaction_id="pm-9", now=now)

    with pytest.raises(PaymentAlreadyUsed):
        buy(member, gold_plan, now, provider="payme", transaction_id="pm-9")

    assert MemberPlanSubscription.objects.count() == 0
    assert tier_code(member) == "V1"


@pytest.mark.parametrize("state", ["unknown", "inactive", "sale_over", "sale_not_started"])
def test_a_plan_not_on_sale_is_refused(tiers, now, state):
    member = MemberFactory(tier=tiers["V1"])
    plan = MembershipPlanFactory(
        tier=tiers["V2"],
        is_active=state != "inactive",
        sale_ends_at=now if state == "sale_over" else None,
        sale_starts_at=now + timedelta(days=1) if state == "sale_not_started" else None,
    )
    plan_id = plan.pk + 100 if state == "unknown" else plan.pk

    with pytest.raises(PlanUnavailable) as refused:
        plan_purchase(member_id=member.pk, plan_id=plan_id, provider="fps", transaction_id="f-1", now=now)

    assert (refused.value.code, refused.value.status) == ("plan_unavailable", 404)
    assert MemberPlanSubscription.objects.count() == 0


def test_a_visitor_cannot_buy_a_plan(gold_plan, now):
    visitor = MemberFactory(status=Member.Status.VISITOR, phone=None)

    with pytest.raises(MemberNotActive):
        buy(visitor, gold_plan, now)

    assert MemberPlanSubscription.objects.count() == 0


# -- renewal ------------------------------------------------------------------------------------------------------
def test_a_renewal_while_the_plan_runs_extends_from_its_end(tiers, gold_plan, now):
    member = MemberFactory(tier=tiers["V1"])
    first = buy(member, gold_plan, now).subscription

    renewal = buy(member, gold_plan, now + timedelta(days=10), transaction_id="wx-2").subscription

    assert (renewal.starts_at, renewal.ends_at) == (first.ends_at, first.ends_at + timedelta(days=30))
    assert TierHistory.objects.count() == 1  # already Gold: the renewal moves nothing


def test_a_purchase_after_the_plan_ended_starts_now(tiers, gold_plan, now):
    member = MemberFactory(tier=tiers["V1"])
    buy(member, gold_plan, now)
    later = now + timedelta(days=45)

    again = buy(member, gold_plan, later, transaction_id="wx-2").subscription

    assert (again.starts_at, again.ends_at) == (later, later + timedelta(days=30))


@pytest.mark.parametrize(
    ("start", "months", "end"),
    [
        (datetime(2027, 1, 31, 4, 0, tzinfo=UTC), 1, datetime(2027, 2, 28, 4, 0, tzinfo=UTC)),
        (datetime(2028, 1, 31, 4, 0, tzinfo=UTC), 1, datetime(2028, 2, 29, 4, 0, tzinfo=UTC)),
        (datetime(2027, 3, 15, 4, 0, tzinfo=UTC), 12, datetime(2028, 3, 15, 4, 0, tzinfo=UTC)),
        (datetime(2027, 11, 30, 4, 0, tzinfo=UTC), 3, datetime(2028, 2, 29, 4, 0, tzinfo=UTC)),
    ],
)
def test_months_are_calendar_months_clamped_to_the_month_end(start, months, end):
    assert add_duration(start, value=months, unit="months") == end


# -- the tier review holds the plan's tier, then the normal rules apply --------------------------------------------
def test_the_review_never_places_a_member_below_a_running_plan(review, tiers, gold_plan, now, no_grace):
    # given a member with no spend who bought Gold
    member = MemberFactory(tier=tiers["V1"])
    buy(member, gold_plan, now)

    # when the scheduled review runs 10 days later (no grace period at all)
    review(now=now + timedelta(days=10))

    # then they stay Gold, with no grace period running and no new history
    member.refresh_from_db()
    assert (member.tier.code, member.tier_below_keep_since) == ("V2", None)
    assert TierHistory.objects.count() == 1


def test_the_tier_drops_through_the_review_once_the_plan_ended(tiers, gold_plan, now, no_grace):
    member = MemberFactory(tier=tiers["V1"])
    buy(member, gold_plan, now)

    summary = plans_expire(now=now + timedelta(days=30))

    assert (summary.subscriptions, summary.members) == (1, 1)
    assert tier_code(member) == "V1"
    history = list(TierHistory.objects.order_by("pk").values_list("old_tier__code", "new_tier__code", "reason"))
    assert history == [("V1", "V2", "grant"), ("V2", "V1", "downgrade")]


def test_after_the_plan_the_grace_period_runs_before_the_drop(review, tiers, gold_plan, now):
    # given the default 30-day grace period and an ended Gold plan
    member = MemberFactory(tier=tiers["V1"])
    buy(member, gold_plan, now)
    ended = now + timedelta(days=30)

    # when the expiry job runs, then reviews 29 and 31 days later
    plans_expire(now=ended)
    after_expiry = (tier_code(member), member.tier_below_keep_since)
    review(now=ended + timedelta(days=29))
    before_grace_end = tier_code(member)
    review(now=ended + timedelta(days=31))

    # then the grace period starts at the end of the plan and the member drops one tier after it
    assert after_expiry == ("V2", ended)
    assert before_grace_end == "V2"
    assert tier_code(member) == "V1"


def test_a_member_who_earned_a_higher_tier_keeps_it_and_the_plan_changes_nothing(review, tiers, gold_plan, now):
    member = MemberFactory(tier=tiers["V3"])
    PurchaseFactory(member=member, gross_amount=Decimal("6000.00"), purchased_at=now - timedelta(days=3))

    buy(member, gold_plan, now)
    review(now=now + timedelta(days=1))

    assert tier_code(member) == "V3"
    assert TierHistory.objects.count() == 0


def test_a_plan_bought_during_a_manual_override_is_applied_by_the_review_after_it(review, tiers, gold_plan, now):
    member = MemberFactory(tier=tiers["V1"])
    Member.objects.filter(pk=member.pk).update(tier_override_until=now + timedelta(days=5))

    buy(member, gold_plan, now)
    during = tier_code(member)
    review(now=now + timedelta(days=6))

    assert (during, tier_code(member)) == ("V1", "V2")
    last = TierHistory.objects.order_by("-pk").values_list("old_tier__code", "new_tier__code", "reason").first()
    assert last == ("V1", "V2", "grant")


def test_the_expiry_job_is_idempotent(tiers, gold_plan, now, no_grace):
    member = MemberFactory(tier=tiers["V1"])
    buy(member, gold_plan, now)
    ended = now + timedelta(days=31)

    first = plans_expire(now=ended)
    second = plans_expire(now=ended)
    third = plans_expire(now=ended + timedelta(hours=1))

    assert (first.subscriptions, len(first.tier_moves)) == (1, 1)
    assert (second.subscriptions, second.members, second.tier_moves) == (0, 0, [])
    assert third.subscriptions == 0
    assert TierHistory.objects.filter(reason="downgrade").count() == 1
    assert MemberPlanSubscription.objects.get().expiry_processed_at == ended


def test_the_expiry_job_leaves_running_periods_alone(tiers, gold_plan, now, no_grace):
    member = MemberFactory(tier=tiers["V1"])
    buy(member, gold_plan, now)
    buy(member, gold_plan, now + timedelta(days=1), transaction_id="wx-2")  # renewed: Gold until day 60

    summary = plans_expire(now=now + timedelta(days=31))

    assert (summary.subscriptions, summary.tier_moves) == (1, [])
    assert tier_code(member) == "V2"


def test_the_expiry_task_runs_the_job(tiers, gold_plan, no_grace):
    member = MemberFactory(tier=tiers["V1"])
    from django.utils import timezone

    buy(member, gold_plan, timezone.now() - timedelta(days=31))

    assert plans_expire_task.delay().get() == {"subscriptions": 1, "members": 1, "tier_moves": 1}
    assert tier_code(member) == "V1"


# -- top-ups that grant a tier ------------------------------------------------------------------------------------
def test_a_tier_granting_top_up_holds_the_tier_for_its_period(tiers, now):
    # given an offer "pay HK$3,000, Gold for 3 months"
    member = MemberFactory(tier=tiers["V1"])
    offer = TopUpOfferFactory(name="Gold top-up", pay_amount=Decimal("3000.00"), tier=tiers["V2"],
                              tier_duration_value=3, tier_duration_unit="months")  # fmt: skip

    # when the member tops up, and the payment is replayed
    result = stored_value_top_up(member_id=member.pk, offer_id=offer.pk, provider="fps", transaction_id="f-1", now=now)
    replay = stored_value_top_up(member_id=member.pk, offer_id=offer.pk, provider="fps", transaction_id="f-1", now=now)

    # then one Gold period runs for 3 months, recorded once
    grant = result.tier_grant
    assert (grant.source, grant.plan_id, grant.stored_value_entry_id, grant.tier_id) == (
        "top_up", None, result.top_up.pk, tiers["V2"].pk,
    )  # fmt: skip
    assert (grant.starts_at, grant.ends_at) == (now, add_duration(now, value=3, unit="months"))
    assert replay.tier_grant.pk == grant.pk
    assert MemberPlanSubscription.objects.count() == 1
    assert tier_code(member) == "V2"
    assert list(TierHistory.objects.values_list("reason", "note")) == [("grant", "Top-up: Gold top-up")]


def test_a_plan_payment_id_cannot_be_used_for_a_top_up(tiers, gold_plan, now):
    member = MemberFactory(tier=tiers["V1"])
    buy(member, gold_plan, now, provider="fps", transaction_id="f-1")

    with pytest.raises(PaymentAlreadyUsed):
        stored_value_top_up(
            member_id=member.pk, offer_id=TopUpOfferFactory().pk, provider="fps", transaction_id="f-1", now=now
        )

    member.refresh_from_db()
    assert member.stored_value_balance == Decimal("0.00")


# -- the schedule -------------------------------------------------------------------------------------------------
def test_the_migration_schedules_the_expiry_job_hourly():
    task = PeriodicTask.objects.get(name=PLAN_EXPIRY_TASK_NAME)
    assert (task.task, task.interval.every, task.interval.period) == ("members.tasks.plans_expire_task", 1, "hours")

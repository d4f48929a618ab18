"""Paid membership plans and tier periods: buying a plan (idempotent on the payment), granting a tier for a
period (plans and tier-granting top-ups share it), and the expiry job.

A period of a tier is a MemberPlanSubscription row. While one runs, the member's tier is at least its tier:
the grant raises the tier at once (TierHistory reason "grant"), and the tier review (members/services/
tiers.py) never places the member below it. When it ends, `plans_expire` re-reviews the member by the
normal rules (grace period, one step at a time), so a drop is recorded in the tier history like any other.

The payment happens outside this system; (provider, transaction id) identifies it, unique in the database.
"""

from dataclasses import dataclass, field
from datetime import datetime

from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from infra.errors import InvalidInput
from members.errors import MemberNotActive, PlanUnavailable
from members.models import (
    Member,
    MemberPlanSubscription,
    MembershipPlan,
    PaymentUse,
    StoredValueEntry,
    Tier,
    TierHistory,
)
from members.models.plans import add_duration
from members.services.locks import lock_member
from members.services.payments import payment_already_used, payment_use_record, wechat_payment_confirm
from members.services.tiers import tier_changes_announce, tier_review_members

EXPIRY_CHUNK_SIZE = 1000
Source = MemberPlanSubscription.Source


@dataclass(frozen=True)
class PlanPurchaseResult:
    subscription: MemberPlanSubscription
    is_replay: bool


@dataclass
class PlanExpirySummary:
    subscriptions: int = 0
    members: int = 0
    tier_moves: list = field(default_factory=list)


def payment_reference_clean(provider: str, transaction_id: str) -> tuple[str, str]:
    """The (provider, transaction id) of a payment, stripped; InvalidInput naming each one left blank."""
    provider, transaction_id = (provider or "").strip(), (transaction_id or "").strip()
    if not provider or not transaction_id:
        missing = [name for name, value in (("provider", provider), ("transaction_id", transaction_id)) if not value]
        raise InvalidInput.for_fields(missing, _("This field is required."))
    return provider, transaction_id


def _hold_tier(*, member: Member, tier: Tier, now: datetime, note: str) -> TierHistory | None:
    """Raise the (locked) member to `tier` at once when it is higher; a tier set by hand stays until its end."""
    if member.tier_override_until is not None and member.tier_override_until > now:
        return None
    current_rank = member.tier.rank if member.tier_id else 0
    if tier.rank < current_rank:
        return None
    if tier.rank == current_rank:
        # Held at this tier from now on: the grace clock stops, as the review would do.
        Member.objects.filter(pk=member.pk).update(tier_below_keep_since=None)
        return None
    old_tier_id = member.tier_id
    Member.objects.filter(pk=member.pk).update(tier=tier, tier_below_keep_since=None)
    member.tier, member.tier_below_keep_since = tier, None
    entry = TierHistory.objects.create(
        member=member, old_tier_id=old_tier_id, new_tier=tier, reason=TierHistory.Reason.GRANT, note=note[:255],
        created_at=now,
    )  # fmt: skip
    tier_changes_announce(changes=[(member.pk, old_tier_id, tier.pk, TierHistory.Reason.GRANT)], now=now)
    return entry


def tier_period_grant(
    *,
    member: Member,
    tier: Tier,
    duration_value: int,
    duration_unit: str,
    provider: str,
    transaction_id: str,
    now: datetime,
    plan: MembershipPlan | None = None,
    stored_value_entry: StoredValueEntry | None = None,
    price=None,
    note: str = "",
) -> MemberPlanSubscription:
    """Give a member (locked by the caller, inside its transaction) `tier` for a period.

    A renewal of a tier the member already holds, or has bought ahead, starts where the latest period of that
    tier ends; otherwise the period starts now. Raises PaymentAlreadyUsed (the payment id is taken).
    """
    latest_end = MemberPlanSubscription.objects.filter(member=member, tier=tier, ends_at__gt=now).aggregate(
        end=Max("ends_at")
    )["end"]
    starts_at = latest_end or now
    subscription = MemberPlanSubscription(
        member=member,
        source=Source.PLAN if plan is not None else Source.TOP_UP,
        plan=plan,
        stored_value_entry=stored_value_entry,
        tier=tier,
        price=price if price is not None else 0,
        starts_at=starts_at,
        ends_at=add_duration(starts_at, value=duration_value, unit=duration_unit),
        provider=provider,
        transaction_id=transaction_id,
        created_at=now,
    )
    subscription.full_clean(validate_unique=False, validate_constraints=False)
    try:
        with transaction.atomic():
            subscription.save(force_insert=True)
    except IntegrityError as exc:
        # A backstop: the caller recorded the payment's one use (payment_use_record) before granting.
        raise payment_already_used() from exc
    if starts_at <= now:
        _hold_tier(member=member, tier=tier, now=now, note=note)
    return subscription


@transaction.atomic
def plan_purchase(
    *, member_id: int, plan_id: int, provider: str, transaction_id: str, now: datetime
) -> PlanPurchaseResult:
    """Record a paid membership plan and hold its tier for its duration (a renewal extends the current period).

    Replaying the same payment for the same member and plan returns the first subscription and writes nothing.
    Raises InvalidInput (empty provider or transaction id), PaymentAlreadyUsed (the payment was recorded for
    another member, plan or top-up), MemberNotActive, PlanUnavailable, NotFound (no such member).
    """
    provider, transaction_id = payment_reference_clean(provider, transaction_id)
    member = lock_member(member_id=member_id)
    first = MemberPlanSubscription.objects.filter(provider=provider, transaction_id=transaction_id).first()
    if first is not None:
        if first.member_id != member_id or first.plan_id != plan_id:
            raise payment_already_used()
        return PlanPurchaseResult(subscription=first, is_replay=True)
    payment_use_record(
        provider=provider, transaction_id=transaction_id, member_id=member_id, purpose=PaymentUse.Purpose.PLAN, now=now
    )
    if member.status != Member.Status.ACTIVE:
        raise MemberNotActive()
    plan = MembershipPlan.objects.on_sale(now=now).select_related("tier").filter(pk=plan_id).first()
    if plan is None:
        raise PlanUnavailable.for_field("plan")
    subscription = tier_period_grant(
        member=member, tier=plan.tier, duration_value=plan.duration_value, duration_unit=plan.duration_unit,
        provider=provider, transaction_id=transaction_id, now=now, plan=plan, price=plan.price,
        note=gettext("Membership plan: %(plan)s") % {"plan": plan.name},
    )  # fmt: skip
    return PlanPurchaseResult(subscription=subscription, is_replay=False)


def plan_purchase_by_member(
    *, member_id: int, plan_id: int, provider: str, transaction_id: str, now: datetime
) -> PlanPurchaseResult:
    """plan_purchase for the member's own request: the payment (`transaction_id`, the WeChat Pay order number)
    must first be confirmed by WeChat Pay as this member's, for the plan's price. A replay of a recorded
    payment answers without asking again. Raises plan_purchase's errors, PaymentNotConfirmed,
    PaymentAmountMismatch, PaymentProviderUnavailable.
    """
    provider, transaction_id = payment_reference_clean(provider, transaction_id)
    recorded = MemberPlanSubscription.objects.filter(provider=provider, transaction_id=transaction_id).exists()
    if not recorded:
        plan = MembershipPlan.objects.on_sale(now=now).filter(pk=plan_id).first()
        if plan is None:
            raise PlanUnavailable.for_field("plan")
        wechat_payment_confirm(
            member_id=member_id, out_trade_no=transaction_id, field="transaction_id", amount=plan.price
        )
    return plan_purchase(
        member_id=member_id, plan_id=plan_id, provider=provider, transaction_id=transaction_id, now=now
    )


def plans_expire(*, now: datetime, chunk_size: int = EXPIRY_CHUNK_SIZE) -> PlanExpirySummary:
    """Re-review, by the normal tier rules, the members whose plan or top-up period ended by `now`.

    Each ended period is processed once (marked in the same transaction as the review of its member), so the
    job is safe to run twice or in parallel (rows locked by another run are skipped).
    """
    summary = PlanExpirySummary()
    while True:
        with transaction.atomic():
            ended = list(
                MemberPlanSubscription.objects.select_for_update(skip_locked=True)
                .filter(expiry_processed_at__isnull=True, ends_at__lte=now)
                .order_by("pk")
                .values_list("pk", "member_id")[:chunk_size]
            )
            if not ended:
                return summary
            member_ids = sorted({member_id for _pk, member_id in ended})
            summary.tier_moves += tier_review_members(member_ids=member_ids, now=now)
            MemberPlanSubscription.objects.filter(pk__in=[pk for pk, _member_id in ended]).update(
                expiry_processed_at=now
            )
        summary.subscriptions += len(ended)
        summary.members += len(member_ids)

"""Paid membership plan reads for the member's API."""

from datetime import datetime

from django.db.models import QuerySet

from members.models import MemberPlanSubscription, MembershipPlan

MEMBER_PLAN_PERIODS_SHOWN = 200


def plans_on_sale(*, now: datetime) -> QuerySet:
    """The membership plans on sale at `now`, in their display order, with their tier."""
    return MembershipPlan.objects.on_sale(now=now).select_related("tier").order_by("sort_order", "price", "pk")


def plan_subscriptions_of_member(*, member_id: int) -> QuerySet:
    """The member's plan and tier periods (bought plans and tier-granting top-ups), newest first: the latest 200."""
    return (
        MemberPlanSubscription.objects.filter(member_id=member_id)
        .select_related("plan", "tier")
        .order_by("-starts_at", "-pk")[:MEMBER_PLAN_PERIODS_SHOWN]
    )

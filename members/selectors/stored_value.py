"""Stored-value reads for the member's API, the console and reports."""

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db.models import Count, Q, QuerySet, Sum
from django.db.models.functions import Coalesce

from members.models import Member, StoredValueEntry, TopUpOffer


@dataclass(frozen=True)
class Outstanding:
    total: Decimal
    members: int


def stored_value_outstanding(*, members=None) -> Outstanding:
    """The stored value members hold and may still spend: a liability of the merchant (one query)."""
    members = Member.objects.all() if members is None else members
    totals = members.aggregate(
        total=Coalesce(Sum("stored_value_balance"), Decimal("0.00")),
        members=Count("pk", filter=Q(stored_value_balance__gt=0)),
    )
    return Outstanding(total=totals["total"], members=totals["members"])


def stored_value_entries_of_member(*, member_id: int) -> QuerySet:
    """The member's stored-value ledger (unordered: infra.api.NewestFirstPages orders it)."""
    return StoredValueEntry.objects.filter(member_id=member_id)


def top_up_offers_available(*, now: datetime) -> QuerySet:
    """The top-up offers available at `now`, in their display order, with the tier they grant."""
    return TopUpOffer.objects.available(now=now).select_related("tier").order_by("sort_order", "pay_amount", "pk")

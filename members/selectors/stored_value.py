"""Stored-value reads for the console and reports."""

from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Count, Q, Sum
from django.db.models.functions import Coalesce

from members.models import Member


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

"""Reads of segments: their members at a moment (one query), a count and a sample, and the members of a freeze."""

import datetime

from django.db.models import QuerySet

from campaigns.models import Segment, SegmentFreeze, SegmentMember
from campaigns.segments.compiler import rule_q
from infra.db_session import chunk_transaction
from members.models import Member

SAMPLE_SIZE = 10


def jit_off():
    """Return a transaction without PostgreSQL's JIT compiler (infra.db_session; elsewhere a plain transaction).

    A segment's correlated subqueries make the planner's cost estimate huge, which switches JIT on: compiling
    took 1.2-1.6 s of a 3-4 s count over a million members (bench/segment_count.py), for a query run once.
    """
    return chunk_transaction(jit=False)


def segment_members(*, rule: dict, now: datetime.datetime, store_id: int | None = None, user=None) -> QuerySet:
    """Return the active members `rule` selects at `now`: of `store_id` when given, within `user`'s store scope.

    The rule must be valid (campaigns.segments.schema.rule_errors). One query; nothing is evaluated in Python.
    """
    members = Member.objects.active().filter(rule_q(rule, now=now))
    if store_id is not None:
        members = members.filter(home_store_id=store_id)
    if user is not None:
        members = members.for_staff(user)
    return members


def segment_members_of(*, segment: Segment, now: datetime.datetime, user=None) -> QuerySet:
    """Return a saved segment's members at `now` (see segment_members)."""
    return segment_members(rule=segment.rule, now=now, store_id=segment.store_id, user=user)


def segment_preview(*, rule: dict, now: datetime.datetime, store_id: int | None = None, user=None) -> dict:
    """Return {"count": members, "sample": the newest SAMPLE_SIZE members} for the console's editor."""
    members = segment_members(rule=rule, now=now, store_id=store_id, user=user)
    sample = (
        members.select_related("tier", "home_store")
        .order_by("-pk")
        .only("pk", "member_number", "name", "tier__name", "home_store__code", "last_purchase_at")[:SAMPLE_SIZE]
    )
    with jit_off():
        count = members.count()
        sample = list(sample)
    return {
        "count": count,
        "sample": [
            {
                "id": member.pk,
                "member_number": member.member_number,
                "name": member.name,
                "tier": member.tier.name if member.tier else "",
                "home_store": member.home_store.code if member.home_store else "",
                "last_purchase_at": member.last_purchase_at.isoformat() if member.last_purchase_at else None,
            }
            for member in sample
        ],
    }


def freeze_member_ids(*, freeze: SegmentFreeze) -> QuerySet:
    """Return the ids of a freeze's members, ascending."""
    return SegmentMember.objects.filter(freeze=freeze).order_by("member_id").values_list("member_id", flat=True)

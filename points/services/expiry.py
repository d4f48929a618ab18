"""Scheduled ledger work: release pending points whose time has come, expire lots whose time has passed.

Release walks the due lots in primary-key chunks and hands each lot to its ledger writer. Expiry is
set-based and fans out (infra.fanout): it splits the members that hold due lots into ranges of member ids and
sends one chunk task per range; a chunk, one transaction, lets `points_expire_due_lots` lock its members and
expire all their due lots. Chunks hold disjoint members, so with a broker they run side by side on every worker
without waiting on each other; on the eager default they run here one after another. Either job run twice, a
duplicated chunk, or two overlapping runs, change nothing after the first (a lot emptied by expiry is never due
again, its entry's key `expire:<lot>` is unique, and the member locks serialise overlapping chunks), so expiry
needs no claim rows.
"""

from datetime import datetime

from infra.db_session import chunk_transaction
from infra.fanout import fan_out
from members.models import PointsLot
from members.services.ledger import points_activate_lot, points_expire_due_lots

CHUNK_SIZE = 500
EXPIRY_MEMBERS_PER_CHUNK = 5000


def _due_lot_ids(queryset, *, chunk_size: int):
    last_pk = 0
    while True:
        ids = list(queryset.filter(pk__gt=last_pk).order_by("pk").values_list("pk", flat=True)[:chunk_size])
        if not ids:
            return
        yield from ids
        last_pk = ids[-1]


def points_release_pending(*, now: datetime, chunk_size: int = CHUNK_SIZE) -> int:
    """Make every pending lot whose activation time has passed available; return how many were released."""
    due = PointsLot.objects.filter(is_active=False, activates_at__lte=now)
    return sum(
        points_activate_lot(lot_id=lot_id, now=now) is not None for lot_id in _due_lot_ids(due, chunk_size=chunk_size)
    )


def members_with_due_lots(*, now: datetime, chunk_size: int = EXPIRY_MEMBERS_PER_CHUNK):
    """Yield lists of ids of members holding available lots past their expiry, in ascending chunks."""
    due = PointsLot.objects.filter(is_active=True, remaining__gt=0, expires_at__lte=now)
    last_id = 0
    while True:
        ids = list(
            due.filter(member_id__gt=last_id)
            .order_by("member_id")
            .values_list("member_id", flat=True)
            .distinct()[:chunk_size]
        )
        if not ids:
            return
        yield ids
        last_id = ids[-1]


def points_expire_due(*, now: datetime, chunk_size: int = EXPIRY_MEMBERS_PER_CHUNK) -> int:
    """Fan the expiry of every available lot past its expiry out in chunk tasks; return how many were sent.

    Each chunk covers up to `chunk_size` members holding due lots (a range of their ids) and is one
    transaction, so a long run holds each member's lock only briefly. A run that fails part-way keeps the
    chunks committed; the next run expires the rest.
    """
    from points.tasks import expire_points_chunk

    stamp = now.isoformat()
    return fan_out(
        expire_points_chunk,
        (
            {"first_id": ids[0], "last_id": ids[-1], "now": stamp}
            for ids in members_with_due_lots(now=now, chunk_size=chunk_size)
        ),
    )


def points_expire_chunk(*, first_id: int, last_id: int, now: datetime) -> int:
    """Expire the due lots of the members first_id <= id <= last_id in one transaction; return how many lots.

    The chunk is redone whole if lost (nothing is written twice), so its commit need not wait for the disk;
    its one statement is cheaper uncompiled and sorts in memory (infra.db_session).
    """
    member_ids = list(
        PointsLot.objects.filter(
            is_active=True, remaining__gt=0, expires_at__lte=now, member_id__gte=first_id, member_id__lte=last_id
        )
        .order_by("member_id")
        .values_list("member_id", flat=True)
        .distinct()
    )
    with chunk_transaction(durable=False, jit=False, work_mem="64MB"):
        return points_expire_due_lots(now=now, member_ids=member_ids)

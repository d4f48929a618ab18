"""Scheduled ledger work: release pending points whose time has come, expire lots whose time has passed.

Release walks the due lots in primary-key chunks and hands each lot to its ledger writer. Expiry is
set-based: it walks the members that hold due lots in primary-key chunks and, one transaction per chunk,
lets `points_expire_due_lots` lock them and expire all their due lots in one statement. On PostgreSQL the
chunks run on POINTS_EXPIRY_CONNECTIONS connections side by side (chunks hold disjoint members, so they never
wait on each other). Either job run twice, or two overlapping runs, changes nothing after the first (a lot
emptied by expiry is never due again; the member locks serialise overlapping runs).
"""

from datetime import datetime

from django.conf import settings

from members.models import PointsLot
from members.parallel import run_chunks
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


def expiry_connections() -> int:
    return max(int(getattr(settings, "POINTS_EXPIRY_CONNECTIONS", 2)), 1)


def points_expire_due(
    *, now: datetime, chunk_size: int = EXPIRY_MEMBERS_PER_CHUNK, connections: int | None = None
) -> int:
    """Expire what every available lot past its expiry has left (one entry per lot); return how many lots.

    One transaction per chunk of members, so a long run holds each member's lock only briefly; `connections`
    (default POINTS_EXPIRY_CONNECTIONS) chunks at a time on PostgreSQL. A run that fails part-way keeps the
    chunks it committed; the next run expires the rest.
    """
    return sum(
        run_chunks(
            members_with_due_lots(now=now, chunk_size=chunk_size),
            lambda ids: points_expire_due_lots(now=now, member_ids=ids),
            count=connections or expiry_connections(),
        )
    )

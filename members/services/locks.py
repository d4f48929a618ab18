"""Row-lock helpers: one place, so every writer locks in the same order (by primary key)."""

from infra.errors import NotFound
from infra.prepared import PreparedRead
from members.models import Member

# Every write to a member's points, stored value or tier takes this lock: its SQL is compiled once per process.
_MEMBER_FOR_UPDATE = PreparedRead(
    lambda member_id: Member.objects.select_for_update().filter(pk=member_id), member_id=int
)


def lock_member(*, member_id):
    """Lock one member row for the rest of the transaction and return it."""
    member = _MEMBER_FOR_UPDATE.one(member_id=member_id)
    if member is None:
        raise NotFound()
    return member


def lock_members(*, member_ids):
    """Lock several member rows in primary-key order (so two writers never deadlock)."""
    return list(Member.objects.select_for_update().filter(pk__in=member_ids).order_by("pk"))

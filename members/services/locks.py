"""Row-lock helpers: one place, so every writer locks in the same order (by primary key)."""

from infra.errors import NotFound
from members.models import Member


def lock_member(*, member_id):
    """Lock one member row for the rest of the transaction and return it."""
    member = Member.objects.select_for_update().filter(pk=member_id).first()
    if member is None:
        raise NotFound()
    return member


def lock_members(*, member_ids):
    """Lock several member rows in primary-key order (so two writers never deadlock)."""
    return list(Member.objects.select_for_update().filter(pk__in=member_ids).order_by("pk"))

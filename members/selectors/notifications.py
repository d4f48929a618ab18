"""Inbox reads shared by the API and the console: a member's notifications, newest first, and the unread count."""

from dataclasses import dataclass

from django.db.models import QuerySet

from members.models import Notification


def member_inbox(*, member_id: int) -> QuerySet[Notification]:
    """Return the member's own notifications (order them by -pk: the index behind the inbox)."""
    return Notification.objects.filter(member_id=member_id)


def member_unread_count(*, member_id: int) -> int:
    return Notification.objects.filter(member_id=member_id, read_at__isnull=True).count()


@dataclass(frozen=True)
class MemberInbox:
    notifications: QuerySet[Notification]
    unread_count: int


def member_inbox_with_unread_count(*, member_id: int) -> MemberInbox:
    """The inbox as the member's API shows it: their notifications (member_inbox, for the caller to page) and the
    number still unread in the whole inbox (member_unread_count)."""
    return MemberInbox(
        notifications=member_inbox(member_id=member_id), unread_count=member_unread_count(member_id=member_id)
    )

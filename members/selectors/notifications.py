"""Inbox reads shared by the API and the console: a member's notifications, newest first, and the unread count."""

from django.db.models import QuerySet

from members.models import Notification


def member_inbox(*, member_id: int) -> QuerySet[Notification]:
    """Return the member's own notifications (order them by -pk: the index behind the inbox)."""
    return Notification.objects.filter(member_id=member_id)


def member_unread_count(*, member_id: int) -> int:
    return Notification.objects.filter(member_id=member_id, read_at__isnull=True).count()

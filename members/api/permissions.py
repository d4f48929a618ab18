"""Who may call what: a member (any status the token allows), an active member, a POS client."""

from rest_framework.permissions import BasePermission

from members.api.authentication import PosClient
from members.errors import MemberNotActive
from members.models import Member


class IsMember(BasePermission):
    """The caller presented a live member token."""

    def has_permission(self, request, view):
        return isinstance(request.user, Member)


class IsActiveMember(IsMember):
    """The caller is a member who has joined; a visitor gets `member_not_active` (409)."""

    def has_permission(self, request, view):
        if not super().has_permission(request, view):
            return False
        if request.user.status != Member.Status.ACTIVE:
            raise MemberNotActive()
        return True


class IsPosClient(BasePermission):
    """The caller presented a live per-store POS key."""

    def has_permission(self, request, view):
        return isinstance(request.user, PosClient)

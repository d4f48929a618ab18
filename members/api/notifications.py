"""The signed-in member's inbox: their own notifications, newest first, and marking them read."""

from django.utils import timezone
from django.utils.translation import gettext
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from infra.api import BaseApi, IdField, NewestFirstPages, StrictInputSerializer, error_responses
from members.api.authentication import MemberTokenAuthentication
from members.api.permissions import IsMember
from members.models import Notification
from members.selectors.notifications import member_inbox_with_unread_count
from members.services.notifications import MAX_IDS_PER_MARK, notification_mark_read_by_member


class MemberApi(BaseApi):
    authentication_classes = [MemberTokenAuthentication]
    permission_classes = [IsMember]


class NotificationSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    # A plain string in the schema (as in points/api/member.py): an enum named "kind" would collide with others.
    kind = serializers.CharField(help_text=f"One of {', '.join(Notification.Kind.values)} (more may come).")
    title = serializers.CharField()
    body = serializers.CharField()
    params = serializers.DictField(help_text="What the text was made from (points, dates, coupon names, ...).")
    is_read = serializers.BooleanField()
    read_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()

    class Meta:
        ref_name = "Notification"


class InboxPageSerializer(serializers.Serializer):
    next = serializers.URLField(allow_null=True, help_text="The next (older) page, empty on the last one.")
    previous = serializers.URLField(allow_null=True)
    unread_count = serializers.IntegerField(help_text="Unread notifications in the whole inbox.")
    results = NotificationSerializer(many=True)

    class Meta:
        ref_name = "InboxPage"


class MeInboxApi(MemberApi):
    """The member's own notifications, newest first (cursor pages), with the number still unread."""

    @extend_schema(
        operation_id="me_inbox",
        tags=["member"],
        parameters=[
            OpenApiParameter("cursor", str, required=False),
            OpenApiParameter("page_size", int, required=False, description="1 to 100; 20 by default."),
        ],
        responses={200: InboxPageSerializer, **error_responses(401, 404)},
    )
    def get(self, request):
        inbox = member_inbox_with_unread_count(member_id=request.user.pk)
        paginator = NewestFirstPages()
        page = paginator.paginate_queryset(inbox.notifications, request, self)
        body = {
            "next": paginator.get_next_link(),
            "previous": paginator.get_previous_link(),
            "unread_count": inbox.unread_count,
            "results": page,
        }
        return Response(InboxPageSerializer(body).data)


class MeInboxReadApi(MemberApi):
    """Mark notifications read: some by id (`{"ids": [...]}`) or all of them (`{"all": true}`).

    Only the member's own notifications change; other ids are ignored.
    """

    class InputSerializer(StrictInputSerializer):
        """`{"ids": [...]}` marks those notifications read, `{"all": true}` every one; give one of the two."""

        ids = serializers.ListField(child=IdField(), min_length=1, max_length=MAX_IDS_PER_MARK, required=False)
        all = serializers.BooleanField(required=False, help_text="true marks every notification read.")

        class Meta:
            ref_name = "InboxReadInput"

        def validate(self, attrs):
            if ("ids" in attrs) == bool(attrs.get("all")):
                raise serializers.ValidationError(gettext("Give either a list of ids or all."))
            return attrs

    class OutputSerializer(serializers.Serializer):
        marked = serializers.IntegerField(help_text="How many notifications this call marked read.")
        unread_count = serializers.IntegerField()

        class Meta:
            ref_name = "InboxReadResult"

    @extend_schema(
        operation_id="me_inbox_read",
        tags=["member"],
        request=InputSerializer,
        responses={200: OutputSerializer, **error_responses(400, 401)},
    )
    def post(self, request):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        result = notification_mark_read_by_member(
            member_id=request.user.pk, now=timezone.now(), ids=data.get("ids"), read_all=bool(data.get("all"))
        )
        return Response(self.OutputSerializer(result).data)

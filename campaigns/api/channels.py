"""The channels' API: the member's WeChat subscriptions and the SMS gateway's replies (the unsubscribe link is a
page for a person: campaigns/channels/pages.py)."""

from django.conf import settings
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from campaigns.channels.subscriptions import MAX_TEMPLATES_PER_REPORT, wechat_subscriptions_report
from campaigns.channels.unsubscribe import unsubscribe_by_reply
from campaigns.selectors.wechat_subscriptions import wechat_subscriptions_of_member
from infra.api import BaseApi, StrictInputSerializer, error_responses
from infra.errors import LoyaltyError
from infra.webhooks import SIGNATURE_HEADER, webhook_signature_valid
from members.api.authentication import MemberTokenAuthentication
from members.api.permissions import IsMember


class SubscriptionSerializer(serializers.Serializer):
    template_id = serializers.CharField()
    available = serializers.IntegerField(help_text="Sends left: 1 after an acceptance, 0 once used or refused.")
    accepted_at = serializers.DateTimeField(allow_null=True)
    refused_at = serializers.DateTimeField(allow_null=True)

    class Meta:
        ref_name = "WechatSubscription"


class MeWechatSubscriptionsApi(BaseApi):
    """The WeChat subscribe templates the member accepted (what wx.requestSubscribeMessage answered)."""

    authentication_classes = [MemberTokenAuthentication]
    permission_classes = [IsMember]

    class InputSerializer(StrictInputSerializer):
        results = serializers.DictField(
            child=serializers.CharField(max_length=10),
            help_text=(
                f"wx.requestSubscribeMessage's answer per template id: accept, reject, ban or filter "
                f"(1 to {MAX_TEMPLATES_PER_REPORT} templates). An acceptance allows one message."
            ),
        )

        class Meta:
            ref_name = "WechatSubscriptionsInput"

    @extend_schema(
        operation_id="me_wechat_subscriptions",
        tags=["member"],
        responses={200: SubscriptionSerializer(many=True), **error_responses(401)},
    )
    def get(self, request):
        rows = wechat_subscriptions_of_member(member_id=request.user.pk)
        return Response(SubscriptionSerializer(rows, many=True).data)

    @extend_schema(
        operation_id="me_wechat_subscriptions_report",
        tags=["member"],
        request=InputSerializer,
        responses={200: SubscriptionSerializer(many=True), **error_responses(400, 401)},
    )
    def post(self, request):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        rows = wechat_subscriptions_report(
            member_id=request.user.pk, results=serializer.validated_data["results"], now=timezone.now()
        )
        return Response(SubscriptionSerializer(rows, many=True).data)


class SignatureRefused(LoyaltyError):
    code = "authentication_failed"
    status = 401


class SmsReplyApi(BaseApi):
    """A reply the SMS gateway forwards, signed with SMS_INBOUND_SECRET: a stop keyword withdraws SMS consent."""

    authentication_classes = []
    permission_classes = []

    class InputSerializer(StrictInputSerializer):
        sender = serializers.CharField(max_length=32, help_text="The member's phone.")
        text = serializers.CharField(max_length=1000, allow_blank=True)

        class Meta:
            ref_name = "SmsReplyInput"

    class OutputSerializer(serializers.Serializer):
        unsubscribed = serializers.BooleanField()

        class Meta:
            ref_name = "SmsReplyResult"

    @extend_schema(
        operation_id="sms_reply",
        tags=["channels"],
        request=InputSerializer,
        responses={200: OutputSerializer, **error_responses(400, 401)},
    )
    def post(self, request):
        secret = settings.SMS_INBOUND_SECRET
        header = request.headers.get(SIGNATURE_HEADER, "")
        # A reply signed more than 5 minutes away from now is refused: a captured request cannot be replayed.
        fresh = webhook_signature_valid(secret=secret, header=header, body=request.body, max_age_seconds=300)
        if not secret or not fresh:
            raise SignatureRefused()
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        done = unsubscribe_by_reply(phone=data["sender"], text=data["text"], now=timezone.now())
        return Response(self.OutputSerializer({"unsubscribed": done}).data)

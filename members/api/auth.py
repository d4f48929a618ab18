"""Member sign-in with WeChat, and sign-out."""

from datetime import timedelta

from django.conf import settings
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from infra.api import BaseApi, StrictInputSerializer, error_responses
from infra.wechat import get_wechat_client
from members.api.authentication import MemberTokenAuthentication
from members.api.permissions import IsMember
from members.api.serializers import MemberSerializer
from members.api.throttles import LoginIpThrottle
from members.errors import MemberNotActive
from members.models import Member
from members.services.membership import member_login_wechat
from members.services.tokens import member_token_issue, member_token_revoke


class WechatLoginApi(BaseApi):
    """Exchange a wx.login code for a member token (a visitor is created on the first login)."""

    authentication_classes = []
    permission_classes = []
    throttle_classes = [LoginIpThrottle]

    class InputSerializer(StrictInputSerializer):
        code = serializers.CharField(max_length=128)

        class Meta:
            ref_name = "WechatLoginInput"

    class OutputSerializer(serializers.Serializer):
        token = serializers.CharField(help_text="Send as `Authorization: Bearer <token>`. Shown once.")
        expires_at = serializers.DateTimeField(help_text="Slides forward while the token is used.")
        member = MemberSerializer()

        class Meta:
            ref_name = "WechatLoginOutput"

    @extend_schema(
        operation_id="auth_wechat_login",
        tags=["member auth"],
        request=InputSerializer,
        responses={200: OutputSerializer, **error_responses(400, 401, 409, 429, 503)},
    )
    def post(self, request):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        now = timezone.now()
        # The HTTP call to WeChat happens before any transaction opens.
        login = get_wechat_client().code_to_session(code=serializer.validated_data["code"])
        member = member_login_wechat(openid=login.openid, unionid=login.unionid, session_key=login.session_key, now=now)
        if member.status in (Member.Status.FROZEN, Member.Status.CLOSED):
            raise MemberNotActive()
        token = member_token_issue(member_id=member.pk, now=now, user_agent=request.META.get("HTTP_USER_AGENT", ""))
        data = {
            "token": token,
            "expires_at": now + timedelta(days=settings.MEMBER_TOKEN_TTL_DAYS),
            "member": member,
        }
        # The body carries a credential: no cache (browser, proxy) may keep it.
        return Response(self.OutputSerializer(data).data, headers={"Cache-Control": "no-store"})


class LogoutApi(BaseApi):
    """Revoke the token this request was made with."""

    authentication_classes = [MemberTokenAuthentication]
    permission_classes = [IsMember]

    @extend_schema(
        operation_id="auth_logout", tags=["member auth"], request=None, responses={204: None, **error_responses(401)}
    )
    def post(self, request):
        member_token_revoke(token_id=request.auth.pk, now=timezone.now())
        return Response(status=status.HTTP_204_NO_CONTENT)

"""The signed-in member: profile, phone binding, joining, the member card and its QR code."""

from io import BytesIO

import qrcode
from django.http import HttpResponse
from django.urls import reverse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from qrcode.image.pil import PilImage
from rest_framework import serializers
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from infra.api import BaseApi, PngRenderer, StrictInputSerializer, error_responses
from infra.wechat import get_wechat_client
from members.api.authentication import MemberTokenAuthentication
from members.api.permissions import IsActiveMember, IsMember
from members.api.serializers import MemberSerializer, ProfileInputSerializer
from members.api.throttles import LoginMemberThrottle
from members.models import Member
from members.selectors import member_card_get
from members.services.membership import member_bind_phone, member_join, member_update_profile


class MemberApi(BaseApi):
    authentication_classes = [MemberTokenAuthentication]
    permission_classes = [IsMember]


class MeApi(MemberApi):
    """Read or change the signed-in member's own profile and consents."""

    @extend_schema(
        operation_id="me_retrieve", tags=["member"], responses={200: MemberSerializer, **error_responses(401)}
    )
    def get(self, request):
        return Response(MemberSerializer(request.user).data)

    @extend_schema(
        operation_id="me_update",
        tags=["member"],
        request=ProfileInputSerializer,
        responses={200: MemberSerializer, **error_responses(400, 401)},
    )
    def patch(self, request):
        serializer = ProfileInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        member = member_update_profile(member_id=request.user.pk, now=timezone.now(), **serializer.validated_data)
        return Response(MemberSerializer(member).data)


class MePhoneApi(MemberApi):
    """Bind the phone the member shared through WeChat's getPhoneNumber button.

    When that phone belongs to an imported member without WeChat, this login becomes that member.
    """

    throttle_classes = [LoginMemberThrottle]

    class InputSerializer(StrictInputSerializer):
        code = serializers.CharField(max_length=128, help_text="The code of the getPhoneNumber button event.")

        class Meta:
            ref_name = "PhoneBindInput"

    @extend_schema(
        operation_id="me_phone_bind",
        tags=["member"],
        request=InputSerializer,
        responses={200: MemberSerializer, **error_responses(400, 401, 409, 429, 503)},
    )
    def post(self, request):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        phone = get_wechat_client().get_phone_number(code=serializer.validated_data["code"])
        member = member_bind_phone(member_id=request.user.pk, phone=phone, now=timezone.now())
        return Response(MemberSerializer(member).data)


class MeJoinApi(MemberApi):
    """Join the programme (a bound phone is required): the member becomes active in the entry tier."""

    class InputSerializer(ProfileInputSerializer):
        source = serializers.ChoiceField(
            choices=[
                choice
                for choice in Member.JoinSource.choices
                if choice[0] not in (Member.JoinSource.IMPORT, Member.JoinSource.CONSOLE)
            ]
        )

        class Meta:
            ref_name = "JoinInput"

    @extend_schema(
        operation_id="me_join",
        tags=["member"],
        request=InputSerializer,
        responses={200: MemberSerializer, **error_responses(400, 401)},
    )
    def post(self, request):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        fields = dict(serializer.validated_data)
        source = fields.pop("source")
        member = member_join(member_id=request.user.pk, source=source, now=timezone.now(), **fields)
        return Response(MemberSerializer(member).data)


class MeCardApi(MemberApi):
    """The member card: a code for barcode scanners that changes every minute, and its QR image."""

    permission_classes = [IsActiveMember]

    class OutputSerializer(serializers.Serializer):
        member_number = serializers.CharField()
        card_code = serializers.CharField(help_text="18 digits; accepted by the POS until about a minute after.")
        valid_until = serializers.DateTimeField(help_text="Fetch a new code at this time.")
        qr_png_url = serializers.URLField(help_text="GET with the same Authorization header.")

        class Meta:
            ref_name = "MemberCard"

    @extend_schema(
        operation_id="me_card", tags=["member"], responses={200: OutputSerializer, **error_responses(401, 409)}
    )
    def get(self, request):
        card = member_card_get(member=request.user, now=timezone.now())
        data = {
            "member_number": card.member_number,
            "card_code": card.card_code,
            "valid_until": card.valid_until,
            "qr_png_url": request.build_absolute_uri(reverse("me-card-qr")),
        }
        response = Response(self.OutputSerializer(data).data)
        response["Cache-Control"] = "no-store"
        return response


class MeCardQrApi(MemberApi):
    """The current card code as a QR code (PNG). Never cached: the code changes every minute."""

    permission_classes = [IsActiveMember]
    renderer_classes = [JSONRenderer, PngRenderer]

    @extend_schema(
        operation_id="me_card_qr",
        tags=["member"],
        responses={
            (200, "image/png"): OpenApiResponse(OpenApiTypes.BINARY, description="A PNG of the card code."),
            **error_responses(401, 409),
        },
    )
    def get(self, request):
        card = member_card_get(member=request.user, now=timezone.now())
        image = qrcode.make(card.card_code, image_factory=PilImage, box_size=8, border=2)
        buffer = BytesIO()
        image.save(buffer, format="PNG")
        response = HttpResponse(buffer.getvalue(), content_type="image/png")
        response["Cache-Control"] = "no-store"
        return response

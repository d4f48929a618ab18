"""The POS door (per-store API key): find a member at the till."""

from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from infra.api import BaseApi, StrictInputSerializer, error_responses
from members.api.authentication import StoreApiKeyAuthentication
from members.api.permissions import IsPosClient
from members.api.serializers import TierBriefSerializer
from members.api.throttles import PosLookupThrottle
from members.models import Member
from members.selectors import pos_member_summary


class PosApi(BaseApi):
    authentication_classes = [StoreApiKeyAuthentication]
    permission_classes = [IsPosClient]


class PosMemberLookupApi(PosApi):
    """Find a member brand-wide by exactly one of: scanned card code, phone, member number."""

    throttle_classes = [PosLookupThrottle]

    class InputSerializer(StrictInputSerializer):
        card_code = serializers.CharField(required=False, max_length=32, help_text="The 18-digit code scanned.")
        phone = serializers.CharField(required=False, max_length=32, help_text="Any common notation.")
        member_number = serializers.CharField(required=False, max_length=16)

        class Meta:
            ref_name = "PosMemberLookupInput"

    class OutputSerializer(serializers.Serializer):
        member_number = serializers.CharField()
        name = serializers.CharField()
        phone_masked = serializers.CharField(help_text="Country code and last four digits, e.g. +852****4567.")
        tier = TierBriefSerializer(allow_null=True)
        points_balance = serializers.IntegerField()
        points_available = serializers.IntegerField(
            help_text="What the member can spend now: the balance less points held for mini-program checkout orders."
        )
        status = serializers.ChoiceField(choices=Member.Status.choices)

        class Meta:
            ref_name = "PosMemberSummary"

    @extend_schema(
        operation_id="pos_member_lookup",
        tags=["pos"],
        parameters=[InputSerializer],
        responses={200: OutputSerializer, **error_responses(400, 401, 404, 429)},
    )
    def get(self, request):
        serializer = self.InputSerializer(data=request.query_params.dict())
        serializer.is_valid(raise_exception=True)
        summary = pos_member_summary(now=timezone.now(), **serializer.validated_data)
        return Response(self.OutputSerializer(summary).data)

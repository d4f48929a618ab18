"""The mini program reports where the member is: near-a-store campaigns (campaigns/services/triggers.py) answer.

The position is used at once and never stored: only the deliveries it caused are kept (their occasion names the
store, the date and the window, not the coordinates).
"""

import math

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.throttling import SimpleRateThrottle

from campaigns.models import CampaignRecipient
from campaigns.services.triggers import campaigns_trigger_near_store
from infra.api import BaseApi, StrictInputSerializer, error_responses
from members.api.authentication import MemberTokenAuthentication
from members.api.permissions import IsMember


def _finite(value: float) -> float:
    if not math.isfinite(value):  # NaN passes the range checks (every comparison with it is false)
        raise serializers.ValidationError(_("Give a number of degrees."))
    return value


class MeLocationThrottle(SimpleRateThrottle):
    """Reports per member: the mini program reports on moves, not every second (MEMBER_LOCATION_THROTTLE)."""

    scope = "member_location"

    def get_rate(self):
        return settings.MEMBER_LOCATION_THROTTLE

    def get_cache_key(self, request, view):
        if request.user is None or not getattr(request.user, "pk", None):
            return None  # refused by the permission anyway
        return self.cache_format % {"scope": self.scope, "ident": f"member:{request.user.pk}"}


class OfferSerializer(serializers.Serializer):
    campaign_id = serializers.IntegerField()
    store_code = serializers.CharField()
    distance_m = serializers.IntegerField(help_text="How far the member was from the store, in metres.")

    class Meta:
        ref_name = "NearStoreOffer"


class LocationResultSerializer(serializers.Serializer):
    offers = OfferSerializer(
        many=True, help_text="The offers this report delivered (each in the inbox too); empty when none applies now."
    )

    class Meta:
        ref_name = "LocationResult"


class MeLocationApi(BaseApi):
    """Report the member's position: each running near-a-store campaign whose store is within its radius during one
    of its time windows delivers its offer, at most once per window."""

    authentication_classes = [MemberTokenAuthentication]
    permission_classes = [IsMember]
    throttle_classes = [MeLocationThrottle]

    class InputSerializer(StrictInputSerializer):
        latitude = serializers.FloatField(min_value=-90, max_value=90, help_text="WGS-84 degrees (wx.getLocation).")
        longitude = serializers.FloatField(min_value=-180, max_value=180, help_text="WGS-84 degrees.")

        class Meta:
            ref_name = "MemberLocationInput"

        def validate_latitude(self, value):
            return _finite(value)

        def validate_longitude(self, value):
            return _finite(value)

    @extend_schema(
        operation_id="me_location_report",
        tags=["member"],
        request=InputSerializer,
        responses={200: LocationResultSerializer, **error_responses(400, 401, 429)},
    )
    def post(self, request):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        offers = campaigns_trigger_near_store(
            member_id=request.user.pk,
            latitude=serializer.validated_data["latitude"],
            longitude=serializer.validated_data["longitude"],
            now=timezone.now(),
        )
        delivered = [
            {"campaign_id": offer.campaign.pk, "store_code": offer.store.code, "distance_m": offer.distance_m}
            for offer in offers
            if offer.result.statuses[CampaignRecipient.Status.DELIVERED]
        ]
        return Response(LocationResultSerializer({"offers": delivered}).data)

"""Public store finder: active stores, nearest first."""

import math

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from members.api.common import BaseApi, StrictInputSerializer, error_responses
from members.selectors import store_list_nearest


class StoreListApi(BaseApi):
    """List active stores; with lat and lng, nearest first with the distance (within radius_km if given)."""

    authentication_classes = []
    permission_classes = []

    class InputSerializer(StrictInputSerializer):
        lat = serializers.FloatField(required=False, min_value=-90, max_value=90)
        lng = serializers.FloatField(required=False, min_value=-180, max_value=180)
        radius_km = serializers.FloatField(required=False, min_value=0.001, max_value=20_000)
        limit = serializers.IntegerField(required=False, min_value=1, max_value=200, default=50)

        class Meta:
            ref_name = "StoreListInput"

        def validate(self, attrs):
            errors = {
                name: [_("A valid number is required.")]
                for name in ("lat", "lng", "radius_km")
                if name in attrs and not math.isfinite(attrs[name])
            }
            if errors:
                raise serializers.ValidationError(errors)
            if ("lat" in attrs) != ("lng" in attrs):
                missing = "lng" if "lat" in attrs else "lat"
                raise serializers.ValidationError({missing: [_("Give lat and lng together.")]})
            if "radius_km" in attrs and "lat" not in attrs:
                raise serializers.ValidationError({"radius_km": [_("A radius needs lat and lng.")]})
            return attrs

    class OutputSerializer(serializers.Serializer):
        code = serializers.CharField()
        name = serializers.CharField()
        address = serializers.CharField()
        phone = serializers.CharField()
        opening_hours = serializers.CharField()
        latitude = serializers.FloatField(allow_null=True)
        longitude = serializers.FloatField(allow_null=True)
        photo_url = serializers.URLField(allow_null=True)
        distance_km = serializers.FloatField(allow_null=True, help_text="Present when lat and lng are given.")

        class Meta:
            ref_name = "StoreListItem"

    @extend_schema(
        operation_id="stores_list",
        tags=["stores"],
        auth=[],
        parameters=[InputSerializer],
        responses={200: OutputSerializer(many=True), **error_responses(400)},
    )
    def get(self, request):
        serializer = self.InputSerializer(data=request.query_params.dict())
        serializer.is_valid(raise_exception=True)
        params = serializer.validated_data
        results = store_list_nearest(
            lat=params.get("lat"), lng=params.get("lng"), radius_km=params.get("radius_km"), limit=params["limit"]
        )
        data = [
            {
                "code": item.store.code,
                "name": item.store.name,
                "address": item.store.address,
                "phone": item.store.phone,
                "opening_hours": item.store.opening_hours,
                "latitude": item.store.latitude,
                "longitude": item.store.longitude,
                "photo_url": request.build_absolute_uri(item.store.photo.url) if item.store.photo else None,
                "distance_km": item.distance_km,
            }
            for item in results
        ]
        return Response(self.OutputSerializer(data, many=True).data)

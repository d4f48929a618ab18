"""Public store finder: active stores, nearest first, with their hours for the week ahead, whether they are open
now (in the program's time zone, exceptions applied) and their photos in order."""

import math

from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from infra.api import BaseApi, StrictInputSerializer, error_responses
from members.selectors.stores import DayHours, store_finder_list, store_is_open, store_week_hours


class IntervalSerializer(serializers.Serializer):
    # "HH:MM" local times: the string format "time" of OpenAPI would ask for seconds and an offset.
    opens_at = serializers.CharField(help_text="HH:MM in the program's time zone.")
    closes_at = serializers.CharField(
        help_text="HH:MM; not after opens_at: the store closes the next day (00:00 is midnight)."
    )

    class Meta:
        ref_name = "StoreHoursInterval"


class DayHoursSerializer(serializers.Serializer):
    date = serializers.DateField()
    weekday = serializers.IntegerField(help_text="0 = Monday ... 6 = Sunday.")
    is_closed = serializers.BooleanField()
    intervals = IntervalSerializer(many=True)
    note = serializers.CharField(help_text="Why this date differs from its weekday (e.g. a public holiday).")

    class Meta:
        ref_name = "StoreDayHours"


class PhotoSerializer(serializers.Serializer):
    url = serializers.URLField()
    caption = serializers.CharField()

    class Meta:
        ref_name = "StorePhoto"


def _day(hours: DayHours) -> dict:
    return {
        "date": hours.date,
        "weekday": hours.date.weekday(),
        "is_closed": hours.is_closed,
        "intervals": [
            {"opens_at": f"{opens_at:%H:%M}", "closes_at": f"{closes_at:%H:%M}"}
            for opens_at, closes_at in hours.intervals
        ],
        "note": hours.note,
    }


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
        latitude = serializers.FloatField(allow_null=True)
        longitude = serializers.FloatField(allow_null=True)
        opening_hours = DayHoursSerializer(
            many=True, help_text="Today and the six days after it, in the program's time zone, exceptions applied."
        )
        hours_today = DayHoursSerializer(allow_null=True, help_text="Today's hours; null when the store has none.")
        is_open_now = serializers.BooleanField(
            allow_null=True, help_text="In the program's time zone; null when the store has no opening hours."
        )
        photos = PhotoSerializer(many=True, help_text="In the merchant's order.")
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
        now = timezone.now()
        finder = store_finder_list(
            now=now,
            lat=params.get("lat"),
            lng=params.get("lng"),
            radius_km=params.get("radius_km"),
            limit=params["limit"],
        )
        stores = [self._store(request, item, now, finder.today) for item in finder.stores]
        return Response(self.OutputSerializer(stores, many=True).data)

    @staticmethod
    def _store(request, item, now, today) -> dict:
        store = item.store
        hours = {"weekly": store.weekly_hours, "exceptions": store.hours_exceptions_near}
        known = bool(store.weekly_hours or store.hours_exceptions_near)
        week = [_day(day) for day in store_week_hours(**hours, today=today)] if known else []
        return {
            "code": store.code,
            "name": store.name,
            "address": store.address,
            "phone": store.phone,
            "latitude": store.latitude,
            "longitude": store.longitude,
            "opening_hours": week,
            "hours_today": week[0] if week else None,
            "is_open_now": store_is_open(**hours, at=now),
            "photos": [
                {"url": request.build_absolute_uri(photo.image.url), "caption": photo.caption}
                for photo in store.photos_in_order
            ],
            "distance_km": item.distance_km,
        }

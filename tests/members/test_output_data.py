"""output_data answers exactly what a fresh serializer's .data would, from one serializer per class."""

from datetime import UTC, datetime
from decimal import Decimal

from django.utils import timezone, translation

from infra.api import output_data
from points.api.serializers import CheckoutResultSerializer

BODY = {
    "external_id": "sale-1",
    "channel": "pos",
    "member_number": None,
    "purchased_at": datetime(2026, 11, 26, 4, 30, tzinfo=UTC),
    "gross_amount": Decimal("680"),
    "discount_amount": Decimal("0.005"),
    "tier_discount_amount": Decimal(0),
    "points_value_amount": Decimal("1.00"),
    "stored_value_amount": Decimal(0),
    "paid_amount": Decimal("679.00"),
    "points_spent": 100,
    "points_earned": 68,
    "earn_is_pending": False,
    "earn_activates_at": datetime(2026, 11, 26, 4, 30, tzinfo=UTC),
    "earn_expires_at": None,
    "points_balance": 968,
    "coupon_code": None,
    "coupon_discount_amount": Decimal(0),
    "coupons_earned": ["C-1"],
    "breakdown": {"total": 68, "rules": [{"rule_id": 1, "name": "Base", "kind": "base_rate", "points": 68}]},
}


def test_it_gives_what_a_fresh_serializer_gives():
    assert output_data(CheckoutResultSerializer, BODY) == CheckoutResultSerializer(BODY).data
    assert output_data(CheckoutResultSerializer, BODY) == CheckoutResultSerializer(BODY).data  # and again, reused


def test_times_follow_the_active_time_zone_of_each_call():
    with timezone.override("Asia/Hong_Kong"), translation.override("zh-hant"):
        in_hong_kong = output_data(CheckoutResultSerializer, BODY)
    with timezone.override("UTC"):
        in_utc = output_data(CheckoutResultSerializer, BODY)

    assert in_hong_kong["purchased_at"] == "2026-11-26T12:30:00+08:00"
    assert in_utc["purchased_at"] == "2026-11-26T04:30:00Z"

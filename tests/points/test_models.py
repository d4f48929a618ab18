"""Policy and rule validation, and the expiry dates each expiry mode gives."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ValidationError

from members.services.lot_expiry import lot_expires_at
from points.models import EarningRule, PointsPolicy

HK = ZoneInfo("Asia/Hong_Kong")
pytestmark = pytest.mark.django_db


def rule(**fields):
    return EarningRule(name="rule", priority=1, **fields)


def errors_of(instance):
    with pytest.raises(ValidationError) as info:
        instance.clean()
    return info.value.message_dict


@pytest.mark.parametrize(
    ("fields", "field_in_error"),
    [
        ({"kind": "base_rate"}, "amount_per_unit"),
        ({"kind": "base_rate", "amount_per_unit": Decimal(100)}, "points_per_unit"),
        ({"kind": "multiplier"}, "multiplier"),
        ({"kind": "multiplier", "multiplier": Decimal(1)}, "multiplier"),
        ({"kind": "bonus_category", "bonus_points": 5}, "category"),
        ({"kind": "bonus_category", "category": "skincare"}, "bonus_points"),
        ({"kind": "bonus_sku", "bonus_points": 5}, "sku"),
        ({"kind": "bonus_first_purchase"}, "bonus_points"),
        ({"kind": "behaviour", "bonus_points": 3}, "behaviour_event"),
        ({"kind": "multiplier", "multiplier": Decimal(2), "bonus_points": 5}, "bonus_points"),
        (
            {"kind": "base_rate", "amount_per_unit": 1, "points_per_unit": 1, "max_times_per_day": 1},
            "max_times_per_day",
        ),
        ({"kind": "multiplier", "multiplier": Decimal(2), "weekdays": [7]}, "weekdays"),
        ({"kind": "multiplier", "multiplier": Decimal(2), "channels": ["fax"]}, "channels"),
        (
            {
                "kind": "multiplier",
                "multiplier": Decimal(2),
                "valid_from": datetime(2025, 2, 1, tzinfo=HK),
                "valid_until": datetime(2025, 1, 1, tzinfo=HK),
            },
            "valid_until",
        ),
    ],
)
def test_rule_validation_names_the_field_at_fault(fields, field_in_error):
    assert field_in_error in errors_of(rule(**fields))


@pytest.mark.parametrize(
    "fields",
    [
        {"kind": "base_rate", "amount_per_unit": Decimal(100), "points_per_unit": 10},
        {"kind": "multiplier", "multiplier": Decimal("1.5"), "weekdays": [5, 6], "channels": ["pos"]},
        {"kind": "bonus_category", "category": "skincare", "bonus_points": 5},
        {"kind": "bonus_sku", "sku": "A1", "amount_per_unit": Decimal(10), "points_per_unit": 1},
        {"kind": "bonus_first_purchase", "bonus_points": 100},
        {"kind": "behaviour", "behaviour_event": "share", "bonus_points": 3, "max_times_per_day": 2},
    ],
)
def test_a_well_formed_rule_of_each_kind_validates(fields):
    rule(**fields).clean()


def test_rule_validation_message_is_readable():
    assert errors_of(rule(kind="multiplier", multiplier=Decimal(2), sku="X"))["sku"] == [
        "A “Multiplier” rule does not use this field; leave it empty."
    ]


@pytest.mark.parametrize(
    ("fields", "field_in_error"),
    [
        ({"expiry_mode": "days"}, "expiry_days"),
        ({"expiry_mode": "months_end"}, "expiry_months"),
        ({"expiry_mode": "yearly_date", "expiry_month": 3}, "expiry_day"),
        ({"expiry_mode": "yearly_date", "expiry_month": 2, "expiry_day": 30}, "expiry_day"),
        ({"earning_statuses": ["sleeping"]}, "earning_statuses"),
        ({"member_match_order": ["phone", "phone"]}, "member_match_order"),
        ({"member_match_order": []}, "member_match_order"),
    ],
)
def test_policy_validation_names_the_field_at_fault(fields, field_in_error):
    assert field_in_error in errors_of(PointsPolicy(**fields))


EARNED = datetime(2025, 1, 15, 10, 30, tzinfo=HK)


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"expiry_mode": "never"}, None),
        ({"expiry_mode": "days", "expiry_days": 365}, datetime(2026, 1, 15, 10, 30, tzinfo=HK)),
        ({"expiry_mode": "months_end", "expiry_months": 12}, datetime(2026, 1, 31, 23, 59, 59, tzinfo=HK)),
        ({"expiry_mode": "months_end", "expiry_months": 13}, datetime(2026, 2, 28, 23, 59, 59, tzinfo=HK)),
        (
            {"expiry_mode": "yearly_date", "expiry_month": 3, "expiry_day": 31},
            datetime(2026, 3, 31, 23, 59, 59, tzinfo=HK),
        ),
        (
            {"expiry_mode": "yearly_date", "expiry_month": 2, "expiry_day": 29},
            datetime(2026, 2, 28, 23, 59, 59, tzinfo=HK),
        ),
    ],
    ids=["never", "days", "months-end", "months-end-short-month", "yearly-date", "yearly-29-feb-in-common-year"],
)
def test_expiry_date_follows_the_mode(fields, expected):
    assert PointsPolicy(**fields).expires_at_for(earned_at=EARNED) == expected


def test_months_end_expiry_counts_from_the_local_date_not_utc():
    # 31 Jan 20:00 UTC is already 1 Feb in Hong Kong.
    earned = datetime(2025, 1, 31, 20, 0, tzinfo=ZoneInfo("UTC"))

    expires = PointsPolicy(expiry_mode="months_end", expiry_months=1).expires_at_for(earned_at=earned)

    assert expires == datetime(2025, 3, 31, 23, 59, 59, tzinfo=HK)


@pytest.mark.parametrize(("points", "value"), [(500, "5.00"), (1, "0.01"), (0, "0.00")])
def test_default_point_value_is_500_points_for_five_dollars(points, value):
    assert PointsPolicy().points_value(points) == Decimal(value)


def test_points_for_value_never_exceeds_the_value():
    policy = PointsPolicy(checkout_points=1000, checkout_value=Decimal("3.00"))

    points = policy.points_for_value(Decimal("10.00"))

    assert points == 3333
    assert policy.points_value(points) <= Decimal("10.00")


def test_a_lot_the_members_app_writes_expires_by_the_points_policy_saved_or_not():
    earned = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
    assert lot_expires_at(earned_at=earned) is None  # no policy saved: its default, never
    assert not PointsPolicy.objects.exists()  # asking did not create it

    PointsPolicy.objects.create(pk=1, expiry_mode="days", expiry_days=730)

    assert lot_expires_at(earned_at=earned) == earned + timedelta(days=730)


def test_policy_is_a_single_row():
    PointsPolicy.load()
    PointsPolicy(pending_days=3).save()

    assert PointsPolicy.objects.get().pending_days == 3

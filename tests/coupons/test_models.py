"""Templates refuse bad terms at save with a message naming the field; issued counts survive console saves."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError

from coupons.models import CouponTemplate
from tests.coupons.factories import CouponTemplateFactory
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db


def errors_of(template):
    with pytest.raises(ValidationError) as excinfo:
        template.full_clean()
    return {field: [str(message) for message in messages] for field, messages in excinfo.value.message_dict.items()}


def test_a_valid_template_passes_full_clean():
    CouponTemplateFactory.build(kind="percent_off", amount=None, percent=Decimal("15")).full_clean()


def test_percent_above_100_is_refused():
    template = CouponTemplateFactory.build(kind="percent_off", amount=None, percent=Decimal("100.01"))

    assert errors_of(template) == {"percent": ["A percentage cannot be above 100."]}


@pytest.mark.parametrize("field", ["amount", "max_discount", "min_spend"])
def test_negative_values_are_refused(field):
    template = CouponTemplateFactory.build(**{field: Decimal("-1")})

    assert errors_of(template)[field] == ["This value cannot be negative."]


def test_a_negative_percent_is_refused():
    template = CouponTemplateFactory.build(kind="percent_off", amount=None, percent=Decimal("-5"))

    assert errors_of(template) == {"percent": ["This value cannot be negative."]}


def test_validity_ending_before_it_starts_is_refused(now):
    template = CouponTemplateFactory.build(valid_from=now, valid_until=now - timedelta(days=1), valid_days=None)

    assert errors_of(template) == {"valid_until": ["The validity must end after it starts."]}


def test_a_template_without_an_end_is_refused():
    template = CouponTemplateFactory.build(valid_days=None, valid_until=None)

    assert errors_of(template) == {"valid_days": ["Give a fixed end date or a number of days after issue."]}


def test_a_claim_window_closing_before_it_opens_is_refused(now):
    template = CouponTemplateFactory.build(claim_starts_at=now, claim_ends_at=now)

    assert errors_of(template) == {"claim_ends_at": ["Claiming must close after it opens."]}


def test_a_quota_below_what_was_already_issued_is_refused(issue):
    template = CouponTemplateFactory(quota=5, per_member_limit=None)
    member = MemberFactory()
    for _ in range(3):
        issue(template, member)
    template.refresh_from_db()

    template.quota = 2

    assert errors_of(template) == {"quota": ["3 coupons were already issued: the quota cannot be lower."]}


@pytest.mark.parametrize(
    ("terms", "field", "message"),
    [
        ({"kind": "amount_off", "amount": None}, "amount", "Give the amount this coupon takes off."),
        ({"kind": "spend_x_save_y", "min_spend": Decimal(0)}, "min_spend", "Give the spend that unlocks the saving."),
        ({"kind": "percent_off", "amount": None}, "percent", "Give the percentage this coupon takes off."),
        ({"kind": "gift_item", "amount": None}, "gift_description", "Say which gift the member receives."),
        (
            {"per_member_limit": 0},
            "per_member_limit",
            "The limit per member must be at least 1, or empty for no limit.",
        ),
        ({"channels": []}, "channels", "Choose at least one of: pos, mini_program, online."),
        ({"channels": ["fax"]}, "channels", "Choose at least one of: pos, mini_program, online."),
        (
            {"kind": "free_shipping", "channels": ["pos", "online"]},
            "channels",
            "Free shipping takes nothing off the bill: the online shop waives its shipping when it redeems the "
            "coupon. Choose only the online shop.",
        ),
        ({"categories": "shoes"}, "categories", "Give a list of names."),
        (
            {"code_prefix": "OIL"},
            "code_prefix",
            "Use only letters and digits other than 0, 1, I, L and O, in capitals.",
        ),
        ({"code_length": 5}, "code_length", "Use 6 to 29 random characters with this prefix."),
    ],
)
def test_incomplete_or_malformed_terms_are_refused(terms, field, message):
    assert errors_of(CouponTemplateFactory.build(**terms))[field] == [message]


def test_a_free_shipping_coupon_is_for_the_online_shop_only():
    CouponTemplateFactory.build(kind="free_shipping", channels=["online"]).full_clean()  # the shop waives shipping


def test_the_database_refuses_issuing_beyond_the_quota():
    template = CouponTemplateFactory(quota=1)

    with pytest.raises(IntegrityError):
        CouponTemplate.objects.filter(pk=template.pk).update(issued_count=2)


def test_saving_a_template_loaded_earlier_keeps_the_issued_count(issue):
    # given a console form loaded before a claim
    template = CouponTemplateFactory(per_member_limit=None)
    stale = CouponTemplate.objects.get(pk=template.pk)
    issue(template, MemberFactory())

    # when the console saves the stale copy
    stale.name = "Renamed"
    stale.save()

    # then the claim made in between is still counted
    template.refresh_from_db()
    assert (template.name, template.issued_count) == ("Renamed", 1)

"""A segment's rule is refused at save when it does not fit the schema, each problem naming its condition."""

import pytest

from campaigns.errors import SegmentRuleInvalid
from campaigns.models import Segment
from campaigns.segments.schema import FIELDS, rule_errors, schema_for_editor
from campaigns.services.segments import segment_save
from tests.factories import TierFactory, UserFactory

pytestmark = pytest.mark.django_db


def group(*conditions, match="all"):
    return {"match": match, "conditions": list(conditions)}


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        (group(), "The rule: the group is empty: add a condition or remove the group."),
        (group({"field": "shoe_size", "op": "gte", "value": 40}), 'Condition 1: unknown field "shoe_size".'),
        (
            group({"field": "age", "op": "like", "value": 3}),
            'Condition 1 (age, Age): unknown operator "like"; use one of: gte, lte, between.',
        ),
        (
            group({"field": "age", "op": "gte", "value": 18}, group(match="any")),
            "Group 2: the group is empty: add a condition or remove the group.",
        ),
        (
            group({"field": "age", "op": "gte", "value": 18}, group({"field": "age", "op": "gte", "value": -1})),
            "Condition 2.1 (age, Age): give a whole number from 0 to 1,000,000,000,000.",
        ),
        (
            group({"field": "points_balance", "op": "gte", "value": 10**30}),
            "Condition 1 (points_balance, Points available): give a whole number from 0 to 1,000,000,000,000.",
        ),
        (
            group({"field": "age", "op": "gte", "value": 18, "colour": "red"}),
            'Condition 1 (age, Age): unknown key "colour".',
        ),
        (
            group({"field": "spend", "op": "gte", "value": 100}),
            'Condition 1 (spend, Spend in a window): give "days".',
        ),
        (
            group({"field": "spend", "op": "between", "value": [500, 100], "days": 30}),
            "Condition 1 (spend, Spend in a window): the first value is greater than the second.",
        ),
        (
            group({"field": "consent", "channel": "fax", "op": "is", "value": True}),
            'Condition 1 (consent, Consent): "channel": give one of: marketing, sms, email, wechat.',
        ),
        (
            group({"field": "birthday_month", "op": "in", "value": [13]}),
            "Condition 1 (birthday_month, Birthday month): give a non-empty list of months, 1 to 12.",
        ),
        (
            group({"field": "joined", "op": "after", "value": "31/01/2026"}),
            "Condition 1 (joined, Join date): give a date as YYYY-MM-DD.",
        ),
        (
            group({"field": "tier", "op": "in", "value": [999999]}),
            "Condition 1 (tier, Tier): no tier has the id 999999.",
        ),
        (
            {"match": "some", "conditions": [{"field": "age", "op": "gte", "value": 1}]},
            'The rule: "match" must be "all" or "any".',
        ),
        ("everyone", 'The rule: a group is an object with "match" and "conditions".'),
    ],
)
def test_a_bad_rule_is_refused_naming_the_condition(rule, message):
    assert message in rule_errors(rule)


def test_every_problem_is_named_not_only_the_first():
    rule = group({"field": "nope", "op": "in", "value": []}, {"field": "age", "op": "in", "value": 1})

    assert rule_errors(rule) == [
        'Condition 1: unknown field "nope".',
        'Condition 2 (age, Age): unknown operator "in"; use one of: gte, lte, between.',
    ]


def test_saving_refuses_a_bad_rule_and_keeps_nothing():
    user = UserFactory(is_superuser=True)

    with pytest.raises(SegmentRuleInvalid) as refused:
        segment_save(name="Lapsed", rule=group({"field": "age", "op": "like", "value": 1}), user=user)

    assert refused.value.code == "segment_rule_invalid"
    assert refused.value.fields["rule"] == [
        'Condition 1 (age, Age): unknown operator "like"; use one of: gte, lte, between.'
    ]
    assert not Segment.objects.exists()


def test_saving_a_valid_rule_keeps_it():
    tier = TierFactory()
    rule = group({"field": "tier", "op": "in", "value": [tier.pk]})

    segment = segment_save(name=" Gold ", rule=rule, user=UserFactory(is_superuser=True))

    segment.refresh_from_db()
    assert (segment.name, segment.rule) == ("Gold", rule)


def test_the_editor_receives_every_field_of_the_schema():
    schema = schema_for_editor()

    assert set(schema["fields"]) == set(FIELDS)
    assert schema["fields"]["consent"]["params"] == {"channel": "channel"}
    assert [value for value, _label in schema["channels"]] == ["marketing", "sms", "email", "wechat"]

"""Each condition kind of a segment's rule selects the members it says, in one query, with AND / OR groups."""

import datetime
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from campaigns.segments.schema import rule_errors
from campaigns.selectors.segments import segment_members
from coupons.models import Coupon
from members.models import Member, PointsEntry, Purchase
from members.services.ledger import points_credit
from points.models import EarningRule
from tests.coupons.factories import CouponTemplateFactory
from tests.factories import MemberFactory, PurchaseFactory, StoreFactory, TagFactory, TierFactory

pytestmark = pytest.mark.django_db

NOW = datetime.datetime(2026, 6, 15, 12, 0, tzinfo=datetime.UTC)  # noon in UTC: 15 June in Hong Kong too


def selected(*conditions, match="all", now=NOW, store_id=None):
    rule = {"match": match, "conditions": list(conditions)}
    assert rule_errors(rule) == []
    return set(segment_members(rule=rule, now=now, store_id=store_id).values_list("pk", flat=True))


def ids(*members):
    return {member.pk for member in members}


def test_tier_in_and_not_in():
    gold, silver = TierFactory(), TierFactory()
    a, b, c = MemberFactory(tier=gold), MemberFactory(tier=silver), MemberFactory(tier=None)

    assert selected({"field": "tier", "op": "in", "value": [gold.pk]}) == ids(a)
    assert selected({"field": "tier", "op": "not_in", "value": [gold.pk]}) == ids(b, c)


def test_tags_any_all_and_none():
    vip, new = TagFactory(), TagFactory()
    both, only_vip, untagged = MemberFactory(), MemberFactory(), MemberFactory()
    both.tags.add(vip, new)
    only_vip.tags.add(vip)

    assert selected({"field": "tags", "op": "any", "value": [vip.pk, new.pk]}) == ids(both, only_vip)
    assert selected({"field": "tags", "op": "all", "value": [vip.pk, new.pk]}) == ids(both)
    assert selected({"field": "tags", "op": "none", "value": [new.pk]}) == ids(only_vip, untagged)


def test_home_store_gender_and_join_source():
    store, other = StoreFactory(), StoreFactory()
    a = MemberFactory(home_store=store, gender="f", join_source="referral")
    b = MemberFactory(home_store=other, gender="m", join_source="store_qr")
    c = MemberFactory(home_store=None, gender="", join_source="referral")

    assert selected({"field": "home_store", "op": "in", "value": [store.pk]}) == ids(a)
    assert selected({"field": "home_store", "op": "not_in", "value": [store.pk]}) == ids(b, c)
    assert selected({"field": "gender", "op": "in", "value": ["f", ""]}) == ids(a, c)
    assert selected({"field": "gender", "op": "not_in", "value": ["f"]}) == ids(b, c)
    assert selected({"field": "join_source", "op": "in", "value": ["referral"]}) == ids(a, c)


def test_age_band_counts_whole_years_on_the_day():
    # 15 June 2026: born 15 June 2000 is 26 today; born 16 June 2000 is still 25
    twenty_six = MemberFactory(birthday=datetime.date(2000, 6, 15))
    twenty_five = MemberFactory(birthday=datetime.date(2000, 6, 16))
    MemberFactory(birthday=None)

    assert selected({"field": "age", "op": "gte", "value": 26}) == ids(twenty_six)
    assert selected({"field": "age", "op": "lte", "value": 25}) == ids(twenty_five)
    assert selected({"field": "age", "op": "between", "value": [25, 26]}) == ids(twenty_six, twenty_five)


def test_birthday_month_given_or_current():
    june = MemberFactory(birthday=datetime.date(1990, 6, 30))
    july = MemberFactory(birthday=datetime.date(1990, 7, 1))

    assert selected({"field": "birthday_month", "op": "in", "value": [7, 8]}) == ids(july)
    assert selected({"field": "birthday_month", "op": "current"}) == ids(june)


def test_join_date():
    old = MemberFactory(joined_at=NOW - timedelta(days=400))
    recent = MemberFactory(joined_at=NOW - timedelta(days=3))
    MemberFactory(joined_at=None)

    assert selected({"field": "joined", "op": "within_days", "value": 7}) == ids(recent)
    assert selected({"field": "joined", "op": "more_than_days_ago", "value": 7}) == ids(old)
    assert selected({"field": "joined", "op": "after", "value": "2026-06-01"}) == ids(recent)
    assert selected({"field": "joined", "op": "before", "value": "2026-06-01"}) == ids(old)
    assert selected({"field": "joined", "op": "between", "value": ["2025-01-01", "2026-01-01"]}) == ids(old)


def test_days_since_last_purchase_in_whole_days_and_never():
    ten = MemberFactory(last_purchase_at=NOW - timedelta(days=10, hours=1))
    twenty_one = MemberFactory(last_purchase_at=NOW - timedelta(days=21))
    never = MemberFactory(last_purchase_at=None)

    assert selected({"field": "days_since_last_purchase", "op": "gte", "value": 21}) == ids(twenty_one)
    assert selected({"field": "days_since_last_purchase", "op": "lte", "value": 10}) == ids(ten)
    assert selected({"field": "days_since_last_purchase", "op": "between", "value": [10, 21]}) == ids(ten, twenty_one)
    assert selected({"field": "days_since_last_purchase", "op": "never"}) == ids(never)


def buy(member, *, days_ago, paid, stored_value="0.00", status=Purchase.Status.COMPLETED):
    paid, stored_value = Decimal(paid), Decimal(stored_value)
    return PurchaseFactory(
        member=member,
        purchased_at=NOW - timedelta(days=days_ago),
        gross_amount=paid + stored_value,
        stored_value_amount=stored_value,
        paid_amount=paid,
        status=status,
    )


def test_purchase_count_and_spend_in_a_window():
    # given a frequent buyer, a big spender paying partly with stored value, one whose sales are old or refunded
    frequent, big, lapsed = MemberFactory(), MemberFactory(), MemberFactory()
    for days_ago in (1, 5, 20):
        buy(frequent, days_ago=days_ago, paid="50.00")
    buy(big, days_ago=2, paid="600.00", stored_value="400.00")
    buy(lapsed, days_ago=60, paid="900.00")
    buy(lapsed, days_ago=3, paid="900.00", status=Purchase.Status.REFUNDED)
    nobody = MemberFactory()

    assert selected({"field": "purchase_count", "op": "gte", "value": 3, "days": 30}) == ids(frequent)
    assert selected({"field": "purchase_count", "op": "between", "value": [1, 2], "days": 30}) == ids(big)
    assert selected({"field": "purchase_count", "op": "lte", "value": 0, "days": 30}) == ids(lapsed, nobody)
    assert selected({"field": "spend", "op": "gte", "value": "1000", "days": 30}) == ids(big)
    assert selected({"field": "spend", "op": "between", "value": [100, 200], "days": 30}) == ids(frequent)
    assert selected({"field": "spend", "op": "lte", "value": 150, "days": 30}) == ids(frequent, lapsed, nobody)
    assert selected({"field": "spend", "op": "gte", "value": 900, "days": 90}) == ids(big, lapsed)


def test_points_balance_and_points_expiring_within_days():
    soon, later, none = MemberFactory(), MemberFactory(), MemberFactory()
    points_credit(member_id=soon.pk, points=300, idempotency_key="s", now=NOW, expires_at=NOW + timedelta(days=10))
    points_credit(member_id=later.pk, points=500, idempotency_key="l", now=NOW, expires_at=NOW + timedelta(days=90))

    assert selected({"field": "points_balance", "op": "gte", "value": 400}) == ids(later)
    assert selected({"field": "points_balance", "op": "lte", "value": 300}) == ids(soon, none)
    assert selected({"field": "points_expiring", "op": "gte", "value": 100, "days": 30}) == ids(soon)
    assert selected({"field": "points_expiring", "op": "gte", "value": 100, "days": 120}) == ids(soon, later)
    assert selected({"field": "points_expiring", "op": "lte", "value": 0, "days": 30}) == ids(later, none)


def test_unused_coupons_leave_out_used_and_expired_ones():
    from coupons.services import coupon_template_issue_to_member

    template, other_template = CouponTemplateFactory(), CouponTemplateFactory()
    holder, used, expired, other = MemberFactory(), MemberFactory(), MemberFactory(), MemberFactory()
    for member, tpl in ((holder, template), (used, template), (expired, template), (other, other_template)):
        coupon_template_issue_to_member(template_id=tpl.pk, member_id=member.pk, source=Coupon.Source.MANUAL, now=NOW)
    Coupon.objects.filter(member=used).update(status=Coupon.Status.REDEEMED, redeemed_at=NOW)
    Coupon.objects.filter(member=expired).update(valid_until=NOW - timedelta(days=1))

    assert selected({"field": "unused_coupons", "op": "gte", "value": 1}) == ids(holder, other)
    assert selected({"field": "unused_coupons", "op": "gte", "value": 1, "templates": [template.pk]}) == ids(holder)
    assert selected({"field": "unused_coupons", "op": "lte", "value": 0, "templates": [template.pk]}) == ids(
        used, expired, other
    )


@pytest.mark.parametrize("channel", ["marketing", "sms", "email", "wechat"])
def test_consent_per_channel(channel):
    given = MemberFactory(**{f"consent_{channel}": True})
    withheld = MemberFactory()

    assert selected({"field": "consent", "channel": channel, "op": "is", "value": True}) == ids(given)
    assert selected({"field": "consent", "channel": channel, "op": "is", "value": False}) == ids(withheld)


def test_behaviour_counts_rewarded_events_in_the_window():
    try_on = EarningRule.objects.create(
        name="Try-on", kind=EarningRule.Kind.BEHAVIOUR, priority=50, behaviour_event="try_on", bonus_points=5
    )
    share = EarningRule.objects.create(
        name="Share", kind=EarningRule.Kind.BEHAVIOUR, priority=51, behaviour_event="share", bonus_points=5
    )
    twice, sharer, long_ago = MemberFactory(), MemberFactory(), MemberFactory()
    for member, rule, key, days_ago in (
        (twice, try_on, "t1", 1), (twice, try_on, "t2", 2), (sharer, share, "s1", 1), (long_ago, try_on, "o1", 40),
    ):  # fmt: skip
        points_credit(
            member_id=member.pk, points=5, idempotency_key=key, now=NOW - timedelta(days=days_ago),
            source=f"behaviour:{rule.pk}", kind=PointsEntry.Kind.ACCRUAL,
        )  # fmt: skip

    assert selected({"field": "behaviour", "event": "try_on", "op": "gte", "value": 1, "days": 30}) == ids(twice)
    assert selected({"field": "behaviour", "event": "try_on", "op": "gte", "value": 2, "days": 30}) == ids(twice)
    assert selected({"field": "behaviour", "event": "share", "op": "gte", "value": 1, "days": 30}) == ids(sharer)
    assert selected({"field": "behaviour", "event": "try_on", "op": "gte", "value": 1, "days": 60}) == ids(
        twice, long_ago
    )


def test_bucket_between_selects_members_by_their_stable_bucket():
    from campaigns.segments.buckets import member_bucket

    members = MemberFactory.create_batch(40)
    low = {member.pk for member in members if member_bucket(member.pk) < 5000}

    assert selected({"field": "bucket", "op": "between", "value": [0, 4999]}) == low
    assert selected({"field": "bucket", "op": "between", "value": [5000, 9999]}) == ids(*members) - low


def test_all_and_any_groups_nest():
    gold = TierFactory()
    store = StoreFactory()
    a = MemberFactory(tier=gold, consent_sms=True, home_store=store)
    b = MemberFactory(tier=gold, consent_sms=False, home_store=store, birthday=datetime.date(1990, 6, 1))
    c = MemberFactory(tier=None, consent_sms=True, home_store=store)
    MemberFactory(tier=gold, consent_sms=False)

    rule = (
        {"field": "home_store", "op": "in", "value": [store.pk]},
        {
            "match": "any",
            "conditions": [
                {"field": "consent", "channel": "sms", "op": "is", "value": True},
                {
                    "match": "all",
                    "conditions": [
                        {"field": "tier", "op": "in", "value": [gold.pk]},
                        {"field": "birthday_month", "op": "current"},
                    ],
                },
            ],
        },
    )

    assert selected(*rule) == ids(a, b, c)
    assert selected(*rule[1]["conditions"], match="all") == set()
    assert selected({"field": "tier", "op": "in", "value": [gold.pk]}, rule[1]["conditions"][0], match="any") == ids(
        a, b, c, *Member.objects.filter(tier=gold)
    )


def test_an_any_group_with_an_always_true_comparison_keeps_everyone():
    members = MemberFactory.create_batch(2)

    assert selected(
        {"field": "purchase_count", "op": "gte", "value": 0, "days": 30},
        {"field": "tier", "op": "in", "value": [TierFactory().pk]},
        match="any",
    ) == ids(*members)


def test_only_active_members_of_the_store_given_are_selected():
    store = StoreFactory()
    ours = MemberFactory(home_store=store)
    MemberFactory(home_store=store, status=Member.Status.FROZEN)
    MemberFactory(home_store=StoreFactory())

    assert selected({"field": "age", "op": "gte", "value": 0}, {"field": "joined", "op": "within_days", "value": 9},
                    match="any", now=timezone.now(), store_id=store.pk) == ids(ours)  # fmt: skip


def test_a_rule_with_every_kind_of_condition_is_one_query():
    # given a rule using every field (the behaviour's rules are read once while compiling)
    tier, tag, store = TierFactory(), TagFactory(), StoreFactory()
    rule = {
        "match": "any",
        "conditions": [
            {"field": "tier", "op": "in", "value": [tier.pk]},
            {"field": "tags", "op": "all", "value": [tag.pk]},
            {"field": "home_store", "op": "in", "value": [store.pk]},
            {"field": "gender", "op": "in", "value": ["f"]},
            {"field": "age", "op": "between", "value": [20, 30]},
            {"field": "birthday_month", "op": "current"},
            {"field": "joined", "op": "within_days", "value": 30},
            {"field": "join_source", "op": "in", "value": ["referral"]},
            {"field": "days_since_last_purchase", "op": "gte", "value": 21},
            {"field": "purchase_count", "op": "lte", "value": 2, "days": 90},
            {"field": "spend", "op": "between", "value": [100, 500], "days": 90},
            {"field": "points_balance", "op": "gte", "value": 100},
            {"field": "points_expiring", "op": "gte", "value": 1, "days": 30},
            {"field": "unused_coupons", "op": "gte", "value": 1},
            {"field": "consent", "channel": "email", "op": "is", "value": True},
            {"field": "behaviour", "event": "share", "op": "gte", "value": 1, "days": 30},
            {"field": "bucket", "op": "between", "value": [0, 999], "salt": 3},
        ],
    }
    members = segment_members(rule=rule, now=NOW)

    # when it is counted, then that is one query
    with CaptureQueriesContext(connection) as queries:
        members.count()
    assert len(queries.captured_queries) == 1

"""Behaviour bonuses: points per occurrence within per-day and lifetime caps, replay-safe."""

from datetime import timedelta

import pytest

from members.models import Member
from points.errors import UnknownBehaviour
from points.models import EarningRule
from points.services.behaviour import behaviour_reward

pytestmark = pytest.mark.django_db


@pytest.fixture
def share_rule(db):
    return EarningRule.objects.create(
        name="Share +3",
        kind="behaviour",
        priority=500,
        behaviour_event="share",
        bonus_points=3,
        max_times_per_day=2,
        max_times_lifetime=3,
    )


def test_shares_earn_points_up_to_the_daily_cap(member, share_rule, policy, now):
    rewards = [behaviour_reward(member_id=member.pk, event="share", occurrence_key=f"s{i}", now=now) for i in range(3)]

    assert [reward.points for reward in rewards] == [3, 3, 0]
    assert [reward.points_balance for reward in rewards] == [3, 6, 6]
    member.refresh_from_db()
    assert member.points_balance == 6


def test_the_lifetime_cap_holds_across_days(member, share_rule, policy, now):
    points = [
        behaviour_reward(
            member_id=member.pk, event="share", occurrence_key=f"s{day}-{i}", now=now + timedelta(days=day)
        ).points
        for day in range(2)
        for i in range(2)
    ]

    assert points == [3, 3, 3, 0]


def test_a_replayed_occurrence_returns_the_first_grant(member, share_rule, policy, now):
    first = behaviour_reward(member_id=member.pk, event="share", occurrence_key="s1", now=now)
    again = behaviour_reward(member_id=member.pk, event="share", occurrence_key="s1", now=now)

    assert [entry.pk for entry in again.entries] == [entry.pk for entry in first.entries]
    member.refresh_from_db()
    assert member.points_balance == 3


def test_a_behaviour_without_an_active_rule_is_refused(member, share_rule, policy, now):
    with pytest.raises(UnknownBehaviour):
        behaviour_reward(member_id=member.pk, event="try_on", occurrence_key="t1", now=now)


def test_a_member_who_may_not_earn_gets_nothing(member, share_rule, policy, now):
    Member.objects.filter(pk=member.pk).update(status=Member.Status.FROZEN)

    assert behaviour_reward(member_id=member.pk, event="share", occurrence_key="s1", now=now).points == 0

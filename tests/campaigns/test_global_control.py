"""The global control group: the lowest buckets (salt 0) of CAMPAIGN_GLOBAL_CONTROL_PERCENT percent of members."""

import pytest

from campaigns.lift.control import (
    exclude_global_control,
    global_control_buckets,
    global_control_member_ids,
)
from campaigns.models import CampaignRecipient
from campaigns.segments.buckets import member_bucket
from campaigns.services.campaigns import campaign_deliver
from members.models import Member
from tests.campaigns.campaign_factories import CampaignFactory
from tests.factories import MemberFactory


def test_no_member_is_in_the_global_control_by_default():
    assert global_control_buckets() == 0
    assert global_control_member_ids(range(1, 10_001)) == set()


@pytest.mark.parametrize(("percent", "buckets"), [(0, 0), (5, 500), (2.5, 250), (100, 10_000), (-1, 0), (150, 10_000)])
def test_the_percent_is_a_number_of_lowest_buckets(settings, percent, buckets):
    settings.CAMPAIGN_GLOBAL_CONTROL_PERCENT = percent
    assert global_control_buckets() == buckets


def test_members_of_the_lowest_buckets_are_in_the_global_control(settings):
    settings.CAMPAIGN_GLOBAL_CONTROL_PERCENT = 5

    in_control = global_control_member_ids(range(1, 100_001))

    assert in_control == {member_id for member_id in range(1, 100_001) if member_bucket(member_id, 0) < 500}
    # 5 % of any block of members, within chance (binomial standard deviation 69)
    assert 4_800 <= len(in_control) <= 5_200


def test_raising_the_percent_only_adds_members(settings):
    settings.CAMPAIGN_GLOBAL_CONTROL_PERCENT = 5
    five = global_control_member_ids(range(1, 20_001))
    settings.CAMPAIGN_GLOBAL_CONTROL_PERCENT = 10
    ten = global_control_member_ids(range(1, 20_001))

    assert five < ten


@pytest.mark.django_db
def test_the_queryset_filter_excludes_the_same_members(settings):
    settings.CAMPAIGN_GLOBAL_CONTROL_PERCENT = 30
    members = MemberFactory.create_batch(40)
    ids = [member.pk for member in members]

    kept = set(exclude_global_control(Member.objects.filter(pk__in=ids)).values_list("pk", flat=True))

    assert kept == set(ids) - global_control_member_ids(ids)
    assert 0 < len(kept) < len(ids)


@pytest.mark.django_db
def test_the_queryset_filter_changes_nothing_without_a_global_control():
    members = Member.objects.all()
    assert exclude_global_control(members) is members


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("is_marketing", "respects", "kept_out"),
    [(True, True, True), (True, False, False), (False, True, False)],
)
def test_campaign_deliver_keeps_the_global_control_out_of_marketing_campaigns(
    settings, now, is_marketing, respects, kept_out
):
    # given a 50 % global control group and members on both sides of it
    settings.CAMPAIGN_GLOBAL_CONTROL_PERCENT = 50
    members = MemberFactory.create_batch(12)
    ids = [member.pk for member in members]
    in_control = global_control_member_ids(ids)
    assert 0 < len(in_control) < len(ids)
    campaign = CampaignFactory(is_marketing=is_marketing, respects_global_control=respects)

    # when the campaign is delivered to all of them
    result = campaign_deliver(campaign_id=campaign.pk, member_ids=ids, occasion="run:1", now=now)

    # then the control group gets no row at all (so the campaign's own hold-out split is among the others only)
    reached = set(CampaignRecipient.objects.filter(campaign=campaign).values_list("member_id", flat=True))
    if kept_out:
        assert reached == set(ids) - in_control
        assert result.skipped == len(in_control)
    else:
        assert reached == set(ids)

"""A scheduled campaign's occasion whose time passed while beat (or its worker) was down is started when beat is
back, within CAMPAIGN_CATCH_UP_HOURS, with that day's audience; later than that, or before the campaign was live,
the day is let go."""

import datetime

import pytest

from campaigns.models import Campaign, CampaignRecipient, CampaignRun
from campaigns.services.campaign_runs import (
    campaign_launch,
    campaign_pause,
    campaign_resume,
)
from members.models import Role
from tests.campaigns.campaign_factories import CampaignFactory
from tests.factories import MemberFactory, UserFactory

pytestmark = pytest.mark.django_db
Kind = Campaign.Kind
HK = datetime.timezone(datetime.timedelta(hours=8))


def at(month, day, hour=10, minute=0):
    return datetime.datetime(2026, month, day, hour, minute, tzinfo=HK)


def live(**fields):
    """A scheduled campaign, live since 1 December."""
    return CampaignFactory(status=Campaign.Status.SCHEDULED, live_since=at(12, 1), **fields)


def run_keys(campaign):
    return list(CampaignRun.objects.filter(campaign=campaign).order_by("pk").values_list("key", "day"))


def test_a_member_day_missed_overnight_is_started_when_beat_is_back(run_beat):
    # given a member day on Tuesdays at 20:00, and beat down from Tuesday 19:00 to Wednesday 07:00
    member = MemberFactory()
    campaign = live(kind=Kind.MEMBER_DAY, params={"weekday": 1}, send_at=datetime.time(20))
    run_beat(at(12, 8, 19, 0))

    # when beat is back on Wednesday morning
    assert run_beat(at(12, 9, 7, 0))["started"] == 1

    # then Tuesday's run goes, as Tuesday's, once
    assert run_keys(campaign) == [(f"campaign:{campaign.pk}:2026-12-08", datetime.date(2026, 12, 8))]
    assert list(CampaignRecipient.objects.values_list("member_id", flat=True)) == [member.pk]
    assert run_beat(at(12, 9, 7, 5))["started"] == 0


def test_a_missed_birthday_reaches_those_born_on_the_missed_day_not_today(run_beat):
    # given a birthday greeting at 20:00 and beat down on the evening of 8 December
    born_8th = MemberFactory(birthday=datetime.date(1990, 12, 8))
    born_9th = MemberFactory(birthday=datetime.date(1991, 12, 9))
    campaign = live(kind=Kind.BIRTHDAY, params={"mode": "day"}, send_at=datetime.time(20))

    # when beat is back on the 9th at 07:00, then runs on
    assert run_beat(at(12, 9, 7, 0))["started"] == 1
    assert run_beat(at(12, 9, 20, 0))["started"] == 1

    # then the 8th's run reaches those born on the 8th, and the 9th's those born on the 9th
    runs = CampaignRun.objects.filter(campaign=campaign)
    by_day = {run.day: set(run.recipients.values_list("member_id", flat=True)) for run in runs}
    assert by_day == {datetime.date(2026, 12, 8): {born_8th.pk}, datetime.date(2026, 12, 9): {born_9th.pk}}


@pytest.mark.parametrize(("window_hours", "started"), [(12, 0), (16, 1)])
def test_a_day_missed_longer_than_the_catch_up_window_is_let_go(run_beat, settings, window_hours, started):
    settings.CAMPAIGN_CATCH_UP_HOURS = window_hours
    MemberFactory()
    live(kind=Kind.MEMBER_DAY, params={"weekday": 1}, send_at=datetime.time(10))

    # 8 December 10:00 was due; beat is back 14 hours later
    assert run_beat(at(12, 9, 0, 0))["started"] == started


def test_a_day_before_the_campaign_was_launched_is_not_owed(run_beat):
    MemberFactory()
    campaign = CampaignFactory(
        status=Campaign.Status.DRAFT, kind=Kind.MEMBER_DAY, params={"weekday": 1}, send_at=datetime.time(20)
    )

    # launched on Wednesday at 07:00, the Tuesday evening before it was live
    campaign_launch(campaign_id=campaign.pk, user=UserFactory(role=Role.MERCHANT_ADMIN), now=at(12, 9, 7, 0))
    run_beat(at(12, 9, 7, 5))

    assert run_keys(campaign) == []


def test_a_day_the_campaign_was_paused_over_is_not_caught_up_when_it_is_resumed(run_beat):
    admin = UserFactory(role=Role.MERCHANT_ADMIN)
    MemberFactory()
    campaign = live(kind=Kind.MEMBER_DAY, params={"weekday": 1}, send_at=datetime.time(20))

    campaign_pause(campaign_id=campaign.pk, user=admin, now=at(12, 8, 18))
    campaign_resume(campaign_id=campaign.pk, user=admin, now=at(12, 9, 7))
    run_beat(at(12, 9, 7, 5))

    assert run_keys(campaign) == []
    campaign.refresh_from_db()
    assert campaign.live_since == at(12, 9, 7)


def test_win_back_does_not_catch_up_a_missed_day_its_next_run_covers(run_beat):
    lapsed = MemberFactory(last_purchase_at=at(11, 1))
    campaign = live(kind=Kind.WIN_BACK, params={"days": 21}, send_at=datetime.time(20))

    run_beat(at(12, 9, 7, 0))  # the 8th's run was missed; the 9th's is not due yet
    assert run_keys(campaign) == []
    run_beat(at(12, 9, 20, 0))

    assert list(CampaignRecipient.objects.values_list("member_id", flat=True)) == [lapsed.pk]


def test_a_missed_last_day_is_caught_up_before_the_campaign_finishes(run_beat):
    # given a festival campaign whose only and last day is 8 December at 20:00, and beat down that evening
    member = MemberFactory()
    campaign = live(
        kind=Kind.DATE, params={"dates": ["2026-12-08"]}, ends_on=datetime.date(2026, 12, 8), send_at=datetime.time(20)
    )

    # when beat is back the next morning, then a minute later
    first = run_beat(at(12, 9, 7, 0))
    second = run_beat(at(12, 9, 7, 1))

    # then the day's run went out first, and the campaign finished after it
    assert (first, second) == ({"started": 1, "finished": 0}, {"started": 0, "finished": 1})
    assert list(CampaignRecipient.objects.values_list("member_id", flat=True)) == [member.pk]
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.FINISHED

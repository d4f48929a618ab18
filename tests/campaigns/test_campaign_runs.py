"""Scheduled kinds end to end: the beat starts each due run once, its chunks deliver, the check finishes it."""

import datetime

import pytest

from campaigns.models import Campaign, CampaignRecipient, CampaignRun, Segment, SegmentFreeze
from campaigns.services.campaign_runs import campaign_launch, campaign_run_resume
from campaigns.tasks import check_campaign_runs, run_due_campaigns
from members.models import Member, Notification, OutboxMessage
from tests.campaigns.campaign_factories import CampaignFactory
from tests.factories import MemberFactory, TierFactory

pytestmark = pytest.mark.django_db
Kind = Campaign.Kind
HK = datetime.timezone(datetime.timedelta(hours=8))


def at(year, month, day, hour=10, minute=0):
    return datetime.datetime(year, month, day, hour, minute, tzinfo=HK)


def scheduled(**fields):
    return CampaignFactory(status=Campaign.Status.SCHEDULED, **fields)


def reached(campaign):
    return set(CampaignRecipient.objects.filter(campaign=campaign).values_list("member_id", flat=True))


def test_a_broadcast_goes_once_at_its_send_time_then_finishes(run_beat):
    members = MemberFactory.create_batch(3)
    MemberFactory(status=Member.Status.VISITOR)
    campaign = scheduled(starts_on=datetime.date(2026, 12, 8), send_at=datetime.time(10, 0))

    assert run_beat(at(2026, 12, 8, 9, 55))["started"] == 0  # not yet
    assert run_beat(at(2026, 12, 8, 10, 0))["started"] == 1
    assert run_beat(at(2026, 12, 8, 10, 5))["started"] == 0  # once

    assert reached(campaign) == {m.pk for m in members}
    run = CampaignRun.objects.get()
    assert (run.key, run.status, run.audience_count, run.delivered_count) == (
        f"campaign:{campaign.pk}:broadcast",
        CampaignRun.Status.FINISHED,
        3,
        3,
    )
    assert set(CampaignRecipient.objects.values_list("occasion", flat=True)) == {f"run:{run.pk}"}
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.FINISHED


def test_a_broadcast_to_a_segment_sends_to_its_members_frozen_at_the_start(
    run_beat, django_capture_on_commit_callbacks
):
    gold = TierFactory()
    members = MemberFactory.create_batch(2, tier=gold)
    MemberFactory()
    segment = Segment.objects.create(
        name="Gold", rule={"match": "all", "conditions": [{"field": "tier", "op": "in", "value": [gold.pk]}]}
    )
    campaign = CampaignFactory(status=Campaign.Status.DRAFT, segment=segment)
    with django_capture_on_commit_callbacks(execute=True):
        campaign_launch(campaign_id=campaign.pk, user=None, now=at(2026, 12, 8))  # no send time: at once
    run = CampaignRun.objects.get()
    freeze = SegmentFreeze.objects.get()
    assert (run.freeze_id, freeze.key, freeze.member_count) == (freeze.pk, f"campaign-run:{run.pk}", 2)
    assert reached(campaign) == {m.pk for m in members}


def test_a_recurring_campaign_runs_on_its_weekdays_once_a_day(run_beat):
    member = MemberFactory()
    campaign = scheduled(kind=Kind.RECURRING, params={"every": "weekday", "weekdays": [2]}, send_at=datetime.time(9))
    for day in range(7, 17):  # 2026-12-07 is a Monday
        run_beat(at(2026, 12, day, 9, 30))
        run_beat(at(2026, 12, day, 9, 35))
    runs = list(CampaignRun.objects.order_by("pk").values_list("key", flat=True))
    assert runs == [f"campaign:{campaign.pk}:2026-12-09", f"campaign:{campaign.pk}:2026-12-16"]
    assert CampaignRecipient.objects.filter(member=member).count() == 2
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.RUNNING  # a recurring campaign runs until its last day


def test_a_recurring_campaign_finishes_after_its_last_day(run_beat):
    campaign = scheduled(kind=Kind.RECURRING, params={"every": "day"}, ends_on=datetime.date(2026, 12, 8))
    run_beat(at(2026, 12, 8))
    assert run_beat(at(2026, 12, 9))["finished"] == 1
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.FINISHED
    assert CampaignRun.objects.count() == 1


def test_a_birthday_on_the_day_reaches_those_born_that_day_once_a_year(run_beat):
    today = MemberFactory(birthday=datetime.date(1990, 12, 8))
    tomorrow = MemberFactory(birthday=datetime.date(1990, 12, 9))
    MemberFactory(birthday=None)
    scheduled(kind=Kind.BIRTHDAY, params={"mode": "day"}, points_bonus=100)
    run_beat(at(2026, 12, 8))
    run_beat(at(2026, 12, 9))
    run_beat(at(2027, 12, 8))
    rows = list(CampaignRecipient.objects.order_by("pk").values_list("member_id", "occasion"))
    assert rows == [(today.pk, "birthday:2026"), (tomorrow.pk, "birthday:2026"), (today.pk, "birthday:2027")]
    today.refresh_from_db()
    assert today.points_balance == 200


def test_a_29_february_birthday_is_kept_on_the_28th_in_other_years(run_beat):
    leap = MemberFactory(birthday=datetime.date(2000, 2, 29))
    campaign = scheduled(kind=Kind.BIRTHDAY)
    run_beat(at(2027, 2, 28))
    assert reached(campaign) == {leap.pk}


def test_a_birthday_month_campaign_reaches_the_months_members_once(run_beat):
    joined = at(2026, 1, 1)  # members before the month's run (a member who joined after it is not in it)
    december = MemberFactory(birthday=datetime.date(1985, 12, 25), joined_at=joined)
    MemberFactory(birthday=datetime.date(1985, 11, 25), joined_at=joined)
    campaign = scheduled(kind=Kind.BIRTHDAY, params={"mode": "month"})
    for day in (1, 2, 15):
        run_beat(at(2026, 12, day))
    assert list(CampaignRun.objects.values_list("key", flat=True)) == [f"campaign:{campaign.pk}:2026-12"]
    assert list(CampaignRecipient.objects.values_list("member_id", "occasion")) == [(december.pk, "birthday:2026")]


def test_a_member_who_joins_after_a_run_started_is_not_in_it_and_the_run_finishes(run_beat):
    # given a birthday-month run started on 1 December (its audience read live), and a member with a December
    # birthday who joins on the 10th
    MemberFactory(birthday=datetime.date(1985, 12, 25), joined_at=at(2026, 1, 1))
    campaign = scheduled(kind=Kind.BIRTHDAY, params={"mode": "month"})
    run_beat(at(2026, 12, 1))
    # (still open then: waiting for a message's retry, say)
    CampaignRun.objects.filter(campaign=campaign).update(status=CampaignRun.Status.SENDING, finished_at=None)
    MemberFactory(birthday=datetime.date(1990, 12, 3), joined_at=at(2026, 12, 10))

    # when beat checks the run on the 11th
    run_beat(at(2026, 12, 11))

    # then the run has finished with the member it had, instead of waiting for ever for the newcomer
    run = CampaignRun.objects.get(campaign=campaign)
    assert (run.status, CampaignRecipient.objects.filter(run=run).count()) == (CampaignRun.Status.FINISHED, 1)


def test_a_festival_campaign_runs_on_its_dates(run_beat):
    member = MemberFactory()
    campaign = scheduled(kind=Kind.DATE, params={"dates": ["2027-02-06", "2027-02-10"]})
    for day in range(5, 12):
        run_beat(at(2027, 2, day))
    assert CampaignRun.objects.filter(campaign=campaign).count() == 2
    assert CampaignRecipient.objects.filter(member=member).count() == 2


@pytest.mark.parametrize(
    ("params", "due_days"),
    [({"weekday": 2}, [2, 9, 16, 23, 30]), ({"day_of_month": 8}, [8]), ({"day_of_month": 31}, [30])],
)
def test_a_member_day_runs_on_its_weekday_or_day_of_the_month(run_beat, params, due_days):
    MemberFactory()
    campaign = scheduled(kind=Kind.MEMBER_DAY, params=params)
    for day in range(1, 31):  # September 2026: 30 days, the 2nd is a Wednesday
        run_beat(at(2026, 9, day))
    keys = sorted(CampaignRun.objects.filter(campaign=campaign).values_list("key", flat=True))
    assert keys == [f"campaign:{campaign.pk}:2026-09-{day:02d}" for day in due_days]


def test_win_back_welcomes_a_lapsed_member_once_per_lapse(run_beat):
    lapsed = MemberFactory(last_purchase_at=at(2026, 11, 10, 15))
    MemberFactory(last_purchase_at=at(2026, 11, 30, 15))  # bought 8 days ago
    MemberFactory(last_purchase_at=None)  # never bought: nothing to win back
    scheduled(kind=Kind.WIN_BACK, params={"days": 21})
    run_beat(at(2026, 12, 8))
    run_beat(at(2026, 12, 9))
    assert list(CampaignRecipient.objects.values_list("member_id", "occasion")) == [(lapsed.pk, "winback:2026-11-10")]
    # the member comes back, then lapses again: welcomed back again
    Member.objects.filter(pk=lapsed.pk).update(last_purchase_at=at(2026, 12, 10, 12))
    run_beat(at(2027, 1, 5))
    assert sorted(CampaignRecipient.objects.filter(member=lapsed).values_list("occasion", flat=True)) == [
        "winback:2026-11-10",
        "winback:2026-12-10",
    ]


def test_a_run_is_not_finished_while_a_message_waits_for_a_retry(run_beat):
    member = MemberFactory(consent_marketing=True, consent_sms=True)
    campaign = scheduled(channels=["sms"])
    run_beat(at(2026, 12, 8))
    run = CampaignRun.objects.get()
    assert run.status == CampaignRun.Status.SENDING  # the SMS is pending
    OutboxMessage.objects.update(attempts=1)  # it failed once and waits for its retry
    check_campaign_runs()
    run.refresh_from_db()
    assert run.status == CampaignRun.Status.RETRYING
    OutboxMessage.objects.update(status=OutboxMessage.Status.SENT)
    check_campaign_runs()
    run.refresh_from_db()
    assert run.status == CampaignRun.Status.FINISHED
    assert Notification.objects.filter(member=member).count() == 1
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.FINISHED


def test_a_run_whose_chunk_failed_resumes_and_reaches_everyone_once(
    run_beat, settings, monkeypatch, django_capture_on_commit_callbacks
):
    settings.CAMPAIGN_CHUNK_SIZE = 2
    members = MemberFactory.create_batch(7)
    campaign = scheduled(points_bonus=5)
    from campaigns.services import campaign_runs

    real_deliver = campaign_runs.campaign_deliver
    calls = []

    def deliver_failing_third_chunk(**kwargs):
        calls.append(kwargs["member_ids"])
        if len(calls) == 3:
            raise RuntimeError("worker lost")
        return real_deliver(**kwargs)

    monkeypatch.setattr(campaign_runs, "campaign_deliver", deliver_failing_third_chunk)
    with pytest.raises(RuntimeError):
        run_beat(at(2026, 12, 8))
    run = CampaignRun.objects.get()
    assert (run.chunks_total, run.chunks_done, len(reached(campaign))) == (4, 2, 4)
    check_campaign_runs()
    run.refresh_from_db()
    assert run.status == CampaignRun.Status.SENDING  # not everyone reached

    monkeypatch.setattr(campaign_runs, "campaign_deliver", real_deliver)
    with django_capture_on_commit_callbacks(execute=True):
        campaign_run_resume(run_id=run.pk, now=at(2026, 12, 8, 11))
    check_campaign_runs()
    run.refresh_from_db()
    assert run.status == CampaignRun.Status.FINISHED
    assert reached(campaign) == {m.pk for m in members}
    assert CampaignRecipient.objects.count() == 7
    assert {m.points_balance for m in Member.objects.filter(pk__in=[m.pk for m in members])} == {5}


def test_the_beat_task_starts_the_due_runs(settings):
    MemberFactory()
    scheduled()
    assert run_due_campaigns() == {"started": 1, "finished": 0}

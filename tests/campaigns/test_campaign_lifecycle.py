"""The lifecycle (draft -> scheduled -> running <-> paused -> finished), its refusals, and saving a campaign's
settings (each kind's params checked, naming the field)."""

import datetime
from decimal import Decimal

import pytest

from campaigns.errors import CampaignInvalid, CampaignPermissionDenied, CampaignStatusInvalid
from campaigns.models import Campaign, CampaignRecipient, CampaignRun
from campaigns.services.campaign_runs import campaign_finish, campaign_launch, campaign_pause, campaign_resume
from campaigns.services.campaigns import campaign_save
from members.models import Role
from tests.campaigns.campaign_factories import CampaignFactory
from tests.factories import MemberFactory, StoreFactory, UserFactory

pytestmark = pytest.mark.django_db
Status = Campaign.Status
HK = datetime.timezone(datetime.timedelta(hours=8))
NOW = datetime.datetime(2026, 12, 8, 10, 0, tzinfo=HK)


def draft(**fields):
    return CampaignFactory(status=Status.DRAFT, **fields)


def test_launching_a_broadcast_due_now_sends_it_at_once(django_capture_on_commit_callbacks):
    members = MemberFactory.create_batch(2)
    campaign = draft()
    with django_capture_on_commit_callbacks(execute=True):
        launched = campaign_launch(campaign_id=campaign.pk, user=None, now=NOW)
    assert launched.status == Status.RUNNING
    assert set(CampaignRecipient.objects.values_list("member_id", flat=True)) == {m.pk for m in members}


def test_a_broadcast_for_later_waits_scheduled():
    campaign = draft(starts_on=datetime.date(2026, 12, 24), send_at=datetime.time(9))
    assert campaign_launch(campaign_id=campaign.pk, user=None, now=NOW).status == Status.SCHEDULED
    assert not CampaignRun.objects.exists()


def test_an_event_kind_runs_from_its_launch():
    campaign = draft(kind=Campaign.Kind.WELCOME)
    assert campaign_launch(campaign_id=campaign.pk, user=None, now=NOW).status == Status.RUNNING


@pytest.mark.parametrize(
    ("status", "step"),
    [
        (Status.SCHEDULED, campaign_launch),
        (Status.RUNNING, campaign_launch),
        (Status.DRAFT, campaign_pause),
        (Status.FINISHED, campaign_pause),
        (Status.RUNNING, campaign_resume),
        (Status.DRAFT, campaign_resume),
        (Status.DRAFT, campaign_finish),
        (Status.FINISHED, campaign_finish),
    ],
)
def test_a_step_the_lifecycle_does_not_allow_is_refused(status, step):
    campaign = CampaignFactory(status=status)
    with pytest.raises(CampaignStatusInvalid) as refused:
        step(campaign_id=campaign.pk, user=None, now=NOW)
    assert refused.value.code == "campaign_status_invalid"
    campaign.refresh_from_db()
    assert campaign.status == status


def test_a_paused_campaigns_queued_chunks_wait_for_the_resume(django_capture_on_commit_callbacks, settings):
    settings.CAMPAIGN_CHUNK_SIZE = 1
    members = MemberFactory.create_batch(3)
    campaign = CampaignFactory(status=Status.SCHEDULED)
    from campaigns.kinds import occasion_due
    from campaigns.services.campaign_runs import campaign_run_chunk, campaign_run_prepare, campaign_run_start

    occasion = occasion_due(campaign=campaign, today=NOW.date())
    run, _created = campaign_run_start(campaign_id=campaign.pk, occasion=occasion, now=NOW)  # chunks run by hand
    campaign_run_prepare(run_id=run.pk, now=NOW)
    campaign_run_chunk(run_id=run.pk, first_id=members[0].pk, last_id=members[0].pk, now=NOW)
    campaign_pause(campaign_id=campaign.pk, user=None, now=NOW)
    assert campaign_run_chunk(run_id=run.pk, first_id=members[1].pk, last_id=members[1].pk, now=NOW) is None
    assert CampaignRecipient.objects.count() == 1

    with django_capture_on_commit_callbacks(execute=True):
        resumed = campaign_resume(campaign_id=campaign.pk, user=None, now=NOW)
    assert resumed.status == Status.RUNNING
    assert CampaignRecipient.objects.count() == 3


def test_finishing_stops_the_campaign_and_marks_an_unfinished_run_failed():
    campaign = CampaignFactory(status=Status.RUNNING)
    run = CampaignRun.objects.create(campaign=campaign, key="k", status="sending", chunks_total=2, chunks_done=1)
    campaign_finish(campaign_id=campaign.pk, user=None, now=NOW)
    run.refresh_from_db()
    assert run.status == CampaignRun.Status.FAILED


def test_a_clerk_may_not_launch_and_another_stores_manager_may_not_touch():
    store, other = StoreFactory(), StoreFactory()
    campaign = draft(store=store)
    clerk = UserFactory(role=Role.CLERK, store=store)
    manager_b = UserFactory(role=Role.STORE_MANAGER, store=other)
    for user in (clerk, manager_b):
        with pytest.raises(CampaignPermissionDenied):
            campaign_launch(campaign_id=campaign.pk, user=user, now=NOW)
    manager = UserFactory(role=Role.STORE_MANAGER, store=store)
    assert campaign_launch(campaign_id=campaign.pk, user=manager, now=NOW).status == Status.RUNNING


# -- saving -----------------------------------------------------------------------------------------------------
def unsaved(**fields):
    defaults = {"name": "Offer", "kind": Campaign.Kind.BROADCAST, "message_title": "Hello"}
    return Campaign(**{**defaults, **fields})


@pytest.mark.parametrize(
    ("kind", "params", "field"),
    [
        (Campaign.Kind.BIRTHDAY, {"mode": "week"}, "params.mode"),
        (Campaign.Kind.BIRTHDAY, {"colour": "red"}, "params.colour"),
        (Campaign.Kind.WIN_BACK, {"days": 0}, "params.days"),
        (Campaign.Kind.WIN_BACK, {"days": "21"}, "params.days"),
        (Campaign.Kind.MEMBER_DAY, {}, "params.weekday"),
        (Campaign.Kind.MEMBER_DAY, {"weekday": 2, "day_of_month": 8}, "params.weekday"),
        (Campaign.Kind.DATE, {"dates": ["2027-13-01"]}, "params.dates"),
        (Campaign.Kind.DATE, {}, "params.dates"),
        (Campaign.Kind.RECURRING, {"every": "weekday"}, "params.weekdays"),
        (Campaign.Kind.NEAR_STORE, {"radius_m": 300, "windows": [["09:00", "08:00"]]}, "params.windows"),
        (Campaign.Kind.AFTER_PURCHASE, {"min_amount": "lots"}, "params.min_amount"),
    ],
)
def test_bad_settings_of_a_kind_are_refused_naming_the_field(kind, params, field):
    with pytest.raises(CampaignInvalid) as refused:
        campaign_save(campaign=unsaved(kind=kind, params=params), user=None)
    assert field in refused.value.fields
    assert not Campaign.objects.exists()


def test_a_kinds_defaults_are_filled_in():
    campaign = campaign_save(campaign=unsaved(kind=Campaign.Kind.WIN_BACK, params={}), user=None)
    assert (campaign.status, campaign.params) == (Status.DRAFT, {"days": 21})


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"channels": ["fax"]}, "channels"),
        ({"message_title": "Hi {nickname}"}, "message_title_en"),
        ({"message_title": "", "message_body": ""}, "message_title"),
        ({"is_marketing": False}, "is_marketing"),
        ({"kind": Campaign.Kind.COUPON_EXPIRING, "is_marketing": False}, "is_marketing"),  # invites a purchase
        ({"kind": Campaign.Kind.POINTS_EXPIRING, "is_marketing": False, "points_bonus": 50}, "is_marketing"),
        ({"starts_on": datetime.date(2027, 1, 2), "ends_on": datetime.date(2027, 1, 1)}, "ends_on"),
        ({"send_at": datetime.time(23, 58)}, "send_at"),  # after the due-runs job's last round of the day
        # The multiplier window: above 1 (x1 changes nothing) and at most 10, and it needs its length in days.
        ({"multiplier": Decimal("1"), "multiplier_days": 7}, "multiplier"),
        ({"multiplier": Decimal("0.5"), "multiplier_days": 7}, "multiplier"),
        ({"multiplier": Decimal("-2"), "multiplier_days": 7}, "multiplier"),
        ({"multiplier": Decimal("10.01"), "multiplier_days": 7}, "multiplier"),
        ({"multiplier": Decimal("99.99"), "multiplier_days": 7}, "multiplier"),
        ({"multiplier": Decimal("2"), "multiplier_days": None}, "multiplier_days"),
        ({"multiplier": Decimal("2"), "multiplier_days": 0}, "multiplier_days"),
    ],
)
def test_bad_settings_are_refused_naming_the_field(fields, field):
    with pytest.raises(CampaignInvalid) as refused:
        campaign_save(campaign=unsaved(**fields), user=None)
    assert field in refused.value.fields
    assert not Campaign.objects.exists()


@pytest.mark.parametrize("multiplier", [Decimal("1"), Decimal("10.5")])
def test_a_multiplier_out_of_range_is_refused_with_the_range_in_the_message(multiplier):
    with pytest.raises(CampaignInvalid) as refused:
        campaign_save(campaign=unsaved(multiplier=multiplier, multiplier_days=7), user=None)
    assert refused.value.fields == {"multiplier": ["Give a multiplier above 1 and at most 10."]}


@pytest.mark.parametrize("multiplier", [Decimal("1.01"), Decimal("10")])
def test_a_multiplier_at_the_edges_of_its_range_saves(multiplier):
    campaign = campaign_save(campaign=unsaved(multiplier=multiplier, multiplier_days=7), user=None)
    assert campaign.multiplier == multiplier


def test_a_multiplier_window_reward_saves_with_its_length():
    campaign = campaign_save(campaign=unsaved(multiplier=2, multiplier_days=7), user=None)
    assert (campaign.multiplier, campaign.multiplier_days) == (2, 7)


def test_the_hold_out_is_fixed_once_members_were_reached_so_nobody_changes_group():
    # given a paused campaign that reached a member with a 20 % hold-out, and a draft with none reached
    reached = CampaignFactory(status=Campaign.Status.PAUSED, holdout_percent=20)
    CampaignRecipient.objects.create(campaign=reached, member=MemberFactory(), occasion="once", created_at=NOW)
    draft = CampaignFactory(status=Campaign.Status.DRAFT, holdout_percent=20)

    # when the merchant lowers both to 10 %
    reached.holdout_percent = draft.holdout_percent = 10
    with pytest.raises(CampaignInvalid) as refused:
        campaign_save(campaign=reached, user=None)
    campaign_save(campaign=draft, user=None)

    # then the reached campaign keeps its share, the draft takes the new one
    assert list(refused.value.fields) == ["holdout_percent"]
    reached.refresh_from_db()
    draft.refresh_from_db()
    assert (reached.holdout_percent, draft.holdout_percent) == (20, 10)


def test_a_running_campaign_cannot_be_changed():
    campaign = CampaignFactory(status=Status.RUNNING)
    campaign.points_bonus = 1000
    with pytest.raises(CampaignStatusInvalid):
        campaign_save(campaign=campaign, user=None)


def test_a_store_manager_saves_only_their_stores_campaigns():
    store, other = StoreFactory(), StoreFactory()
    manager = UserFactory(role=Role.STORE_MANAGER, store=store)
    with pytest.raises(CampaignPermissionDenied):
        campaign_save(campaign=unsaved(store=other), user=manager)
    with pytest.raises(CampaignPermissionDenied):
        campaign_save(campaign=unsaved(store=None), user=manager)
    saved = campaign_save(campaign=unsaved(store=store), user=manager)
    assert (saved.store_id, saved.created_by_id) == (store.pk, manager.pk)

"""Campaigns in the console: the list and form scoped to the store, launch behind its permission."""

import pytest
from django.urls import reverse

from campaigns.models import Campaign, CampaignRecipient, CampaignRun
from tests.campaigns.campaign_factories import CampaignFactory
from tests.console_helpers import make_staff
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db
CHANGELIST = "admin:campaigns_campaign_changelist"


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def staff():
    return make_staff()


def launch(client, campaign):
    return client.post(
        reverse(CHANGELIST), {"action": "launch_selected", "_selected_action": [campaign.pk]}, follow=True
    )


def test_a_manager_lists_only_their_stores_campaigns(client, staff):
    mine = CampaignFactory(store=staff["manager_a"].store, name="Mine")
    CampaignFactory(store=staff["manager_b"].store, name="Theirs")
    client.force_login(staff["manager_a"])
    page = client.get(reverse(CHANGELIST))
    assert page.status_code == 200
    assert [c.pk for c in page.context["cl"].result_list] == [mine.pk]


def test_another_stores_manager_can_neither_see_nor_edit(client, staff):
    theirs = CampaignFactory(store=staff["manager_b"].store, status=Campaign.Status.DRAFT)
    client.force_login(staff["manager_a"])
    url = reverse("admin:campaigns_campaign_change", args=[theirs.pk])
    assert client.get(url).status_code in (302, 404)
    client.post(url, {"name_en": "Stolen"})
    theirs.refresh_from_db()
    assert theirs.name != "Stolen"


def test_a_manager_launches_their_draft_from_the_list(client, staff):
    MemberFactory(home_store=staff["manager_a"].store)
    campaign = CampaignFactory(store=staff["manager_a"].store, status=Campaign.Status.DRAFT)
    client.force_login(staff["manager_a"])
    page = launch(client, campaign)
    assert page.status_code == 200
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.RUNNING
    assert CampaignRun.objects.filter(campaign=campaign).exists()
    assert campaign.history.first().history_user == staff["manager_a"]


def test_a_clerk_cannot_see_campaigns_nor_launch_one(client, staff):
    campaign = CampaignFactory(store=staff["clerk_a"].store, status=Campaign.Status.DRAFT)
    client.force_login(staff["clerk_a"])
    assert client.get(reverse(CHANGELIST)).status_code == 403
    launch(client, campaign)
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.DRAFT


def test_a_refused_step_is_told_and_changes_nothing(client, staff):
    campaign = CampaignFactory(store=staff["manager_a"].store, status=Campaign.Status.FINISHED)
    client.force_login(staff["manager_a"])
    page = launch(client, campaign)
    assert "cannot do this" in page.content.decode()
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.FINISHED


def test_the_form_refuses_bad_kind_settings_naming_them(client, staff):
    client.force_login(staff["merchant_admin"])
    page = client.post(
        reverse("admin:campaigns_campaign_add"),
        {
            "name_en": "Birthday",
            "kind": "birthday",
            "params": '{"mode": "week"}',
            "message_title_en": "Happy birthday",
            "points_bonus": "0",
            "holdout_percent": "0",
            "lift_days": "14",
            "is_marketing": "on",
            "respects_global_control": "on",
        },
    )
    assert page.status_code == 200
    assert "params.mode" in str(page.context["adminform"].form.errors)
    assert not Campaign.objects.exists()


def test_the_form_saves_a_campaign_through_the_service(client, staff):
    client.force_login(staff["manager_a"])
    page = client.post(
        reverse("admin:campaigns_campaign_add"),
        {
            "name_en": "Member day",
            "store": staff["manager_a"].store.pk,
            "kind": "member_day",
            "params": '{"weekday": 2}',
            "message_title_en": "It's member day, {first_name}",
            "channels": ["sms"],
            "points_bonus": "20",
            "holdout_percent": "10",
            "lift_days": "14",
            "is_marketing": "on",
            "respects_global_control": "on",
        },
    )
    assert page.status_code == 302, page.context["adminform"].form.errors
    campaign = Campaign.objects.get()
    assert (campaign.status, campaign.params, campaign.channels, campaign.created_by) == (
        Campaign.Status.DRAFT,
        {"weekday": 2},
        ["sms"],
        staff["manager_a"],
    )


def test_runs_and_recipients_are_read_only_and_scoped(client, staff):
    theirs = CampaignFactory(store=staff["manager_b"].store)
    run = CampaignRun.objects.create(campaign=theirs, key="k")
    CampaignRecipient.objects.create(
        campaign=theirs, member=MemberFactory(), occasion="x", run=run, created_at="2026-12-08T10:00:00Z"
    )
    client.force_login(staff["manager_a"])
    runs = client.get(reverse("admin:campaigns_campaignrun_changelist"))
    recipients = client.get(reverse("admin:campaigns_campaignrecipient_changelist"))
    assert (runs.status_code, recipients.status_code) == (200, 200)
    assert list(runs.context["cl"].result_list) == []
    assert list(recipients.context["cl"].result_list) == []
    client.force_login(staff["merchant_admin"])
    assert client.get(reverse("admin:campaigns_campaignrun_add")).status_code == 403

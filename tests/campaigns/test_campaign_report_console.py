"""The campaign's report page and its CSV in the console: the lift in plain words, the split warning, and who may
open them (campaigns.view_campaign and the store scope)."""

import csv
import io
from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from campaigns.models import Campaign, CampaignRecipient, CampaignRun
from tests.campaigns.campaign_factories import CampaignFactory
from tests.console_helpers import make_staff
from tests.factories import MemberFactory, PurchaseFactory

pytestmark = pytest.mark.django_db

REPORT = "admin:campaigns_campaign_report"
REPORT_CSV = "admin:campaigns_campaign_report_csv"


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def staff():
    staff = make_staff()
    view_campaign = Permission.objects.get(content_type__app_label="campaigns", codename="view_campaign")
    for name in ("manager_a", "manager_b"):
        # the roles' permissions are the campaign admin's to decide; the managers here may view campaigns
        staff[name].user_permissions.add(view_campaign)
    return staff


def _recipients(campaign, members, *, held_out, at):
    CampaignRecipient.objects.bulk_create(
        CampaignRecipient(
            campaign=campaign,
            member=member,
            occasion="broadcast",
            held_out=held_out,
            status=CampaignRecipient.Status.HELD_OUT if held_out else CampaignRecipient.Status.DELIVERED,
            created_at=at,
        )
        for member in members
    )


def _buy(member, at):
    PurchaseFactory(
        member=member,
        store=member.home_store,
        purchased_at=at,
        gross_amount=Decimal("100.00"),
        paid_amount=Decimal("100.00"),
    )


@pytest.fixture
def campaign(staff, now):
    """Store A's campaign: 80 reached (40 bought), 20 held out (4 bought), 20 % planned, 30 days ago."""
    store = staff["manager_a"].store
    campaign = CampaignFactory(name="Winter offer", store=store, holdout_percent=20, lift_days=14)
    at = now - timedelta(days=30)
    reached = MemberFactory.create_batch(80, home_store=store)
    held = MemberFactory.create_batch(20, home_store=store)
    _recipients(campaign, reached, held_out=False, at=at)
    _recipients(campaign, held, held_out=True, at=at)
    for member in reached[:40] + held[:4]:
        _buy(member, at + timedelta(days=1))
    return campaign


def test_the_page_says_the_lift_in_plain_words(client, staff, campaign):
    client.force_login(staff["manager_a"])

    response = client.get(reverse(REPORT, args=[campaign.pk]))

    assert response.status_code == 200
    page = response.content.decode()
    # 50 % against 20 %: 150 % more often; Katz interval and z test computed by campaigns.lift.stats
    assert "Members who got the offer bought 150.0 % more often (95 % CI" in page
    assert "p = 0.01" in page
    assert 'id="campaign-report-srm"' not in page
    assert reverse(REPORT_CSV, args=[campaign.pk]) in page


def test_the_page_warns_when_the_split_is_not_the_plan(client, staff, campaign, now):
    # 50 more held out: 70 of 150 held out where 30 were planned
    _recipients(campaign, MemberFactory.create_batch(50, home_store=campaign.store), held_out=True, at=now)
    client.force_login(staff["merchant_admin"])

    page = client.get(reverse(REPORT, args=[campaign.pk])).content.decode()

    assert 'id="campaign-report-srm"' in page
    assert "more than chance allows: 70 held out where 30 were expected (p &lt; 0.001)" in page


def test_a_run_of_the_campaign_can_be_chosen(client, staff, campaign, now):
    run = CampaignRun.objects.create(campaign=campaign, key=f"campaign:{campaign.pk}:1")
    client.force_login(staff["manager_a"])

    response = client.get(reverse(REPORT, args=[campaign.pk]), {"run": run.pk})

    assert response.status_code == 200
    assert response.context["report"].run == run
    assert response.context["report"].audience == 0
    assert "No members were held out" in response.content.decode()


def test_a_run_of_another_campaign_is_not_found(client, staff, campaign):
    other = CampaignFactory(store=campaign.store)
    run = CampaignRun.objects.create(campaign=other, key="other:1")
    client.force_login(staff["manager_a"])

    assert client.get(reverse(REPORT, args=[campaign.pk]), {"run": run.pk}).status_code == 404
    assert client.get(reverse(REPORT, args=[campaign.pk]), {"run": "x"}).status_code == 404


def test_the_csv_holds_the_reports_rows(client, staff, campaign):
    client.force_login(staff["manager_a"])

    response = client.get(reverse(REPORT_CSV, args=[campaign.pk]))

    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert f'filename="campaign-{campaign.pk}-winter-offer.csv"' in response["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[0] == ["Section", "Figure", "Value"]
    figures = {row[1]: row[2] for row in rows[1:]}
    assert figures["Audience"] == "100"
    assert figures["Held out"] == "20"
    assert figures["Reached: members who bought"] == "40"
    assert figures["Held out: members who bought"] == "4"
    assert figures["Reached: conversion"] == "50.00 %"
    assert figures["Held out: conversion"] == "20.00 %"
    assert figures["Conversion difference (percentage points)"] == "+30.0"
    assert figures["Relative lift in conversion"] == "150.0 %"
    assert figures["Split mismatch"] == "no"


@pytest.mark.parametrize("url", [REPORT, REPORT_CSV])
def test_a_clerk_without_the_permission_is_refused(client, staff, campaign, url):
    client.force_login(staff["clerk_a"])

    assert client.get(reverse(url, args=[campaign.pk])).status_code == 403


@pytest.mark.parametrize("url", [REPORT, REPORT_CSV])
def test_another_stores_manager_is_refused(client, staff, campaign, url):
    client.force_login(staff["manager_b"])

    assert client.get(reverse(url, args=[campaign.pk])).status_code == 403


def test_a_store_manager_may_not_read_a_brand_wide_campaign(client, staff):
    brand_wide = CampaignFactory(store=None)
    client.force_login(staff["manager_a"])

    assert client.get(reverse(REPORT, args=[brand_wide.pk])).status_code == 403


def test_an_unknown_campaign_is_not_found(client, staff):
    client.force_login(staff["merchant_admin"])

    assert client.get(reverse(REPORT, args=[Campaign.objects.count() + 999])).status_code == 404


def test_the_campaign_list_links_each_campaign_to_its_report(client, staff, campaign):
    client.force_login(staff["manager_a"])

    page = client.get(reverse("admin:campaigns_campaign_changelist")).content.decode()

    assert reverse(REPORT, args=[campaign.pk]) in page

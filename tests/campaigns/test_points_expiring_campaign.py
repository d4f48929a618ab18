"""The points expiry reminder as a campaign the merchant edits: the daily job finds the reminders, the
points_expiring campaign (the default one, created on the first reminder) delivers them, transactional, once per
member and expiry date, and points writes no message of its own: nobody gets two reminders."""

from datetime import timedelta

import pytest
from django.utils import timezone

from campaigns.models import Campaign, CampaignRecipient
from campaigns.services.campaigns import campaign_errors
from members.models import Notification, OutboxMessage
from members.services.ledger import points_credit
from points import tasks
from points.models import PointsPolicy
from points.services.expiry_reminders import points_expiry_remind
from tests.campaigns.campaign_factories import CampaignFactory
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db
Kind = Campaign.Kind


@pytest.fixture
def now():
    # Mid-morning in Hong Kong, so "the local date" of an expiry a whole number of days ahead is unambiguous.
    return timezone.localtime().replace(hour=10, minute=0, second=0, microsecond=0)


@pytest.fixture
def member(now):
    # No consent to marketing: a transactional reminder reaches them on the channels they consented to all the same.
    member = MemberFactory(locale="en", consent_marketing=False, consent_sms=True)
    points_credit(member_id=member.pk, points=120, idempotency_key="soon", now=now, expires_at=now + timedelta(days=10))
    return member


def day(now, days):
    return (now + timedelta(days=days)).date().isoformat()


def run_job(capture):
    with capture(execute=True):
        return tasks.remind_expiring_points.delay().get()


def kinds(member):
    return sorted(Notification.objects.filter(member=member).values_list("kind", flat=True))


def test_the_first_reminder_creates_the_default_campaign_which_delivers_it_once(
    now, member, django_capture_on_commit_callbacks, monkeypatch
):
    monkeypatch.setattr(timezone, "now", lambda: now)

    first = run_job(django_capture_on_commit_callbacks)
    again = run_job(django_capture_on_commit_callbacks)

    assert (first, again) == (1, 1)
    campaign = Campaign.objects.get(kind=Kind.POINTS_EXPIRING)
    assert (campaign.status, campaign.is_marketing, campaign.params) == ("running", False, {})  # the policy's notice
    assert campaign_errors(campaign=campaign) == {}
    occasion = f"points_expiring:{member.pk}:{day(now, 10)}"
    assert list(CampaignRecipient.objects.values_list("member_id", "occasion", "status")) == [
        (member.pk, occasion, "delivered")
    ]
    assert kinds(member) == [Notification.Kind.CAMPAIGN]  # and no points_expiring message of points' own
    notification = Notification.objects.get(member=member)
    assert notification.title == "Your points expire soon"
    assert notification.body == f"120 of your points will expire in the next 30 days, the first on {day(now, 10)}."
    assert OutboxMessage.objects.filter(notification=notification, channel=OutboxMessage.Channel.SMS).count() == 1


def test_the_default_campaign_follows_the_policys_notice_when_it_changes_later(
    now, member, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        points_expiry_remind(now=now, notify=False)  # creates the default campaign under a 30-day notice
    policy = PointsPolicy.load()
    policy.reminder_days = 60
    policy.save()
    later = MemberFactory(locale="en")
    points_credit(member_id=later.pk, points=5, idempotency_key="late", now=now, expires_at=now + timedelta(days=45))

    with django_capture_on_commit_callbacks(execute=True):
        points_expiry_remind(now=now, notify=False)

    assert Campaign.objects.count() == 1
    assert kinds(later) == [Notification.Kind.CAMPAIGN]  # told 45 days ahead, as the policy now says


def test_the_merchants_edited_campaign_speaks_instead_and_only_within_its_days_before(
    now, member, django_capture_on_commit_callbacks
):
    campaign = CampaignFactory(
        kind=Kind.POINTS_EXPIRING,
        is_marketing=False,
        params={"days_before": 14},
        message_title="Use them, {first_name}",
        message_body="{points} points go on {expires_on}.",
    )
    later = MemberFactory(locale="en")
    points_credit(member_id=later.pk, points=5, idempotency_key="late", now=now, expires_at=now + timedelta(days=20))

    with django_capture_on_commit_callbacks(execute=True):
        points_expiry_remind(now=now, notify=False)

    assert Campaign.objects.count() == 1
    assert list(CampaignRecipient.objects.values_list("campaign_id", "member_id")) == [(campaign.pk, member.pk)]
    assert Notification.objects.get(member=member).body == f"120 points go on {day(now, 10)}."
    assert kinds(later) == []


def test_a_paused_campaign_sends_no_reminder_and_no_default_replaces_it(
    now, member, django_capture_on_commit_callbacks
):
    CampaignFactory(kind=Kind.POINTS_EXPIRING, is_marketing=False, status=Campaign.Status.PAUSED)

    with django_capture_on_commit_callbacks(execute=True):
        points_expiry_remind(now=now, notify=False)

    assert Campaign.objects.count() == 1
    assert kinds(member) == []


def test_with_campaigns_off_points_sends_its_own_message_and_no_campaign_is_made(
    now, member, settings, django_capture_on_commit_callbacks, monkeypatch
):
    settings.POINTS_EXPIRY_REMINDERS_BY_CAMPAIGN = False
    monkeypatch.setattr(timezone, "now", lambda: now)

    run_job(django_capture_on_commit_callbacks)

    assert kinds(member) == [Notification.Kind.POINTS_EXPIRING]
    assert not Campaign.objects.exists()


def test_the_reminders_fields_are_allowed_in_a_points_expiring_message_only():
    reminder = CampaignFactory.build(kind=Kind.POINTS_EXPIRING, is_marketing=False, message_body="{points} {days}")
    welcome = CampaignFactory.build(kind=Kind.WELCOME, message_body="{points} {days}")

    assert campaign_errors(campaign=reminder) == {}
    assert set(campaign_errors(campaign=welcome)) == {"message_body_en"}


def test_a_reminder_points_already_sent_itself_is_not_sent_again_by_the_campaign(
    now, member, django_capture_on_commit_callbacks
):
    points_expiry_remind(now=now)  # before the switch: points' own message

    with django_capture_on_commit_callbacks(execute=True):
        points_expiry_remind(now=now, notify=False)

    assert kinds(member) == [Notification.Kind.POINTS_EXPIRING]
    assert not CampaignRecipient.objects.exists()

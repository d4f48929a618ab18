"""The coupon expiry reminder as a campaign the merchant edits: the daily job (beat) finds the reminders, the
coupon_expiring campaign (the default one, created on the first reminder, its message in three languages) delivers
them, transactional, once per coupon, and coupons writes no message of its own: nobody gets two reminders."""

from datetime import timedelta

import pytest
from django.utils import timezone

from campaigns.models import Campaign, CampaignRecipient
from campaigns.services.campaigns import campaign_errors
from coupons import tasks
from coupons.models import Coupon
from coupons.services import coupon_template_issue_to_member
from members.models import Notification, OutboxMessage
from tests.campaigns.campaign_factories import CampaignFactory
from tests.coupons.factories import CouponTemplateFactory
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db
Kind = Campaign.Kind


@pytest.fixture
def now(monkeypatch):
    # Mid-morning in Hong Kong, so "the local date" of an end a whole number of days ahead is unambiguous.
    moment = timezone.localtime().replace(hour=10, minute=0, second=0, microsecond=0)
    monkeypatch.setattr(timezone, "now", lambda: moment)
    return moment


def coupon(member, now, *, days, name="HK$50 off", reminder_days=3):
    """A coupon of a fresh template (valid 30 days) that ends `days` from now."""
    template = CouponTemplateFactory(valid_days=30, reminder_days=reminder_days, name=name)
    return coupon_template_issue_to_member(
        template_id=template.pk, member_id=member.pk, source=Coupon.Source.MANUAL, now=now + timedelta(days=days - 30)
    )


@pytest.fixture
def member():
    return MemberFactory(locale="en", consent_marketing=True, consent_sms=True)


def run_job(capture):
    with capture(execute=True):
        return tasks.coupons_remind_expiring_task.delay().get()


def messages():
    """The member messages other than the coupon's own "you have a new coupon"."""
    return Notification.objects.exclude(kind=Notification.Kind.COUPON_ISSUED)


def day(now, days):
    return (now + timedelta(days=days)).date().isoformat()


def test_the_first_reminder_creates_the_default_campaign_which_delivers_it_once_per_coupon(
    now, member, django_capture_on_commit_callbacks
):
    first_coupon = coupon(member, now, days=2)

    first = run_job(django_capture_on_commit_callbacks)
    again = run_job(django_capture_on_commit_callbacks)

    assert (first, again) == (1, 1)  # the job signals the reminder each day; the campaign delivers it once
    campaign = Campaign.objects.get(kind=Kind.COUPON_EXPIRING)
    # marketing (a coupon about to expire invites a purchase); no days_before: each template's own notice
    assert (campaign.status, campaign.is_marketing, campaign.params) == ("running", True, {})
    assert campaign_errors(campaign=campaign) == {}
    assert (campaign.message_title_zh_hant, campaign.message_title_zh_hans) == (
        "您的優惠券即將到期",
        "您的优惠券即将到期",
    )
    assert list(CampaignRecipient.objects.values_list("member_id", "occasion", "status")) == [
        (member.pk, f"coupon_expiring:{first_coupon.pk}", "delivered")
    ]
    assert list(messages().filter(member=member).values_list("kind", flat=True)) == ["campaign"]
    notification = messages().get(member=member)
    assert notification.title == "Your coupon expires soon"
    assert notification.body == f"Your coupon “HK$50 off” expires on {day(now, 2)}. Use it before then."
    assert OutboxMessage.objects.filter(notification=notification, channel=OutboxMessage.Channel.SMS).count() == 1


def test_a_member_who_did_not_consent_to_marketing_gets_the_coupon_reminder_in_the_app_only(
    now, django_capture_on_commit_callbacks
):
    # a coupon about to expire invites a purchase: marketing (campaigns.channels.policy), so no SMS without consent
    declined = MemberFactory(locale="en", consent_marketing=False, consent_sms=True)
    coupon(declined, now, days=2)

    run_job(django_capture_on_commit_callbacks)

    assert messages().filter(member=declined).count() == 1  # the inbox, in the app
    assert not OutboxMessage.objects.filter(notification__in=messages().filter(member=declined)).exists()


def test_two_coupons_due_are_two_reminders_each_in_the_members_language(now, django_capture_on_commit_callbacks):
    member = MemberFactory(locale="zh-hant")
    one = coupon(member, now, days=1, name="Coffee")
    two = coupon(member, now, days=2, name="Cake")
    for template, name in ((one.template, "咖啡券"), (two.template, "蛋糕券")):
        template.name_zh_hant = name
        template.save()

    run_job(django_capture_on_commit_callbacks)

    assert sorted(CampaignRecipient.objects.values_list("occasion", flat=True)) == sorted(
        [f"coupon_expiring:{one.pk}", f"coupon_expiring:{two.pk}"]
    )
    bodies = sorted(messages().filter(member=member).values_list("body", flat=True))
    assert bodies == sorted(
        [
            f"您的優惠券「咖啡券」將於 {day(now, 1)} 到期，請盡快使用。",
            f"您的優惠券「蛋糕券」將於 {day(now, 2)} 到期，請盡快使用。",
        ]
    )


def test_the_merchants_edited_campaign_speaks_instead_and_only_within_its_days_before(
    now, member, django_capture_on_commit_callbacks
):
    campaign = CampaignFactory(
        kind=Kind.COUPON_EXPIRING,
        is_marketing=False,
        params={"days_before": 2},
        message_title="{first_name}, {days} days left",
        message_body="“{coupon}” ends on {expires_on}.",
        channels=[],
        status=Campaign.Status.RUNNING,
    )
    soon, later = coupon(member, now, days=2, reminder_days=10), coupon(member, now, days=8, reminder_days=10)

    run_job(django_capture_on_commit_callbacks)

    assert Campaign.objects.filter(kind=Kind.COUPON_EXPIRING).count() == 1  # no default beside the merchant's
    assert list(CampaignRecipient.objects.values_list("campaign_id", "occasion")) == [
        (campaign.pk, f"coupon_expiring:{soon.pk}")
    ]
    notification = messages().get(member=member)
    assert notification.body == f"“HK$50 off” ends on {day(now, 2)}."
    assert notification.title.endswith(", 2 days left")
    assert later.pk != soon.pk


def test_a_paused_campaign_sends_no_reminder_and_a_coupon_no_longer_available_is_not_reminded_of(
    now, member, django_capture_on_commit_callbacks
):
    campaign = CampaignFactory(
        kind=Kind.COUPON_EXPIRING, is_marketing=False, params={"days_before": 7}, status=Campaign.Status.PAUSED
    )
    coupon(member, now, days=2)
    run_job(django_capture_on_commit_callbacks)
    assert not CampaignRecipient.objects.exists()
    assert not messages().exists()  # paused: neither the campaign nor coupons' own message

    Campaign.objects.filter(pk=campaign.pk).update(status=Campaign.Status.RUNNING)
    Coupon.objects.update(status=Coupon.Status.VOID)  # withdrawn since the job ran
    from campaigns.services.triggers import campaigns_trigger_coupon_expiring

    coupon_id = Coupon.objects.get().pk
    reminder = {"member_id": member.pk, "coupon_id": coupon_id, "template_id": Coupon.objects.get().template_id}
    reminder.update(expires_on=day(now, 2), key=f"coupon_expiring:{coupon_id}")
    assert campaigns_trigger_coupon_expiring(reminders=[reminder], now=now) == {}
    assert not CampaignRecipient.objects.exists()


def test_with_the_switch_off_coupons_own_message_goes_and_the_campaign_sends_nothing(
    now, member, settings, django_capture_on_commit_callbacks
):
    settings.COUPON_EXPIRY_REMINDERS_BY_CAMPAIGN = False
    coupon(member, now, days=2)
    run_job(django_capture_on_commit_callbacks)
    assert list(messages().values_list("kind", flat=True)) == ["coupon_expiring"]
    assert not Campaign.objects.exists()

    settings.COUPON_EXPIRY_REMINDERS_BY_CAMPAIGN = True  # switched on later: the coupon already reminded is not again
    run_job(django_capture_on_commit_callbacks)
    assert not CampaignRecipient.objects.exists()
    assert messages().count() == 1


def test_a_coupon_expiring_campaign_refuses_an_unknown_field_and_a_bad_days_before():
    campaign = CampaignFactory.build(
        kind=Kind.COUPON_EXPIRING, is_marketing=False, params={"days_before": 0}, message_body="{points} left"
    )
    errors = campaign_errors(campaign=campaign)
    assert "params.days_before" in errors
    assert "message_body_en" in errors

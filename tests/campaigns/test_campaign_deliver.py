"""campaign_deliver: one row per member and occasion, hold-out, caps, budgets, rewards and messages per consent."""

import datetime

import pytest
from django.test import override_settings

from campaigns.errors import CampaignNotRunning
from campaigns.models import Campaign, CampaignRecipient
from campaigns.segments.buckets import member_bucket
from campaigns.services.campaigns import campaign_deliver
from coupons.models import Coupon
from members.models import Notification, OutboxMessage, PointsEntry
from tests.campaigns.campaign_factories import CampaignFactory
from tests.coupons.factories import CouponTemplateFactory
from tests.factories import MemberFactory, StoreFactory

pytestmark = pytest.mark.django_db
Status = CampaignRecipient.Status


def consenting(**fields):
    return MemberFactory(
        consent_marketing=True, consent_sms=True, consent_email=True, email="m@example.com", locale="en", **fields
    )


def test_a_member_gets_the_message_the_coupon_and_the_points_once(now):
    # given
    template = CouponTemplateFactory()
    campaign = CampaignFactory(coupon_template=template, points_bonus=50, channels=["sms"])
    member = consenting(name="Chan Tai Man")
    # when
    first = campaign_deliver(campaign_id=campaign.pk, member_ids=[member.pk], occasion="run:1", now=now)
    second = campaign_deliver(campaign_id=campaign.pk, member_ids=[member.pk], occasion="run:1", now=now)
    # then
    assert (first.created, first.delivered, second.created, second.existing) == (1, 1, 0, 1)
    recipient = CampaignRecipient.objects.get()
    assert recipient.status == Status.DELIVERED
    assert recipient.points_granted == 50
    assert Coupon.objects.get().pk == recipient.coupon_id
    assert Coupon.objects.get().issue_key == f"campaign:{recipient.pk}"
    entry = PointsEntry.objects.get(member=member)
    assert (entry.delta, entry.idempotency_key) == (50, f"campaign:{recipient.pk}")
    notification = Notification.objects.get(member=member)
    assert notification.pk == recipient.notification_id
    assert (notification.kind, notification.title) == (Notification.Kind.CAMPAIGN, "Hello Chan")
    assert notification.body == f"A treat for member {member.member_number}."
    assert list(OutboxMessage.objects.values_list("channel", flat=True)) == [OutboxMessage.Channel.SMS]
    campaign.refresh_from_db()
    assert (campaign.coupons_issued, campaign.points_granted) == (1, 50)


def test_another_occasion_reaches_the_member_again(now):
    campaign = CampaignFactory(points_bonus=10)
    member = consenting()
    campaign_deliver(campaign_id=campaign.pk, member_ids=[member.pk], occasion="run:1", now=now)
    campaign_deliver(campaign_id=campaign.pk, member_ids=[member.pk], occasion={member.pk: "run:2"}, now=now)
    assert CampaignRecipient.objects.filter(member=member).count() == 2
    member.refresh_from_db()
    assert member.points_balance == 20


def test_a_member_without_marketing_consent_gets_the_inbox_only(now):
    campaign = CampaignFactory(channels=["sms", "email"])
    member = MemberFactory(consent_marketing=False, consent_sms=True, consent_email=True, email="m@example.com")
    campaign_deliver(campaign_id=campaign.pk, member_ids=[member.pk], occasion="run:1", now=now)
    recipient = CampaignRecipient.objects.get()
    assert (recipient.status, recipient.channels) == (Status.DELIVERED, [])
    assert Notification.objects.filter(member=member).count() == 1
    assert not OutboxMessage.objects.exists()


def test_a_member_with_no_consent_on_any_of_the_campaigns_channels_is_reached_by_the_inbox_only(now):
    # The inbox is always on: such a member is not left out with a "no consent" status but delivered to the inbox,
    # with no channel; the report counts them delivered and its deliveries by channel show the inbox alone.
    from campaigns.selectors.campaign_report import campaign_report

    assert "no_consent" not in Status.values
    campaign = CampaignFactory(channels=["sms", "email"], points_bonus=10)
    member = MemberFactory(consent_marketing=True, consent_sms=False, consent_email=False, email="m@example.com")
    campaign_deliver(campaign_id=campaign.pk, member_ids=[member.pk], occasion="run:1", now=now)
    recipient = CampaignRecipient.objects.get()
    assert (recipient.status, recipient.channels, recipient.points_granted) == (Status.DELIVERED, [], 10)
    assert Notification.objects.filter(member=member).count() == 1
    assert not OutboxMessage.objects.exists()
    report = campaign_report(campaign=campaign, now=now)
    assert report.by_status == {Status.DELIVERED: 1}
    assert [(row.channel, row.count) for row in report.deliveries] == [("inbox", 1)]


def test_only_the_campaigns_channels_the_member_consented_to_are_used(now):
    campaign = CampaignFactory(channels=["email"])
    member = consenting()
    other = MemberFactory(consent_marketing=True, consent_sms=True, consent_email=False, email="x@example.com")
    campaign_deliver(campaign_id=campaign.pk, member_ids=[member.pk, other.pk], occasion="run:1", now=now)
    assert list(OutboxMessage.objects.values_list("notification__member", "channel")) == [
        (member.pk, OutboxMessage.Channel.EMAIL)
    ]


def test_a_transactional_campaign_needs_no_marketing_consent(now):
    campaign = CampaignFactory(kind=Campaign.Kind.POINTS_EXPIRING, is_marketing=False, channels=["sms"])
    member = MemberFactory(consent_marketing=False, consent_sms=True)
    campaign_deliver(campaign_id=campaign.pk, member_ids=[member.pk], occasion="expiry:1", now=now)
    assert OutboxMessage.objects.get().channel == OutboxMessage.Channel.SMS


def test_held_out_members_get_a_row_and_nothing_else(now):
    campaign = CampaignFactory(holdout_percent=50, points_bonus=10)
    members = [consenting() for _ in range(40)]
    result = campaign_deliver(campaign_id=campaign.pk, member_ids=[m.pk for m in members], occasion="run:1", now=now)
    expected_out = {m.pk for m in members if member_bucket(m.pk, campaign.pk) < 5000}
    held = set(CampaignRecipient.objects.filter(held_out=True).values_list("member_id", flat=True))
    assert held == expected_out
    assert 0 < len(held) < 40
    assert result.held_out == len(held)
    assert result.delivered == 40 - len(held)
    assert set(CampaignRecipient.objects.filter(held_out=True).values_list("status", flat=True)) == {Status.HELD_OUT}
    assert not Notification.objects.filter(member_id__in=held).exists()
    assert not PointsEntry.objects.filter(member_id__in=held).exists()


def test_inactive_members_and_members_of_other_stores_are_skipped(now):
    store, other_store = StoreFactory(), StoreFactory()
    campaign = CampaignFactory(store=store)
    mine = consenting(home_store=store)
    theirs = consenting(home_store=other_store)
    visitor = MemberFactory(home_store=store, status="visitor")
    result = campaign_deliver(
        campaign_id=campaign.pk, member_ids=[mine.pk, theirs.pk, visitor.pk], occasion="run:1", now=now
    )
    assert (result.created, result.skipped) == (1, 2)
    assert list(CampaignRecipient.objects.values_list("member_id", flat=True)) == [mine.pk]


def test_a_campaign_that_is_not_running_delivers_nothing(now):
    campaign = CampaignFactory(status=Campaign.Status.PAUSED)
    member = consenting()
    with pytest.raises(CampaignNotRunning):
        campaign_deliver(campaign_id=campaign.pk, member_ids=[member.pk], occasion="run:1", now=now)
    assert not CampaignRecipient.objects.exists()


def test_the_cap_over_the_campaigns_life_stops_further_deliveries(now):
    campaign = CampaignFactory(cap_per_member=2)
    member = consenting()
    for number in range(3):
        campaign_deliver(campaign_id=campaign.pk, member_ids=[member.pk], occasion=f"run:{number}", now=now)
    assert list(CampaignRecipient.objects.order_by("pk").values_list("status", flat=True)) == [
        Status.DELIVERED,
        Status.DELIVERED,
        Status.CAPPED,
    ]
    assert Notification.objects.filter(member=member).count() == 2


def test_the_daily_cap_counts_the_local_calendar_day(now):
    campaign = CampaignFactory(cap_per_member_per_day=1)
    member = consenting()
    monday = datetime.datetime(2026, 12, 7, 2, 0, tzinfo=datetime.UTC)  # 10:00 in Hong Kong
    campaign_deliver(campaign_id=campaign.pk, member_ids=[member.pk], occasion="a", now=monday)
    campaign_deliver(
        campaign_id=campaign.pk, member_ids=[member.pk], occasion="b", now=monday + datetime.timedelta(hours=3)
    )
    campaign_deliver(
        campaign_id=campaign.pk,
        member_ids=[member.pk],
        occasion="c",
        now=monday + datetime.timedelta(hours=23, minutes=57),
    )
    assert list(CampaignRecipient.objects.order_by("pk").values_list("occasion", "status")) == [
        ("a", Status.DELIVERED),
        ("b", Status.CAPPED),
        ("c", Status.DELIVERED),
    ]


def test_the_weekly_cap_of_one_campaign(now):
    campaign = CampaignFactory(cap_per_member_per_week=2)
    member = consenting()
    monday = datetime.datetime(2026, 12, 7, 2, 0, tzinfo=datetime.UTC)
    for day in range(3):
        campaign_deliver(
            campaign_id=campaign.pk,
            member_ids=[member.pk],
            occasion=f"day{day}",
            now=monday + datetime.timedelta(days=day),
        )
    next_monday = monday + datetime.timedelta(days=7)
    campaign_deliver(campaign_id=campaign.pk, member_ids=[member.pk], occasion="next", now=next_monday)
    assert list(CampaignRecipient.objects.order_by("pk").values_list("status", flat=True)) == [
        Status.DELIVERED,
        Status.DELIVERED,
        Status.CAPPED,
        Status.DELIVERED,
    ]


@override_settings(CAMPAIGN_MESSAGES_PER_MEMBER_PER_WEEK={"inbox": 3, "sms": 1})
def test_the_global_cap_per_channel_counts_every_marketing_campaign(now):
    member = consenting()
    campaigns = [CampaignFactory(channels=["sms", "email"]) for _ in range(4)]
    for campaign in campaigns:
        campaign_deliver(campaign_id=campaign.pk, member_ids=[member.pk], occasion="run:1", now=now)
    rows = list(CampaignRecipient.objects.order_by("pk").values_list("status", "channels"))
    assert rows == [
        (Status.DELIVERED, ["sms", "email"]),
        (Status.DELIVERED, ["email"]),  # one SMS a week
        (Status.DELIVERED, ["email"]),
        (Status.CAPPED, []),  # three marketing messages a week in all
    ]
    assert OutboxMessage.objects.filter(channel="sms").count() == 1


@override_settings(CAMPAIGN_MESSAGES_PER_MEMBER_PER_WEEK={"inbox": 1})
def test_transactional_campaigns_neither_count_nor_are_capped(now):
    member = consenting()
    marketing = CampaignFactory()
    reminder = CampaignFactory(kind=Campaign.Kind.POINTS_EXPIRING, is_marketing=False)
    campaign_deliver(campaign_id=marketing.pk, member_ids=[member.pk], occasion="run:1", now=now)
    campaign_deliver(campaign_id=reminder.pk, member_ids=[member.pk], occasion="expiry:1", now=now)
    campaign_deliver(campaign_id=reminder.pk, member_ids=[member.pk], occasion="expiry:2", now=now)
    assert set(CampaignRecipient.objects.values_list("status", flat=True)) == {Status.DELIVERED}


def test_the_coupon_budget_stops_at_its_last_coupon(now):
    campaign = CampaignFactory(coupon_template=CouponTemplateFactory(), budget_coupons=3)
    members = [consenting() for _ in range(5)]
    result = campaign_deliver(campaign_id=campaign.pk, member_ids=[m.pk for m in members], occasion="r", now=now)
    assert (result.delivered, result.statuses[Status.BUDGET_EXHAUSTED], result.coupons) == (3, 2, 3)
    assert Coupon.objects.count() == 3
    exhausted = CampaignRecipient.objects.filter(status=Status.BUDGET_EXHAUSTED)
    assert not Notification.objects.filter(member_id__in=exhausted.values("member_id")).exists()
    campaign.refresh_from_db()
    assert campaign.coupons_issued == 3
    later = campaign_deliver(campaign_id=campaign.pk, member_ids=[consenting().pk], occasion="r", now=now)
    assert later.statuses[Status.BUDGET_EXHAUSTED] == 1


def test_the_points_budget_rewards_only_whole_bonuses(now):
    campaign = CampaignFactory(points_bonus=40, budget_points=100)
    members = [consenting() for _ in range(3)]
    campaign_deliver(campaign_id=campaign.pk, member_ids=[m.pk for m in members], occasion="r", now=now)
    campaign.refresh_from_db()
    assert campaign.points_granted == 80
    assert CampaignRecipient.objects.filter(status=Status.BUDGET_EXHAUSTED).count() == 1


def test_a_sold_out_template_leaves_the_member_without_reward_or_message(now):
    template = CouponTemplateFactory(quota=1)
    campaign = CampaignFactory(coupon_template=template)
    first, second = consenting(), consenting()
    campaign_deliver(campaign_id=campaign.pk, member_ids=[first.pk, second.pk], occasion="r", now=now)
    statuses = dict(CampaignRecipient.objects.values_list("member_id", "status"))
    assert statuses == {first.pk: Status.DELIVERED, second.pk: Status.BUDGET_EXHAUSTED}
    assert not Notification.objects.filter(member=second).exists()
    campaign.refresh_from_db()
    assert campaign.coupons_issued == 1


def test_the_message_is_written_in_the_members_language(now):
    campaign = CampaignFactory(
        message_title_en="Hi {first_name}", message_title_zh_hant="你好 {first_name}", message_body_en="Come back"
    )
    member = consenting(name="Wong")
    chinese = MemberFactory(name="陳", locale="zh-hant")
    campaign_deliver(campaign_id=campaign.pk, member_ids=[member.pk, chinese.pk], occasion="r", now=now)
    titles = dict(Notification.objects.values_list("member_id", "title"))
    assert titles == {member.pk: "Hi Wong", chinese.pk: "你好 陳"}
    assert Notification.objects.get(member=chinese).body == "Come back"  # no Chinese body: the default language's


def test_a_multiplier_reward_opens_a_window_from_the_delivery(now):
    from points.models import MultiplierWindow

    campaign = CampaignFactory(multiplier="2.00", multiplier_days=7)
    member = consenting()
    campaign_deliver(campaign_id=campaign.pk, member_ids=[member.pk], occasion="r", now=now)
    campaign_deliver(campaign_id=campaign.pk, member_ids=[member.pk], occasion="r", now=now)
    window = MultiplierWindow.objects.get()
    recipient = CampaignRecipient.objects.get()
    assert (window.member_id, window.key, window.multiplier) == (member.pk, f"campaign:{recipient.pk}", 2)
    assert (window.starts_at, window.ends_at) == (now, now + datetime.timedelta(days=7))

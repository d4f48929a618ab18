"""The sender drives the real SMS, SMTP and WeChat clients against fakes on 127.0.0.1: retries, dead letters,
consent and quiet hours at send time, one-time WeChat subscriptions and 43101, rate limits."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from campaigns.channels.sender import NOT_DUE, outbox_due_ids, outbox_send, outbox_send_chunk
from campaigns.channels.subscriptions import wechat_subscriptions_report
from campaigns.channels.unsubscribe import unsubscribe_by_token, unsubscribe_token
from campaigns.models import (
    Campaign,
    Category,
    ConsentRecord,
    DeliveryAttempt,
    MessageTemplate,
    WechatSubscription,
)
from members.models import Member, Notification, OutboxMessage
from members.services.notifications import notify
from tests.campaigns.channel_fakes import FakeClock
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db

HK = ZoneInfo("Asia/Hong_Kong")
NOON = datetime(2026, 6, 1, 12, 0, tzinfo=HK)
Status = OutboxMessage.Status
Outcome = DeliveryAttempt.Outcome
TEMPLATE_ID = "tmpl-points"


def points_expiring(member, *, key="exp", now=NOON):
    return notify(
        member_id=member.pk,
        kind=Notification.Kind.POINTS_EXPIRING,
        params={"points": 120, "days": 30, "expires_on": "2026-07-01"},
        dedupe_key=f"{key}:{member.pk}",
        now=now,
    )


def coupon_issued(member, *, key="coupon", now=NOON):
    return notify(
        member_id=member.pk,
        kind=Notification.Kind.COUPON_ISSUED,
        params={"coupon": "HK$50 off"},
        dedupe_key=f"{key}:{member.pk}",
        now=now,
    )


def drain(clock, *, rounds=60):
    """Run the sender as beat would, a day apart (past any back-off), until nothing is pending."""
    for _ in range(rounds):
        ids = outbox_due_ids(now=clock(), limit=10_000)
        if ids:
            outbox_send_chunk(ids=ids, clock=clock, sleep=clock.sleep)
        if not OutboxMessage.objects.filter(status=Status.PENDING).exists():
            return
        clock.advance(days=1)
    raise AssertionError("the outbox did not drain")


def sms_member(**fields):
    return MemberFactory(consent_sms=True, **fields)


def wechat_template(locale="zh-hant"):
    return MessageTemplate.objects.create(
        kind=Notification.Kind.POINTS_EXPIRING,
        channel=OutboxMessage.Channel.WECHAT_SUBSCRIBE,
        locale=locale,
        wechat_template_id=TEMPLATE_ID,
        wechat_page="pages/points/index",
        wechat_fields={"number1": "{points}", "date2": "{expires_on}", "thing3": "{name}"},
    )


def wechat_member(n, **fields):
    member = MemberFactory(consent_wechat=True, wechat_openid=f"o-{n}", locale="zh-hant", **fields)
    wechat_subscriptions_report(member_id=member.pk, results={TEMPLATE_ID: "accept"}, now=NOON)
    return member


# -- exactly once through failing providers ----------------------------------------------------------------------
def test_an_sms_gateway_failing_30_percent_gets_every_message_exactly_once(fake_sms, no_breakers, settings):
    # given 40 messages, a gateway that fails 30 % of its calls and loses the answer of 10 % of those it accepts
    settings.CHANNEL_MAX_ATTEMPTS = 30
    fake_sms.fail_ratio, fake_sms.lose_answer_ratio = 0.3, 0.1
    members = [sms_member() for _ in range(40)]
    for member in members:
        points_expiring(member)

    # when the sender runs until the outbox is empty
    drain(FakeClock(NOON))

    # then each message reached the gateway's network exactly once, and every one is sent
    assert len(fake_sms.accepted) == 40
    assert set(fake_sms.accepted_count.values()) == {1}
    assert {body["to"] for body in fake_sms.accepted.values()} == {member.phone for member in members}
    assert set(OutboxMessage.objects.values_list("status", flat=True)) == {Status.SENT}
    assert DeliveryAttempt.objects.filter(outcome=Outcome.RETRY).exists()  # the failures were real
    assert DeliveryAttempt.objects.filter(outcome=Outcome.SENT).count() == 40


def test_an_smtp_server_failing_30_percent_gets_every_email_exactly_once(fake_smtp, no_breakers, settings):
    settings.CHANNEL_MAX_ATTEMPTS = 30
    fake_smtp.fail_ratio = 0.3
    members = [MemberFactory(consent_email=True, email=f"m{n}@example.com") for n in range(20)]
    for member in members:
        points_expiring(member)

    drain(FakeClock(NOON))

    recipients = [message["To"] for message in fake_smtp.messages]
    assert sorted(recipients) == sorted(member.email for member in members)
    assert set(OutboxMessage.objects.values_list("status", flat=True)) == {Status.SENT}
    assert DeliveryAttempt.objects.filter(outcome=Outcome.RETRY).exists()


def test_an_email_whose_answer_was_lost_is_not_sent_again(fake_smtp, no_breakers):
    # given an SMTP server that takes the message and then cuts the line before it answers
    fake_smtp.drop_after_data = True
    points_expiring(MemberFactory(consent_email=True, email="ann@example.com"))

    drain(FakeClock(NOON))

    # then it went once: failed with an unknown outcome, never retried into a second copy
    assert len(fake_smtp.messages) == 1
    assert OutboxMessage.objects.get().status == Status.FAILED
    assert list(DeliveryAttempt.objects.values_list("outcome", flat=True)) == [Outcome.UNKNOWN]


def test_wechat_busy_30_percent_gets_every_subscribe_message_exactly_once(fake_wechat_messages, no_breakers, settings):
    settings.CHANNEL_MAX_ATTEMPTS = 30
    fake_wechat_messages.fail_ratio = 0.3
    wechat_template()
    members = [wechat_member(n, name=f"Member {n}") for n in range(20)]
    for member in members:
        points_expiring(member)

    drain(FakeClock(NOON))

    assert sorted(body["touser"] for body in fake_wechat_messages.sent) == sorted(m.wechat_openid for m in members)
    assert set(OutboxMessage.objects.values_list("status", flat=True)) == {Status.SENT}
    first = fake_wechat_messages.sent[0]
    assert first["template_id"] == TEMPLATE_ID
    assert first["lang"] == "zh_HK"
    assert first["data"]["number1"] == {"value": "120"}
    assert first["page"] == "pages/points/index"
    # every subscription's one send is used, none given back twice
    assert set(WechatSubscription.objects.values_list("available", flat=True)) == {0}


def test_a_message_is_a_dead_letter_after_the_last_try(fake_sms, no_breakers, settings):
    # given a gateway that always fails, and three tries
    settings.CHANNEL_MAX_ATTEMPTS, settings.CHANNEL_RETRY_SECONDS = 3, 60
    fake_sms.fail_ratio = 1.0
    points_expiring(sms_member())
    clock = FakeClock(NOON)

    # when it is tried at its times
    outbox_send_chunk(ids=outbox_due_ids(now=clock(), limit=10), clock=clock, sleep=clock.sleep)
    message = OutboxMessage.objects.get()
    assert (message.status, message.attempts, message.next_attempt_at) == (
        Status.PENDING,
        1,
        NOON + timedelta(seconds=60),
    )
    drain(clock)

    # then it failed for good after three, backing off 60 then 120 seconds
    message.refresh_from_db()
    assert (message.status, message.attempts) == (Status.FAILED, 3)
    outcomes = list(DeliveryAttempt.objects.order_by("pk").values_list("outcome", "attempt"))
    assert outcomes == [(Outcome.RETRY, 1), (Outcome.RETRY, 2), (Outcome.DEAD, 3)]
    assert len(fake_sms.requests_to("/messages")) == 3


def test_a_claimed_message_is_not_sent_by_a_second_worker(fake_sms):
    points_expiring(sms_member())
    message = OutboxMessage.objects.get()

    first = outbox_send(outbox_id=message.pk, now=NOON)
    second = outbox_send(outbox_id=message.pk, now=NOON)

    assert (first.outcome, second.outcome) == (Outcome.SENT, NOT_DUE)
    assert len(fake_sms.requests_to("/messages")) == 1


# -- consent -----------------------------------------------------------------------------------------------------
def test_a_member_who_unsubscribed_before_the_send_receives_nothing_on_that_channel(fake_sms, fake_smtp):
    # given a message written while the member consented to SMS and e-mail
    member = sms_member(consent_email=True, email="m@example.com")
    points_expiring(member)
    assert OutboxMessage.objects.count() == 2

    # when they unsubscribe from SMS through a link before the sender runs
    unsubscribe_by_token(token=unsubscribe_token(member_id=member.pk, channel="sms"), now=NOON)
    drain(FakeClock(NOON))

    # then the SMS is skipped and never reaches the gateway; the e-mail still goes
    sms = OutboxMessage.objects.get(channel="sms")
    assert (sms.status, sms.last_error) == (Status.SKIPPED, "no consent to this channel")
    assert fake_sms.requests == []
    assert len(fake_smtp.messages) == 1
    record = ConsentRecord.objects.get()
    assert (record.member_id, record.channel, record.consented, record.recorded_at) == (member.pk, "sms", False, NOON)


def test_a_marketing_message_needs_consent_to_marketing(fake_sms):
    member = sms_member(consent_marketing=False)
    coupon_issued(member)

    drain(FakeClock(NOON))

    message = OutboxMessage.objects.get()
    assert (message.status, message.last_error) == (Status.SKIPPED, "no consent to marketing")
    assert fake_sms.requests == []
    assert DeliveryAttempt.objects.get().category == Category.MARKETING


def test_a_marketing_sms_carries_an_unsubscribe_link_and_a_transactional_one_says_what_it_is(fake_sms):
    member = sms_member(consent_marketing=True, locale="en")
    coupon_issued(member)
    points_expiring(member)

    drain(FakeClock(NOON))

    bodies = {body["category"]: body for body in fake_sms.accepted.values()}
    assert set(bodies) == {"marketing", "transactional"}
    assert "http://127.0.0.1:8000/unsubscribe/" in bodies["marketing"]["text"]
    assert "Reply STOP" in bodies["marketing"]["text"]
    assert "unsubscribe" not in bodies["transactional"]["text"]
    assert set(DeliveryAttempt.objects.values_list("category", flat=True)) == {"marketing", "transactional"}


def test_a_marketing_email_has_a_one_click_unsubscribe_header_whose_post_unsubscribes(fake_smtp, client):
    member = MemberFactory(consent_email=True, consent_marketing=True, email="m@example.com", locale="en")
    coupon_issued(member)

    drain(FakeClock(NOON))
    [message] = fake_smtp.messages
    url = message["List-Unsubscribe"].strip("<>")
    # RFC 8058: the mail provider POSTs this body to the link, with no cookie and no CSRF token.
    response = client.post(url.split("8000", 1)[1], {"List-Unsubscribe": "One-Click"})

    assert message["X-Message-Category"] == "marketing"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert response.status_code == 200
    member.refresh_from_db()
    assert member.consent_email is False


# -- quiet hours -------------------------------------------------------------------------------------------------
def test_sms_in_the_quiet_hours_is_held_until_they_end_and_email_goes_at_once(fake_sms, fake_smtp):
    # given a message written at 23:30 in Hong Kong
    late = datetime(2026, 6, 1, 23, 30, tzinfo=HK)
    points_expiring(sms_member(consent_email=True, email="m@example.com"), now=late)
    clock = FakeClock(late)

    # when the sender runs at 23:30
    outbox_send_chunk(ids=outbox_due_ids(now=clock(), limit=10), clock=clock, sleep=clock.sleep)

    # then the SMS waits for 09:00 the next morning; the e-mail went
    sms = OutboxMessage.objects.get(channel="sms")
    assert (sms.status, sms.next_attempt_at, sms.attempts) == (
        Status.PENDING, datetime(2026, 6, 2, 9, 0, tzinfo=HK), 0,
    )  # fmt: skip
    assert fake_sms.requests == []
    assert len(fake_smtp.messages) == 1
    assert DeliveryAttempt.objects.get(outbox_message=sms).outcome == Outcome.HELD

    # and at 08:59 nothing is due; at 09:00 it goes
    assert outbox_due_ids(now=datetime(2026, 6, 2, 8, 59, tzinfo=HK), limit=10) == []
    clock.now = datetime(2026, 6, 2, 9, 0, tzinfo=HK)
    outbox_send_chunk(ids=outbox_due_ids(now=clock(), limit=10), clock=clock, sleep=clock.sleep)
    sms.refresh_from_db()
    assert sms.status == Status.SENT
    assert len(fake_sms.accepted) == 1


# -- WeChat subscriptions ----------------------------------------------------------------------------------------
def test_an_accepted_one_time_subscription_allows_exactly_one_send(fake_wechat_messages):
    wechat_template()
    member = wechat_member(1)
    points_expiring(member, key="first")
    points_expiring(member, key="second")

    drain(FakeClock(NOON))

    assert len(fake_wechat_messages.sent) == 1
    statuses = sorted(OutboxMessage.objects.values_list("status", "last_error"))
    assert statuses == [(Status.SENT, ""), (Status.SKIPPED, "no WeChat subscription")]


def test_wechat_43101_revokes_the_subscription(fake_wechat_messages):
    # given an accepted subscription that WeChat says the member refused
    wechat_template()
    member = wechat_member(1)
    fake_wechat_messages.refusing_openids.add(member.wechat_openid)
    points_expiring(member)

    # when the sender runs
    drain(FakeClock(NOON))

    # then the message is refused, not retried, and the subscription is gone
    message = OutboxMessage.objects.get()
    assert (message.status, message.attempts) == (Status.FAILED, 1)
    assert DeliveryAttempt.objects.get().outcome == Outcome.REFUSED
    subscription = WechatSubscription.objects.get(member=member)
    assert (subscription.available, subscription.refused_at) == (0, NOON)
    assert len(fake_wechat_messages.requests_to("/cgi-bin/message/subscribe/send")) == 1

    # and the next message is not even tried
    points_expiring(member, key="again")
    drain(FakeClock(NOON))
    assert len(fake_wechat_messages.requests_to("/cgi-bin/message/subscribe/send")) == 1


def test_wechat_without_a_template_for_the_kind_is_skipped(fake_wechat_messages):
    member = wechat_member_without_template = MemberFactory(consent_wechat=True, wechat_openid="o-x")
    points_expiring(member)

    drain(FakeClock(NOON))

    assert OutboxMessage.objects.get().last_error == "no WeChat template"
    assert fake_wechat_messages.sent == []
    assert wechat_member_without_template.pk == member.pk


def test_a_too_long_thing_value_is_cut_to_twenty_characters(fake_wechat_messages):
    wechat_template()
    member = wechat_member(1, name="A very long member name indeed")
    points_expiring(member)

    drain(FakeClock(NOON))

    value = fake_wechat_messages.sent[0]["data"]["thing3"]["value"]
    assert value == "A very long member …"
    assert len(value) == 20


# -- rate limits -------------------------------------------------------------------------------------------------
def test_the_channel_rate_limits_per_second_and_per_minute_are_respected(fake_sms, settings):
    # given 2 SMS per second and 5 per minute, and 12 messages due
    settings.CHANNEL_RATE_LIMITS = {**settings.CHANNEL_RATE_LIMITS, "sms": (2, 5)}
    for _ in range(12):
        points_expiring(sms_member())
    clock = FakeClock(NOON)

    # when one chunk runs
    outbox_send_chunk(ids=outbox_due_ids(now=clock(), limit=100), clock=clock, sleep=clock.sleep)

    # then 5 went, at most 2 in any second, and the rest wait (due) for the next run
    sent_at = list(OutboxMessage.objects.filter(status=Status.SENT).values_list("sent_at", flat=True))
    assert len(sent_at) == 5 == len(fake_sms.accepted)
    per_second = {}
    for moment in sent_at:
        per_second[int(moment.timestamp())] = per_second.get(int(moment.timestamp()), 0) + 1
    assert max(per_second.values()) == 2
    assert OutboxMessage.objects.filter(status=Status.PENDING).count() == 7
    assert not DeliveryAttempt.objects.exclude(outcome=Outcome.SENT).exists()  # waiting is not an attempt

    # and the next minute sends 5 more
    clock.advance(minutes=1)
    outbox_send_chunk(ids=outbox_due_ids(now=clock(), limit=100), clock=clock, sleep=clock.sleep)
    assert len(fake_sms.accepted) == 10


def test_a_closed_member_receives_nothing(fake_sms):
    member = sms_member()
    points_expiring(member)
    Member.objects.filter(pk=member.pk).update(status=Member.Status.CLOSED)

    drain(FakeClock(NOON))

    assert OutboxMessage.objects.get().status == Status.SKIPPED
    assert fake_sms.requests == []


def test_a_member_frozen_after_a_marketing_message_was_written_does_not_get_it_but_gets_their_own_news(fake_sms):
    # given a marketing message and a points reminder written for a member, who is frozen before they leave
    member = sms_member()
    coupon_issued(member)
    points_expiring(member)
    Member.objects.filter(pk=member.pk).update(status=Member.Status.FROZEN)

    drain(FakeClock(NOON))

    # then the marketing one is skipped; the member's own account news still goes
    statuses = dict(OutboxMessage.objects.values_list("notification__kind", "status"))
    assert statuses == {Notification.Kind.COUPON_ISSUED: Status.SKIPPED, Notification.Kind.POINTS_EXPIRING: Status.SENT}
    assert OutboxMessage.objects.get(notification__kind=Notification.Kind.COUPON_ISSUED).last_error == "member frozen"


def test_every_kind_of_notification_has_a_category_of_its_own():
    # a kind missing here was marketing by default: a refund notice needed consent to marketing
    from campaigns.channels.policy import CATEGORY_BY_KIND

    assert set(CATEGORY_BY_KIND) == set(Notification.Kind) - {Notification.Kind.CAMPAIGN}  # a campaign says its own
    assert CATEGORY_BY_KIND[Notification.Kind.CHECKOUT_REFUNDED] == Category.TRANSACTIONAL


def campaign_message(member, campaign, *, now=NOON):
    return notify(
        member_id=member.pk, kind=Notification.Kind.CAMPAIGN,
        params={"campaign": campaign.pk, "title": "A treat", "body": "HK$50 off today"},
        dedupe_key=f"campaign:{campaign.pk}:{member.pk}", now=now,
    )  # fmt: skip


def test_a_finished_campaigns_messages_still_in_the_outbox_are_not_sent(fake_sms):
    # given a campaign's SMS written (held for the quiet hours, say), then the merchant ends the campaign
    from tests.campaigns.campaign_factories import CampaignFactory

    campaign = CampaignFactory(channels=["sms"])
    campaign_message(sms_member(consent_marketing=True), campaign)
    campaign.status = campaign.Status.FINISHED
    campaign.save()

    drain(FakeClock(NOON))

    assert (OutboxMessage.objects.get().status, OutboxMessage.objects.get().last_error) == (
        Status.SKIPPED, "campaign finished",
    )  # fmt: skip
    assert fake_sms.requests == []


def test_a_paused_campaigns_messages_wait_and_go_when_it_resumes(fake_sms):
    from campaigns.services.campaign_runs import campaign_resume
    from tests.campaigns.campaign_factories import CampaignFactory

    campaign = CampaignFactory(channels=["sms"], status=Campaign.Status.PAUSED)
    campaign_message(sms_member(consent_marketing=True), campaign)
    clock = FakeClock(NOON)

    outbox_send_chunk(ids=outbox_due_ids(now=clock(), limit=100), clock=clock, sleep=clock.sleep)
    waited = (OutboxMessage.objects.get().status, len(fake_sms.requests))
    campaign_resume(campaign_id=campaign.pk, user=None, now=clock())
    outbox_send_chunk(ids=outbox_due_ids(now=clock(), limit=100), clock=clock, sleep=clock.sleep)

    assert waited == (Status.PENDING, 0)
    assert (OutboxMessage.objects.get().status, len(fake_sms.requests)) == (Status.SENT, 1)


def test_a_templates_tier_is_the_tiers_name_in_the_members_language(fake_sms):
    # given an SMS template naming {tier}, and a member writing Traditional Chinese, of a tier named in every language
    from tests.factories import TierFactory

    tier = TierFactory(code="gold", name="Gold", name_zh_hant="金卡", name_zh_hans="金卡会员")
    member = sms_member(locale="zh-hant", tier=tier)
    MessageTemplate.objects.create(
        kind=Notification.Kind.POINTS_EXPIRING, channel="sms", locale="zh-hant", body="{tier}會員：積分即將到期"
    )
    points_expiring(member)

    drain(FakeClock(NOON))

    [sms] = fake_sms.accepted.values()
    assert sms["text"].startswith("金卡會員：積分即將到期")  # not "gold Gold", the code and the English name


def test_the_programmes_name_in_a_message_is_in_the_members_language(fake_sms):
    from members.models import ProgramSettings

    settings_row = ProgramSettings.load()
    settings_row.program_name, settings_row.program_name_zh_hant = "Tasty Club", "美味會"
    settings_row.save()
    member = sms_member(locale="zh-hant")
    MessageTemplate.objects.create(
        kind=Notification.Kind.POINTS_EXPIRING, channel="sms", locale="zh-hant", body="{program}：積分即將到期"
    )
    points_expiring(member)

    drain(FakeClock(NOON))

    [sms] = fake_sms.accepted.values()
    assert sms["text"].startswith("美味會：積分即將到期")


def test_the_senders_reasons_show_in_the_staff_members_language(fake_sms, admin_client):
    member = sms_member(consent_marketing=False)
    coupon_issued(member)
    drain(FakeClock(NOON))
    attempt = DeliveryAttempt.objects.get()

    page = admin_client.get(f"/console/campaigns/deliveryattempt/{attempt.pk}/change/", HTTP_ACCEPT_LANGUAGE="zh-hant")

    assert attempt.detail == "no consent to marketing"  # kept in English, one value to filter and count by
    assert "會員未同意接收推廣訊息" in page.content.decode()

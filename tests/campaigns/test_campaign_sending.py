"""A campaign's messages through the real sender (fake SMS gateway): marketing needs the consent to marketing and
carries an unsubscribe link; a transactional campaign (points expiring) reaches the channel's consent alone."""

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from campaigns.channels.sender import outbox_due_ids, outbox_send_chunk
from campaigns.models import Campaign, Category, DeliveryAttempt
from campaigns.services.campaigns import campaign_deliver
from members.models import OutboxMessage
from tests.campaigns.campaign_factories import CampaignFactory
from tests.campaigns.channel_fakes import FakeClock
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db
NOON = datetime(2026, 6, 1, 12, 0, tzinfo=ZoneInfo("Asia/Hong_Kong"))


def send_all(clock):
    outbox_send_chunk(ids=outbox_due_ids(now=clock(), limit=100), clock=clock, sleep=clock.sleep)


def test_a_marketing_campaign_sms_carries_the_unsubscribe_link(fake_sms):
    member = MemberFactory(consent_sms=True, consent_marketing=True, locale="en")
    campaign = CampaignFactory(channels=["sms"], message_body="20% off this week")
    campaign_deliver(campaign_id=campaign.pk, member_ids=[member.pk], occasion="r", now=NOON)
    send_all(FakeClock(NOON))
    (body,) = fake_sms.accepted.values()
    assert body["category"] == "marketing"
    assert "20% off this week" in body["text"]
    assert "/unsubscribe/" in body["text"]


def test_a_transactional_campaign_reaches_a_member_without_marketing_consent(fake_sms):
    member = MemberFactory(consent_sms=True, consent_marketing=False, locale="en")
    campaign = CampaignFactory(
        kind=Campaign.Kind.POINTS_EXPIRING, is_marketing=False, channels=["sms"], message_body="Points expire soon"
    )
    campaign_deliver(campaign_id=campaign.pk, member_ids=[member.pk], occasion="expiry:1", now=NOON)
    send_all(FakeClock(NOON))
    assert OutboxMessage.objects.get().status == OutboxMessage.Status.SENT
    (body,) = fake_sms.accepted.values()
    assert body["category"] == "transactional"
    assert "unsubscribe" not in body["text"]
    assert DeliveryAttempt.objects.get().category == Category.TRANSACTIONAL

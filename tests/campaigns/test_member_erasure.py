"""Anonymising a member (PDPO) also erases the campaigns app's copies of their addresses: the unsubscribe records keep
their channel, decision and date but not the phone or e-mail; the delivery log and the webhook payloads lose them."""

import datetime

import pytest
from django.db import transaction

from campaigns.models import Category, ConsentRecord, DeliveryAttempt, WebhookDelivery, WebhookEndpoint
from members.models import OutboxMessage
from members.services.member_actions import member_anonymise
from tests.factories import MemberFactory, NotificationFactory, UserFactory

pytestmark = pytest.mark.django_db
NOW = datetime.datetime(2026, 12, 8, 10, 0, tzinfo=datetime.UTC)
EARLIER = NOW - datetime.timedelta(days=400)


def _traces(member, *, phone, email):
    """What the campaigns app wrote about the member: an unsubscribe, a send refused naming the number, a webhook."""
    ConsentRecord.objects.create(
        member=member,
        member_number=member.member_number,
        channel=OutboxMessage.Channel.SMS,
        consented=False,
        source=ConsentRecord.Source.REPLY,
        address=phone,
        recorded_at=EARLIER,
    )
    notification = NotificationFactory(member=member, created_at=NOW)
    message = OutboxMessage.objects.create(
        notification=notification,
        channel=OutboxMessage.Channel.SMS,
        status=OutboxMessage.Status.FAILED,
        last_error=f"gateway: number {phone} unreachable",
        created_at=NOW,
    )
    for detail in (f"gateway: number {phone} unreachable", "quiet hours until 2026-12-08 09:00"):
        DeliveryAttempt.objects.create(
            outbox_message=message,
            channel=message.channel,
            category=Category.MARKETING,
            outcome=DeliveryAttempt.Outcome.REFUSED,
            detail=detail,
            created_at=NOW,
        )
    endpoint = WebhookEndpoint.objects.create(name="CRM", url="http://127.0.0.1:9/hooks", secret="s" * 32, events=[])
    WebhookDelivery.objects.create(
        endpoint=endpoint,
        event="member.joined",
        event_key=f"member.joined:{member.pk}",
        payload={"member_number": member.member_number, "phone": phone, "email": email, "name": "Chan Tai Man"},
        member_number=member.member_number,
        status=WebhookDelivery.Status.PENDING,
        next_attempt_at=NOW,
        created_at=NOW,
    )


def test_anonymising_erases_the_addresses_the_campaigns_app_kept_but_not_the_consent_history():
    member = MemberFactory(name="Chan Tai Man", email="chan@example.com")
    phone = str(member.phone)
    _traces(member, phone=phone, email="chan@example.com")
    bystander = MemberFactory(email="lee@example.com")
    _traces(bystander, phone=str(bystander.phone), email="lee@example.com")

    member_anonymise(member_id=member.pk, reason="Asked by phone", requested_by=UserFactory(), now=NOW)

    record = ConsentRecord.objects.get(member=member)
    assert (record.address, record.channel, record.consented, record.recorded_at) == ("", "sms", False, EARLIER)
    assert record.member_number == member.member_number
    details = set(
        DeliveryAttempt.objects.filter(outbox_message__notification__member=member).values_list("detail", flat=True)
    )
    assert details == {"", "quiet hours until 2026-12-08 09:00"}
    assert OutboxMessage.objects.get(notification__member=member).last_error == ""
    payload = WebhookDelivery.objects.get(event_key=f"member.joined:{member.pk}").payload
    assert payload == {"member_number": member.member_number, "phone": "", "email": "", "name": ""}
    # the other member's rows are untouched
    assert ConsentRecord.objects.get(member=bystander).address == str(bystander.phone)
    assert WebhookDelivery.objects.get(event_key=f"member.joined:{bystander.pk}").payload["email"] == "lee@example.com"
    assert DeliveryAttempt.objects.filter(detail__contains=str(bystander.phone)).count() == 1


def test_an_address_the_member_had_before_is_erased_too():
    member = MemberFactory(email="old@example.com")
    old_phone = str(member.phone)
    _traces(member, phone=old_phone, email="old@example.com")
    member.email = "new@example.com"
    member.phone = "+85291234567"
    member.save()

    member_anonymise(member_id=member.pk, reason="Request", requested_by=UserFactory(), now=NOW)

    assert ConsentRecord.objects.get(member=member).address == ""
    assert not DeliveryAttempt.objects.filter(detail__contains=old_phone).exists()


def test_a_failed_erasure_undoes_the_anonymisation(monkeypatch):
    member = MemberFactory(email="chan@example.com")
    _traces(member, phone=str(member.phone), email="chan@example.com")

    def broken(**kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr("campaigns.services.erasure.member_addresses_erase", broken)
    with pytest.raises(RuntimeError), transaction.atomic():
        member_anonymise(member_id=member.pk, reason="Request", requested_by=UserFactory(), now=NOW)
    member.refresh_from_db()
    assert member.email == "chan@example.com"
    assert ConsentRecord.objects.get(member=member).address == str(member.phone)


def test_the_inbox_names_the_pseudonym_where_it_named_the_member():
    member = MemberFactory(name="Chan Siu Ming")
    member.name = "Chan Tai Man"
    member.save()
    greeting = NotificationFactory(
        member=member,
        title="Happy birthday, Chan Tai Man",
        body="Chan Siu Ming, your gift waits at the counter.",
        params={"title": "Happy birthday, Chan Tai Man", "coupon": "HK$50 off"},
    )
    bystander = MemberFactory(name="Chan Tai Man")
    theirs = NotificationFactory(member=bystander, title="Hello Chan Tai Man")

    anonymisation = member_anonymise(member_id=member.pk, reason="Request", requested_by=UserFactory(), now=NOW)

    greeting.refresh_from_db()
    pseudonym = anonymisation.pseudonym
    assert greeting.title == f"Happy birthday, {pseudonym}"
    assert greeting.body == f"{pseudonym}, your gift waits at the counter."
    assert greeting.params == {"title": f"Happy birthday, {pseudonym}", "coupon": "HK$50 off"}
    theirs.refresh_from_db()
    assert theirs.title == "Hello Chan Tai Man"


def test_a_short_latin_name_is_replaced_as_a_word_only():
    member = MemberFactory(name="Al")
    note = NotificationFactory(member=member, title="Always welcome, Al")

    pseudonym = member_anonymise(member_id=member.pk, reason="Request", requested_by=UserFactory(), now=NOW).pseudonym

    note.refresh_from_db()
    assert note.title == f"Always welcome, {pseudonym}"

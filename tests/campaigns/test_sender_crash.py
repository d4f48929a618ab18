"""A worker that dies during a send: the sender wrote a "sending" attempt before calling the provider, so the
message claimed again after its lease is not sent a second time blindly. E-mail and WeChat (no idempotency key at
the provider) end "unknown" for staff; SMS is sent again under the same Idempotency-Key, which the gateway drops."""

from datetime import timedelta

import pytest

from campaigns.channels import sender
from campaigns.channels.sender import LEASE, outbox_due_ids, outbox_send
from campaigns.models import DeliveryAttempt
from members.models import OutboxMessage
from tests.campaigns.channel_fakes import FakeClock
from tests.campaigns.test_channel_sender import (
    NOON,
    coupon_issued,
    points_expiring,
    sms_member,
    wechat_member,
    wechat_template,
)
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db
Status = OutboxMessage.Status
Outcome = DeliveryAttempt.Outcome


class WorkerKilled(BaseException):
    """Stands for SIGKILL: nothing after it runs (not an Exception, so no handler of the sender catches it)."""


def dies_after(real):
    def call(*args, **kwargs):
        real(*args, **kwargs)  # the provider accepted the message...
        raise WorkerKilled  # ...and the worker died before recording it

    return call


def send_due(now):
    for outbox_id in outbox_due_ids(now=now, limit=100):
        outbox_send(outbox_id=outbox_id, now=now)


def test_an_email_whose_worker_died_after_the_smtp_server_took_it_is_not_sent_again(fake_smtp, monkeypatch):
    # given a marketing e-mail, and a worker that dies right after the mail server accepted it
    member = MemberFactory(consent_email=True, consent_marketing=True, email="m@example.com", locale="en")
    coupon_issued(member)
    monkeypatch.setattr(sender, "mail_send", dies_after(sender.mail_send))
    with pytest.raises(WorkerKilled):
        send_due(NOON)
    monkeypatch.undo()

    # when the lease ends and the sender runs again
    clock = FakeClock(NOON + LEASE + timedelta(seconds=1))
    send_due(clock())

    # then the member got it once, and the log says the outcome is unknown rather than claiming a send or a failure
    assert len(fake_smtp.messages) == 1
    message = OutboxMessage.objects.get()
    assert message.status == Status.FAILED
    [attempt] = DeliveryAttempt.objects.all()
    assert (attempt.outcome, attempt.attempt, message.attempts) == (Outcome.UNKNOWN, 1, 1)
    assert "may have been delivered" in attempt.detail
    assert fake_smtp.messages[0]["Message-ID"] == f"<outbox-{message.pk}@example.com>"


def test_an_sms_whose_worker_died_is_sent_again_and_the_gateway_drops_the_copy(fake_sms, monkeypatch):
    member = sms_member()
    points_expiring(member)
    monkeypatch.setattr(sender, "get_sms_client", lambda real=sender.get_sms_client: _dying_client(real()))
    with pytest.raises(WorkerKilled):
        send_due(NOON)
    monkeypatch.undo()

    send_due(NOON + LEASE + timedelta(seconds=1))

    assert OutboxMessage.objects.get().status == Status.SENT
    assert len(fake_sms.requests_to("/messages")) == 2
    assert set(fake_sms.accepted_count.values()) == {1}
    assert list(DeliveryAttempt.objects.order_by("pk").values_list("outcome", "attempt")) == [
        (Outcome.UNKNOWN, 1),
        (Outcome.SENT, 2),
    ]


def _dying_client(client):
    class Dying:
        def send(self, **kwargs):
            return dies_after(client.send)(**kwargs)

        def send_subscribe_message(self, **kwargs):
            return dies_after(client.send_subscribe_message)(**kwargs)

    return Dying()


def test_a_wechat_message_whose_worker_died_after_wechat_took_it_ends_unknown_not_skipped(
    fake_wechat_messages, monkeypatch
):
    wechat_template()
    points_expiring(wechat_member(1))
    monkeypatch.setattr(sender, "get_wechat_client", lambda real=sender.get_wechat_client: _dying_client(real()))
    with pytest.raises(WorkerKilled):
        send_due(NOON)
    monkeypatch.undo()

    send_due(NOON + LEASE + timedelta(seconds=1))

    assert len(fake_wechat_messages.sent) == 1
    assert OutboxMessage.objects.get().status == Status.FAILED
    assert list(DeliveryAttempt.objects.values_list("outcome", flat=True)) == [Outcome.UNKNOWN]


def test_the_attempt_is_recorded_as_sending_before_the_provider_is_called_and_completed_after(fake_smtp, monkeypatch):
    member = MemberFactory(consent_email=True, consent_marketing=True, email="m@example.com", locale="en")
    coupon_issued(member)
    seen_during_the_call = []
    real = sender.mail_send

    def mail_send(**kwargs):
        seen_during_the_call.extend(DeliveryAttempt.objects.values_list("outcome", flat=True))
        real(**kwargs)

    monkeypatch.setattr(sender, "mail_send", mail_send)
    send_due(NOON)

    assert seen_during_the_call == [Outcome.SENDING]
    assert list(DeliveryAttempt.objects.values_list("outcome", flat=True)) == [Outcome.SENT]

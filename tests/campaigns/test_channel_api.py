"""The channels' API: WeChat subscriptions reported by the mini program, SMS reply keywords (the unsubscribe link's
page: test_unsubscribe_page.py)."""

import json
import time

import pytest

from campaigns.models import ConsentRecord, MessageTemplate, WechatSubscription
from infra.webhooks import SIGNATURE_HEADER, webhook_signature
from members.models import Notification
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def wechat_template():
    return MessageTemplate.objects.create(
        kind=Notification.Kind.POINTS_EXPIRING,
        channel="wechat_subscribe",
        locale="zh-hant",
        wechat_template_id="tmpl-1",
        wechat_fields={"number1": "{points}"},
    )


def test_the_mini_program_reports_an_accepted_template(member_client, wechat_template):
    member = MemberFactory(wechat_openid="o-1")

    response = member_client(member).post(
        "/api/v1/me/wechat-subscriptions", {"results": {"tmpl-1": "accept"}}, format="json"
    )

    assert response.status_code == 200
    [row] = response.json()
    assert (row["template_id"], row["available"]) == ("tmpl-1", 1)
    assert WechatSubscription.objects.get(member=member).available == 1


def test_a_refusal_withdraws_what_was_accepted(member_client, wechat_template):
    member = MemberFactory()
    client = member_client(member)
    client.post("/api/v1/me/wechat-subscriptions", {"results": {"tmpl-1": "accept"}}, format="json")

    response = client.post("/api/v1/me/wechat-subscriptions", {"results": {"tmpl-1": "reject"}}, format="json")

    assert response.json()[0]["available"] == 0
    assert client.get("/api/v1/me/wechat-subscriptions").json()[0]["available"] == 0


def test_an_unknown_template_is_refused_in_the_error_shape(member_client, wechat_template):
    response = member_client(MemberFactory()).post(
        "/api/v1/me/wechat-subscriptions", {"results": {"nope": "accept"}}, format="json"
    )

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_input"
    assert not WechatSubscription.objects.exists()


@pytest.mark.parametrize("text", ["STOP", " stop ", "退訂", "退订", "TD"])
def test_a_signed_stop_reply_withdraws_sms_consent(api_client, settings, text):
    settings.SMS_INBOUND_SECRET = "inbound-secret"
    member = MemberFactory(consent_sms=True, phone="+85291234567")
    body = json.dumps({"sender": member.phone, "text": text}).encode()
    signature = webhook_signature(secret="inbound-secret", timestamp=int(time.time()), body=body)

    response = api_client.post(
        "/api/v1/channels/sms/replies", body, content_type="application/json", headers={SIGNATURE_HEADER: signature}
    )

    assert response.json() == {"unsubscribed": True}
    member.refresh_from_db()
    assert member.consent_sms is False
    assert ConsentRecord.objects.get().source == "reply"


def test_an_unsigned_reply_is_refused(api_client, settings):
    settings.SMS_INBOUND_SECRET = "inbound-secret"
    member = MemberFactory(consent_sms=True)

    response = api_client.post("/api/v1/channels/sms/replies", {"sender": member.phone, "text": "STOP"}, format="json")

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "authentication_failed"
    member.refresh_from_db()
    assert member.consent_sms is True


@pytest.mark.parametrize(
    "header",
    [
        "t=1,v1=é",
        "t=١٢٣,v1=" + "a" * 64,
        "v1=" + "a" * 64,
        "t=1",
        "garbage",
        "t=1,v1=" + "A" * 64,
        "t=" + "1" * 4301 + ",v1=" + "a" * 64,  # more digits than Python's int() reads
    ],
)
def test_a_malformed_reply_signature_is_refused_not_a_server_error(api_client, settings, header):
    settings.SMS_INBOUND_SECRET = "inbound-secret"

    response = api_client.post(
        "/api/v1/channels/sms/replies",
        {"sender": "+85291234567", "text": "STOP"},
        format="json",
        headers={SIGNATURE_HEADER: header},
    )

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "authentication_failed"


def test_a_reply_signed_long_ago_is_refused_so_a_captured_request_cannot_be_replayed(api_client, settings):
    settings.SMS_INBOUND_SECRET = "inbound-secret"
    member = MemberFactory(consent_sms=True, phone="+85291234567")
    body = json.dumps({"sender": member.phone, "text": "STOP"}).encode()
    signature = webhook_signature(secret="inbound-secret", timestamp=int(time.time()) - 3600, body=body)

    response = api_client.post(
        "/api/v1/channels/sms/replies", body, content_type="application/json", headers={SIGNATURE_HEADER: signature}
    )

    assert response.status_code == 401
    member.refresh_from_db()
    assert member.consent_sms is True

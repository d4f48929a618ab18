"""Member sign-in with WeChat, tokens and their refusals, error format and language."""

from datetime import datetime, timedelta

import pytest
from django.utils import timezone

from members.models import Member, MemberToken, WechatSession
from members.services.tokens import member_token_issue, member_token_revoke
from tests.factories import MemberFactory

LOGIN_URL = "/api/v1/auth/wechat-login"
ME_URL = "/api/v1/me"

pytestmark = pytest.mark.django_db


def login(client, code, **extra):
    return client.post(LOGIN_URL, {"code": code}, format="json", **extra)


def test_first_wechat_login_creates_a_visitor_and_returns_a_working_token(api_client, fake_wechat):
    # given
    fake_wechat.add_login_code("code-1", openid="o-alice", unionid="u-alice", session_key="sk-secret-alice")

    # when
    response = login(api_client, "code-1")

    # then
    assert response.status_code == 200
    body = response.json()
    assert body["token"].startswith("mbr_")
    assert body["member"]["status"] == "visitor"
    assert body["member"]["phone"] is None
    member = Member.objects.get(wechat_openid="o-alice")
    assert body["member"]["member_number"] == member.member_number
    assert member.wechat_unionid == "u-alice"
    assert WechatSession.objects.get(member=member).session_key == "sk-secret-alice"
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {body['token']}")
    assert api_client.get(ME_URL).json()["member_number"] == member.member_number


def test_login_never_sends_the_session_key_to_the_client(api_client, fake_wechat):
    fake_wechat.add_login_code("code-1", openid="o-alice", session_key="sk-secret-alice")

    response = login(api_client, "code-1")

    assert "sk-secret-alice" not in response.content.decode()
    assert "session_key" not in response.content.decode()


def test_login_returns_the_tokens_expiry_thirty_days_ahead_and_is_never_cached(api_client, fake_wechat, settings):
    fake_wechat.add_login_code("code-1", openid="o-alice")
    before = timezone.now()

    response = login(api_client, "code-1")

    token = MemberToken.objects.get()
    assert datetime.fromisoformat(response.json()["expires_at"]) == token.expires_at
    assert before + timedelta(days=settings.MEMBER_TOKEN_TTL_DAYS) <= token.expires_at
    assert response["Cache-Control"] == "no-store"


def test_second_login_with_the_same_openid_finds_the_same_member(api_client, fake_wechat):
    # given
    fake_wechat.add_login_code("code-1", openid="o-alice")
    fake_wechat.add_login_code("code-2", openid="o-alice")
    first = login(api_client, "code-1").json()

    # when
    second = login(api_client, "code-2").json()

    # then
    assert second["member"]["member_number"] == first["member"]["member_number"]
    assert second["token"] != first["token"]
    assert Member.objects.count() == 1


def test_login_of_an_existing_active_member_returns_it_active(api_client, fake_wechat):
    member = MemberFactory(wechat_openid="o-bob")
    fake_wechat.add_login_code("code-1", openid="o-bob")

    body = login(api_client, "code-1").json()

    assert body["member"]["member_number"] == member.member_number
    assert body["member"]["status"] == "active"


def test_login_of_a_frozen_member_is_refused_without_a_token(api_client, fake_wechat):
    MemberFactory(wechat_openid="o-bob", status=Member.Status.FROZEN)
    fake_wechat.add_login_code("code-1", openid="o-bob")

    response = login(api_client, "code-1")

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "member_not_active"
    assert not MemberToken.objects.exists()


def test_login_with_a_code_wechat_refuses_is_401_wechat_login_failed(api_client, fake_wechat):
    response = login(api_client, "not-a-code")

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "wechat_login_failed"
    assert not Member.objects.exists()


def test_login_when_wechat_is_down_is_503_wechat_unavailable(api_client, fake_wechat):
    fake_wechat.stop()

    response = login(api_client, "code-1")

    assert response.status_code == 503
    assert response.json()["error"]["code"] == "wechat_unavailable"


def test_login_when_wechat_times_out_is_503_wechat_unavailable(api_client, fake_wechat, settings):
    settings.WECHAT_TIMEOUT_SECONDS = 0.2
    fake_wechat.add_login_code("code-1", openid="o-alice")
    fake_wechat.delay_seconds = 1.0

    response = login(api_client, "code-1")

    assert response.status_code == 503
    assert response.json()["error"]["code"] == "wechat_unavailable"
    assert not Member.objects.exists()


def test_login_without_a_code_is_invalid_input_naming_the_field(api_client, fake_wechat):
    response = api_client.post(LOGIN_URL, {}, format="json")

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_input"
    assert list(error["fields"]) == ["code"]


def test_login_with_an_openid_sent_by_the_client_refuses_the_field(api_client, fake_wechat):
    response = api_client.post(LOGIN_URL, {"code": "c", "openid": "o-forged"}, format="json")

    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == ["openid"]
    assert fake_wechat.requests == []


def test_malformed_json_is_malformed_request(api_client, fake_wechat):
    response = api_client.post(LOGIN_URL, data='{"code": ', content_type="application/json")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "malformed_request"


def test_login_is_throttled_per_ip(api_client, fake_wechat, settings):
    # given a rate of 2 logins a minute
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"login": "2/min"}}
    for code in ("c1", "c2", "c3"):
        fake_wechat.add_login_code(code, openid=f"o-{code}")
    assert login(api_client, "c1").status_code == 200
    assert login(api_client, "c2").status_code == 200

    # when
    response = login(api_client, "c3")

    # then
    assert response.status_code == 429
    assert response.json()["error"]["code"] == "throttled"
    assert "Retry-After" in response
    assert len(fake_wechat.requests_to("/sns/jscode2session")) == 2


def test_login_throttle_counts_each_ip_apart(api_client, fake_wechat, settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"login": "1/min"}}
    fake_wechat.add_login_code("c1", openid="o-1")
    fake_wechat.add_login_code("c2", openid="o-2")
    assert login(api_client, "c1", REMOTE_ADDR="10.0.0.1").status_code == 200

    response = login(api_client, "c2", REMOTE_ADDR="10.0.0.2")

    assert response.status_code == 200


def test_logout_revokes_the_token_used(api_client, fake_wechat, now):
    # given
    member = MemberFactory()
    raw = member_token_issue(member_id=member.pk, now=now)
    other = member_token_issue(member_id=member.pk, now=now)
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")

    # when
    response = api_client.post("/api/v1/auth/logout")

    # then
    assert response.status_code == 204
    assert api_client.get(ME_URL).status_code == 401
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {other}")
    assert api_client.get(ME_URL).status_code == 200


def test_an_expired_token_is_refused(api_client, now):
    member = MemberFactory()
    raw = member_token_issue(member_id=member.pk, now=now - timedelta(days=31))
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")

    response = api_client.get(ME_URL)

    assert response.status_code == 401
    assert MemberToken.objects.get(member=member).expires_at < timezone.now()  # not slid back to life


def test_me_without_credentials_is_401_not_authenticated(api_client):
    response = api_client.get(ME_URL)

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"
    assert response["WWW-Authenticate"].startswith("Bearer")


def _expired_token(member, now):
    return member_token_issue(member_id=member.pk, now=now - timedelta(days=31))


def _revoked_token(member, now):
    raw = member_token_issue(member_id=member.pk, now=now)
    member_token_revoke(token_id=MemberToken.objects.get(member=member).pk, now=now)
    return raw


@pytest.mark.parametrize(
    "make_header",
    [
        pytest.param(lambda member, now: "Bearer mbr_not-a-real-token", id="unknown token"),
        pytest.param(lambda member, now: f"Bearer {_expired_token(member, now)}", id="expired token"),
        pytest.param(lambda member, now: f"Bearer {_revoked_token(member, now)}", id="revoked token"),
        pytest.param(lambda member, now: "Bearer", id="scheme without token"),
        pytest.param(lambda member, now: "Token mbr_abc", id="unknown scheme"),
    ],
)
def test_me_with_a_bad_member_token_is_401_authentication_failed(api_client, make_header, now):
    member = MemberFactory()
    api_client.credentials(HTTP_AUTHORIZATION=make_header(member, now))

    response = api_client.get(ME_URL)

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "authentication_failed"


def test_a_frozen_members_token_stops_working(api_client, now):
    member = MemberFactory()
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {member_token_issue(member_id=member.pk, now=now)}")
    Member.objects.filter(pk=member.pk).update(status=Member.Status.FROZEN)

    response = api_client.get(ME_URL)

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "authentication_failed"


@pytest.mark.parametrize("scheme", ["Bearer", "Api-Key"])
def test_a_pos_key_is_refused_as_a_member_token(api_client, pos_key, scheme):
    api_client.credentials(HTTP_AUTHORIZATION=f"{scheme} {pos_key[1]}")

    response = api_client.get(ME_URL)

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "authentication_failed"


def test_errors_follow_accept_language_zh_hant(api_client, fake_wechat):
    # given no catalogue yet for our own strings: the structure and the negotiated language are asserted
    response = login(api_client, "not-a-code", HTTP_ACCEPT_LANGUAGE="zh-hant")

    assert response.status_code == 401
    assert response["Content-Language"] == "zh-hant"
    error = response.json()["error"]
    assert error["code"] == "wechat_login_failed"
    assert isinstance(error["message"], str)
    assert error["message"]
    assert error["fields"] == {}


def test_error_messages_follow_accept_language_through_the_handler(api_client):
    # DRF ships this string in zh-hans (its zh-hant catalogue lacks it), which proves the whole path.
    english = api_client.get(ME_URL).json()["error"]
    chinese = api_client.get(ME_URL, HTTP_ACCEPT_LANGUAGE="zh-hans").json()["error"]

    assert chinese["code"] == english["code"] == "not_authenticated"
    assert chinese["message"] != english["message"]

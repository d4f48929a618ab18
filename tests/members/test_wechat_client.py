"""The real WeChat client against a fake WeChat server on 127.0.0.1."""

import socket

import pytest

from infra.errors import WechatLoginFailed, WechatPhoneFailed, WechatUnavailable
from infra.wechat import WechatClient
from tests.fakes import FakeResponse


def test_code_to_session_returns_openid_unionid_and_session_key(fake_wechat):
    # given
    fake_wechat.add_login_code("code-1", openid="o-alice", unionid="u-alice", session_key="sk-alice")

    # when
    login = WechatClient().code_to_session(code="code-1")

    # then
    assert (login.openid, login.unionid, login.session_key) == ("o-alice", "u-alice", "sk-alice")
    [request] = fake_wechat.requests_to("/sns/jscode2session")
    assert request.method == "GET"
    assert request.query == {
        "appid": "wx-test-app",
        "secret": "wx-test-secret",
        "js_code": "code-1",
        "grant_type": "authorization_code",
    }


def test_code_to_session_without_unionid_gives_an_empty_unionid(fake_wechat):
    fake_wechat.add_login_code("code-1", openid="o-alice")

    login = WechatClient().code_to_session(code="code-1")

    assert login.unionid == ""


def test_code_to_session_raises_login_failed_when_wechat_refuses_the_code(fake_wechat):
    with pytest.raises(WechatLoginFailed):
        WechatClient().code_to_session(code="unknown")


def test_code_to_session_raises_unavailable_when_wechat_is_busy(fake_wechat):
    fake_wechat.add_login_code("code-1", openid="o-alice")
    fake_wechat.busy = True

    with pytest.raises(WechatUnavailable):
        WechatClient().code_to_session(code="code-1")


def test_code_to_session_raises_unavailable_when_wechat_answers_http_500(fake_wechat):
    fake_wechat.route("GET", "/sns/jscode2session", lambda request: FakeResponse(status=500, body=b"oops"))

    with pytest.raises(WechatUnavailable):
        WechatClient().code_to_session(code="code-1")


def test_code_to_session_raises_unavailable_when_wechat_answers_something_not_json(fake_wechat):
    fake_wechat.route("GET", "/sns/jscode2session", lambda request: FakeResponse(body=b"<html>gateway</html>"))

    with pytest.raises(WechatUnavailable):
        WechatClient().code_to_session(code="code-1")


def test_code_to_session_raises_unavailable_when_wechat_is_too_slow(fake_wechat):
    fake_wechat.add_login_code("code-1", openid="o-alice")
    fake_wechat.delay_seconds = 1.0

    with pytest.raises(WechatUnavailable):
        WechatClient(timeout=0.2).code_to_session(code="code-1")


def test_code_to_session_raises_unavailable_when_nothing_listens():
    # given a port nobody listens on
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]

    with pytest.raises(WechatUnavailable):
        WechatClient(base_url=f"http://127.0.0.1:{port}", appid="a", secret="s").code_to_session(code="c")


def test_get_phone_number_returns_the_number_with_its_country_code(fake_wechat):
    fake_wechat.add_phone_code("p-1", country_code=852, pure_phone_number="91234567")

    phone = WechatClient().get_phone_number(code="p-1")

    assert phone == "+85291234567"
    [request] = fake_wechat.requests_to("/wxa/business/getuserphonenumber")
    assert request.method == "POST"
    assert request.json() == {"code": "p-1"}
    assert request.query["access_token"] in fake_wechat.valid_access_tokens


def test_access_token_is_fetched_once_and_then_served_from_the_cache(fake_wechat):
    fake_wechat.add_phone_code("p-1", country_code=852, pure_phone_number="91234567")
    fake_wechat.add_phone_code("p-2", country_code=86, pure_phone_number="13800138000")
    client = WechatClient()

    client.get_phone_number(code="p-1")
    client.get_phone_number(code="p-2")

    [token_request] = fake_wechat.requests_to("/cgi-bin/token")
    assert token_request.query == {
        "grant_type": "client_credential",
        "appid": "wx-test-app",
        "secret": "wx-test-secret",
    }


def test_a_stale_access_token_is_replaced_once_and_the_call_retried(fake_wechat):
    # given a cached token WeChat no longer accepts
    client = WechatClient()
    client.access_token()
    fake_wechat.expire_access_tokens()
    fake_wechat.add_phone_code("p-1", country_code=852, pure_phone_number="91234567")

    # when
    phone = client.get_phone_number(code="p-1")

    # then
    assert phone == "+85291234567"
    assert len(fake_wechat.requests_to("/cgi-bin/token")) == 2
    assert len(fake_wechat.requests_to("/wxa/business/getuserphonenumber")) == 2


def test_get_phone_number_raises_phone_failed_when_wechat_refuses_the_code(fake_wechat):
    with pytest.raises(WechatPhoneFailed):
        WechatClient().get_phone_number(code="unknown")


def test_get_phone_number_refuses_a_number_watermarked_for_another_app(fake_wechat):
    fake_wechat.add_phone_code("p-1", country_code=852, pure_phone_number="91234567", appid="wx-other-app")

    with pytest.raises(WechatPhoneFailed):
        WechatClient().get_phone_number(code="p-1")


def test_get_phone_number_raises_unavailable_when_our_credentials_are_refused(fake_wechat, settings):
    settings.WECHAT_SECRET = "wrong-secret"
    fake_wechat.add_phone_code("p-1", country_code=852, pure_phone_number="91234567")

    with pytest.raises(WechatUnavailable):
        WechatClient().get_phone_number(code="p-1")

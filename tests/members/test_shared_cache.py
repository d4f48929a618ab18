"""Throttles and the WeChat breaker count in the shared cache (CACHE_URL on Redis), so every worker process agrees.

With the local-memory cache each gunicorn worker kept its own counts: 80 bad logins let 49 through at a limit of
20 a minute. These tests run another Python process (its own Redis connection, as another worker would be) next
to the test's own requests.
"""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from infra.wechat import WechatClient

pytestmark = [pytest.mark.redis, pytest.mark.django_db]

ROOT = Path(__file__).resolve().parents[2]
LOGIN_URL = "/api/v1/auth/wechat-login"
CLIENT_IP = "203.0.113.7"


def in_another_process(code: str, *, env: dict | None = None) -> str:
    """Run `code` in a new Python process with the app's settings and the same cache; return what it prints."""
    script = "import django\ndjango.setup()\n" + textwrap.dedent(code)
    completed = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings", **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return completed.stdout.strip()


def test_the_login_throttle_counts_every_process_and_refuses_the_21st_login_in_a_minute(
    api_client, fake_wechat, settings
):
    # given a limit of 20 logins a minute, and 10 bad logins from one address counted by another process
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"login": "20/min"}}
    allowed_there = in_another_process(
        f"""
        from rest_framework.request import Request
        from rest_framework.test import APIRequestFactory
        from members.api.throttles import LoginIpThrottle

        factory = APIRequestFactory()
        requests = [Request(factory.post("{LOGIN_URL}", REMOTE_ADDR="{CLIENT_IP}")) for _ in range(10)]
        print(sum(LoginIpThrottle().allow_request(request, None) for request in requests))
        """,
        env={"THROTTLE_LOGIN": "20/min"},
    )
    assert allowed_there == "10"
    # and 10 more bad logins here
    for attempt in range(10):
        response = api_client.post(LOGIN_URL, {"code": f"bad-{attempt}"}, format="json", REMOTE_ADDR=CLIENT_IP)
        assert response.status_code == 401

    # when the 21st comes
    response = api_client.post(LOGIN_URL, {"code": "bad-21"}, format="json", REMOTE_ADDR=CLIENT_IP)

    # then
    assert response.status_code == 429
    assert response.json()["error"]["code"] == "throttled"
    assert len(fake_wechat.requests_to("/sns/jscode2session")) == 10


def test_a_breaker_opened_by_another_process_refuses_logins_here(api_client, fake_wechat, settings):
    # given another process that saw WeChat fail five times in a row (nothing listens on its WeChat address)
    in_another_process(
        """
        from infra.errors import WechatUnavailable
        from infra.wechat import WechatClient

        client = WechatClient(base_url="http://127.0.0.1:9", appid="a", secret="s")
        for _ in range(5):
            try:
                client.code_to_session(code="c")
            except WechatUnavailable:
                pass
        """,
        env={"OUTBOUND_BREAKER_FAILURES": "5", "OUTBOUND_BREAKER_COOLDOWN_SECONDS": "30"},
    )
    assert WechatClient().breaker.state == "open"
    fake_wechat.add_login_code("code-1", openid="o-alice")

    # when a member logs in here, where WeChat would answer
    response = api_client.post(LOGIN_URL, {"code": "code-1"}, format="json")

    # then the shared breaker answers at once
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "wechat_unavailable"
    assert "Retry-After" in response
    assert fake_wechat.requests_to("/sns/jscode2session") == []

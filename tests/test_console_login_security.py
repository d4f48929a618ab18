"""The console's login is guarded: repeated failures lock the username on that address (not the whole shop), a
locked-out person is told so in their language, and with DEBUG off the deployment is HTTPS-only
(`manage.py check --deploy` is clean)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client
from django.urls import reverse

from members.models import Role
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

LOGIN_URL = reverse("admin:login")
PASSWORD = "pass-word-123"  # tests.factories.UserFactory's


@pytest.fixture
def clerk():
    return UserFactory(username="clerk-a", role=Role.CLERK)


def log_in(client, username, password, address="203.0.113.7", **headers):
    return client.post(
        LOGIN_URL,
        {"username": username, "password": password, "next": "/console/"},
        REMOTE_ADDR=address,
        **headers,
    )


def fail(client, username, times, address="203.0.113.7", limit=None):
    for attempt in range(1, times + 1):
        response = log_in(client, username, "wrong", address)
        # The login form again with its error; the failure that reaches the limit is answered by the lockout.
        assert response.status_code == (429 if attempt == limit else 200)


def test_the_right_password_logs_in(clerk):
    response = log_in(Client(), "clerk-a", PASSWORD)

    assert response.status_code == 302


def test_after_the_failure_limit_even_the_right_password_is_refused_with_a_429(clerk, settings):
    fail(Client(), "clerk-a", settings.AXES_FAILURE_LIMIT, limit=settings.AXES_FAILURE_LIMIT)

    response = log_in(Client(), "clerk-a", PASSWORD)

    assert response.status_code == 429
    assert "Too many failed logins" in response.content.decode()
    assert "_auth_user_id" not in response.wsgi_request.session


def test_one_failure_fewer_than_the_limit_still_lets_the_right_password_in(clerk, settings):
    fail(Client(), "clerk-a", settings.AXES_FAILURE_LIMIT - 1)

    assert log_in(Client(), "clerk-a", PASSWORD).status_code == 302


def test_a_success_resets_the_count(clerk, settings):
    fail(Client(), "clerk-a", settings.AXES_FAILURE_LIMIT - 1)
    assert log_in(Client(), "clerk-a", PASSWORD).status_code == 302

    fail(Client(), "clerk-a", settings.AXES_FAILURE_LIMIT - 1)

    assert log_in(Client(), "clerk-a", PASSWORD).status_code == 302


def test_the_lock_is_per_username_and_address_so_the_shops_other_staff_still_log_in(clerk, settings):
    UserFactory(username="clerk-b", role=Role.CLERK)
    fail(Client(), "clerk-a", settings.AXES_FAILURE_LIMIT, limit=settings.AXES_FAILURE_LIMIT)

    assert log_in(Client(), "clerk-b", PASSWORD).status_code == 302  # same shop address, another clerk
    assert log_in(Client(), "clerk-a", PASSWORD, address="198.51.100.9").status_code == 302  # another place


def test_behind_a_trusted_proxy_the_clients_forwarded_address_is_what_is_locked(clerk, settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    proxy = "10.0.0.2"
    for _ in range(settings.AXES_FAILURE_LIMIT):
        log_in(Client(), "clerk-a", "wrong", proxy, HTTP_X_FORWARDED_FOR="203.0.113.7")

    locked = log_in(Client(), "clerk-a", PASSWORD, proxy, HTTP_X_FORWARDED_FOR="203.0.113.7")
    # A spoofed extra address before the client's does not change who is counted.
    spoofed = log_in(Client(), "clerk-a", PASSWORD, proxy, HTTP_X_FORWARDED_FOR="1.2.3.4, 203.0.113.7")
    elsewhere = log_in(Client(), "clerk-a", PASSWORD, proxy, HTTP_X_FORWARDED_FOR="198.51.100.9")

    assert (locked.status_code, spoofed.status_code, elsewhere.status_code) == (429, 429, 302)


@pytest.mark.parametrize(
    ("language", "text"),
    [("zh-hant", "登入失敗次數過多"), ("zh-hans", "登录失败次数过多")],
)
def test_the_lockout_page_speaks_the_staff_members_language(clerk, settings, language, text):
    fail(Client(), "clerk-a", settings.AXES_FAILURE_LIMIT, limit=settings.AXES_FAILURE_LIMIT)

    response = log_in(Client(), "clerk-a", PASSWORD, HTTP_ACCEPT_LANGUAGE=language)

    assert response.status_code == 429
    assert text in response.content.decode()


def test_with_debug_off_the_deployment_checks_are_clean():
    root = Path(__file__).resolve().parent.parent
    env = {
        **os.environ,
        "DEBUG": "false",
        "SECRET_KEY": "a-long-random-production-secret-0123456789-abcdefghijklmnop",
        "ALLOWED_HOSTS": "loyalty.example.com",
        # The README's production list: the two HSTS extensions are the operator's call (every subdomain on
        # HTTPS first), so they are off by default and set there.
        "SECURE_HSTS_INCLUDE_SUBDOMAINS": "true",
        "SECURE_HSTS_PRELOAD": "true",
    }
    env.pop("HTTPS_ONLY", None)

    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout

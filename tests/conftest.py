import os
import shutil
from urllib.parse import urlsplit, urlunsplit

import pytest
from django.core.cache import cache
from django.db import connection
from django.utils import translation
from rest_framework.test import APIClient

from config.celery import app as celery_app

# Unit tests run tasks eagerly even when CELERY_BROKER_URL is set; tests marked `worker` use the broker.
celery_app.conf.task_always_eager = True
celery_app.conf.task_eager_propagates = True


def _redis_db_shifted(url: str, shift: int) -> str:
    """The same Redis URL on database number + `shift` (redis://host:port/N)."""
    parts = urlsplit(url)
    number = int(parts.path.strip("/") or 0)
    return urlunsplit(parts._replace(path=f"/{number + shift}"))


def _own_redis_per_test_process():
    """Under pytest-xdist every test process gets its own Redis databases (process gwN: the configured numbers
    + 2N), so one process's cache flush or queued task never reaches another's. The environment is changed too,
    for the tests that start workers or Python processes of their own."""
    from django.conf import settings

    process = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    shift = 2 * int(process.removeprefix("gw"))
    if not shift:
        return
    if str(settings.CACHES["default"].get("LOCATION", "")).startswith("redis://"):
        settings.CACHES["default"]["LOCATION"] = _redis_db_shifted(settings.CACHES["default"]["LOCATION"], shift)
        os.environ["CACHE_URL"] = settings.CACHES["default"]["LOCATION"]
    if settings.CELERY_BROKER_URL.startswith("redis://"):
        settings.CELERY_BROKER_URL = _redis_db_shifted(settings.CELERY_BROKER_URL, shift)
        celery_app.conf.broker_url = os.environ["CELERY_BROKER_URL"] = settings.CELERY_BROKER_URL


_own_redis_per_test_process()


def pytest_collection_modifyitems(config, items):
    from django.conf import settings

    is_postgres = settings.DATABASES["default"]["ENGINE"].endswith("postgresql")
    has_broker = not settings.CELERY_TASK_ALWAYS_EAGER
    has_chromium = bool(shutil.which("chromium"))
    has_shared_cache = settings.CACHES["default"]["BACKEND"].endswith("RedisCache")
    for item in items:
        if "postgres" in item.keywords and not is_postgres:
            item.add_marker(pytest.mark.skip(reason="needs PostgreSQL: SQLite has no row locks (set DATABASE_URL)"))
        if "worker" in item.keywords and not has_broker:
            item.add_marker(pytest.mark.skip(reason="needs a broker for a real Celery worker (set CELERY_BROKER_URL)"))
        if "browser" in item.keywords and not has_chromium:
            item.add_marker(pytest.mark.skip(reason="needs Debian's chromium (apt-get install chromium)"))
        if "redis" in item.keywords and not has_shared_cache:
            item.add_marker(pytest.mark.skip(reason="needs the shared cache on Redis (set CACHE_URL=redis://...)"))


@pytest.fixture(autouse=True)
def _media_in_tmp(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    private = {**settings.STORAGES["private"], "OPTIONS": {"location": tmp_path / "private"}}
    settings.STORAGES = {**settings.STORAGES, "private": private}


@pytest.fixture
def now():
    from django.utils import timezone

    return timezone.now()


@pytest.fixture
def vendor():
    return connection.vendor


@pytest.fixture(autouse=True)
def _empty_cache():
    """Throttle counters and cached tokens live in the cache: start every test without them."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture(autouse=True)
def _default_language():
    """A request's Accept-Language stays active in the thread after it: every test starts and ends in English."""
    translation.deactivate()
    yield
    translation.deactivate()


@pytest.fixture
def api_client():
    return APIClient()


@pytest.fixture
def member_client(now):
    """Return an API client signed in as the given member (through a real member token)."""
    from members.services.tokens import member_token_issue

    def make(member):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {member_token_issue(member_id=member.pk, now=now)}")
        return client

    return make


@pytest.fixture
def pos_client_for():
    """Return an API client with a fresh POS key of the given store."""
    from members.services.tokens import store_api_key_create

    def make(store):
        _key, raw = store_api_key_create(store_id=store.pk, name="till 1")
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Api-Key {raw}")
        return client

    return make


@pytest.fixture(scope="session")
def wechat_pay_merchant_keys():
    """The merchant's API key pair (private, public), made once: RSA key generation takes a while."""
    from tests.fakes import rsa_key_pair

    return rsa_key_pair()


@pytest.fixture
def wechat_pay(settings, wechat_pay_merchant_keys):
    """A fake WeChat Pay on 127.0.0.1 that the real WechatPayClient talks to, with real signatures both ways.

    Register what a member paid with `wechat_pay.add_order(out_trade_no, total=<cents>, openid=...)`.
    """
    import secrets

    from tests.fakes import FakeWechatPay

    private_pem, public_pem = wechat_pay_merchant_keys
    server = FakeWechatPay(mchid="1900000109", merchant_public_pem=public_pem, serial_no="SERIAL01").start()
    settings.WECHATPAY_API_BASE = server.base_url
    settings.WECHATPAY_MCHID = "1900000109"
    settings.WECHATPAY_CERT_SERIAL_NO = "SERIAL01"
    settings.WECHATPAY_PRIVATE_KEY = private_pem
    settings.WECHATPAY_PLATFORM_PUBLIC_KEY = server.platform_public_pem
    settings.WECHATPAY_PLATFORM_SERIAL = server.platform_serial
    settings.WECHATPAY_TIMEOUT_SECONDS = 2.0
    # The server opens the order (prepay) and hears of payments: the APIv3 key is made for the test (32 bytes).
    settings.WECHATPAY_APPID = server.appid
    settings.WECHATPAY_NOTIFY_URL = "https://loyalty.test/api/v1/wechat-pay/notify"
    settings.WECHATPAY_API_V3_KEY = server.api_v3_key = secrets.token_hex(16)
    settings.CURRENCY = "HKD"
    yield server
    server.stop()


@pytest.fixture
def wechat_payer(wechat_pay):
    """Return a new member who paid WeChat Pay order `transaction_id` (`cents`; HK$1,000 unless told)."""
    from tests.factories import MemberFactory

    def make(transaction_id="wx-1", cents=100000, **fields):
        member = MemberFactory(**fields)
        if member.wechat_openid is None:
            member.wechat_openid = f"o-{member.pk}"
            member.save(update_fields=["wechat_openid"])
        wechat_pay.add_order(transaction_id, total=cents, openid=member.wechat_openid)
        return member

    return make


@pytest.fixture
def real_worker():
    """A real Celery worker (solo pool) on the configured broker, in this process, for the tests of jobs: tasks go
    through the broker instead of running eagerly. Tests using it need the `worker` marker (a broker is set)."""
    from celery.contrib.testing.worker import start_worker
    from celery.signals import task_postrun
    from django.db import connections

    from config.celery import app as celery_app

    def close_worker_connections(**kwargs):
        # A worker keeps its connection between tasks (settings.CELERY_DB_REUSE_MAX); this one runs on a thread of
        # the test process, whose connections would outlive it and keep the test database from being dropped.
        connections.close_all()

    celery_app.conf.task_always_eager = False
    task_postrun.connect(close_worker_connections)
    try:
        with start_worker(celery_app, pool="solo", perform_ping_check=False, shutdown_timeout=30) as worker:
            yield worker
    finally:
        task_postrun.disconnect(close_worker_connections)
        celery_app.conf.task_always_eager = True

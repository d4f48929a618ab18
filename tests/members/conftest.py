import pytest
from rest_framework.test import APIClient

from members.services.tokens import store_api_key_create
from members.tasks import tier_evaluation_task
from tests.factories import StoreFactory
from tests.fakes import FakeWechat


@pytest.fixture
def fake_wechat(settings):
    """A fake WeChat server on 127.0.0.1 that the real WechatClient talks to."""
    server = FakeWechat(appid="wx-test-app", secret="wx-test-secret").start()
    settings.WECHAT_API_BASE = server.base_url
    settings.WECHAT_APPID = server.appid
    settings.WECHAT_SECRET = server.secret
    settings.WECHAT_TIMEOUT_SECONDS = 2.0
    yield server
    server.stop()


@pytest.fixture
def pos_key():
    """(store, plain POS key) of an active store."""
    store = StoreFactory(code="central")
    _key, raw = store_api_key_create(store_id=store.pk, name="till 1")
    return store, raw


@pytest.fixture
def pos_client(pos_key):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {pos_key[1]}")
    return client


@pytest.fixture
def review(django_capture_on_commit_callbacks):
    """Run the scheduled tier review as the beat runs it (members.tasks.tier_evaluation_task fanning out its chunk
    tasks after commit, eagerly here), as of `now`."""

    def run(*, now):
        with django_capture_on_commit_callbacks(execute=True):
            return tier_evaluation_task(now=now.isoformat())

    return run

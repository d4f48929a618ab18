import shutil

import pytest
from django.core.cache import cache
from django.db import connection
from rest_framework.test import APIClient

from config.celery import app as celery_app

# Unit tests run tasks eagerly even when CELERY_BROKER_URL is set; tests marked `worker` use the broker.
celery_app.conf.task_always_eager = True
celery_app.conf.task_eager_propagates = True


def pytest_collection_modifyitems(config, items):
    from django.conf import settings

    is_postgres = settings.DATABASES["default"]["ENGINE"].endswith("postgresql")
    has_broker = not settings.CELERY_TASK_ALWAYS_EAGER
    has_chromium = bool(shutil.which("chromium"))
    for item in items:
        if "postgres" in item.keywords and not is_postgres:
            item.add_marker(pytest.mark.skip(reason="needs PostgreSQL: SQLite has no row locks (set DATABASE_URL)"))
        if "worker" in item.keywords and not has_broker:
            item.add_marker(pytest.mark.skip(reason="needs a broker for a real Celery worker (set CELERY_BROKER_URL)"))
        if "browser" in item.keywords and not has_chromium:
            item.add_marker(pytest.mark.skip(reason="needs Debian's chromium (apt-get install chromium)"))


@pytest.fixture(autouse=True)
def _media_in_tmp(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


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

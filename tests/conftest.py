import shutil

import pytest
from django.db import connection

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

"""A real Celery worker consuming from the real broker (Redis in CI) runs a background member import."""

import time

import pytest
from django.utils import timezone

from members.models import Member, MemberImportJob
from members.services.member_import import member_import_start, member_import_store_upload

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def wait_for(predicate, *, seconds):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


def test_a_big_import_runs_on_the_worker_and_reports_progress(settings, real_worker):
    settings.MEMBER_IMPORT_BACKGROUND_ROWS = 2
    csv = "phone,name\n+85291000001,Chan Tai Man\n+85291000002,Wong Siu Ming\n+85291000003,Lee Ka Yan\n"
    name = member_import_store_upload(data=csv.encode(), user=None)

    job = member_import_start(file_name=name, now=timezone.now())

    assert job.status == MemberImportJob.Status.QUEUED
    assert wait_for(lambda: MemberImportJob.objects.get(pk=job.pk).status == "done", seconds=30)
    job.refresh_from_db()
    assert (job.processed_rows, job.created_count, job.error_count) == (3, 3, 0)
    assert Member.objects.filter(join_source="import").count() == 3

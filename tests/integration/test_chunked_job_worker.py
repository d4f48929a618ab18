"""A real Celery worker consuming from the real broker (Redis in CI) runs a chunked job on PostgreSQL: the job task
fans the member import's chunks out as chunk tasks through the broker, a chunk that raises stops the job, and the
job resumed through the broker writes the rest: every row is processed exactly once."""

import time

import pytest
from celery.signals import task_postrun
from django.utils import timezone

from members.models import Member, MemberImportChunk, MemberImportJob, PointsEntry
from members.services import member_import
from members.services.ledger import points_ledger_drift
from members.tasks import member_import_job_task
from tests.members.import_helpers import csv_bytes, run_import

pytestmark = [pytest.mark.worker, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

ROWS = 30


@pytest.fixture
def ran():
    """The tasks the worker finished, as (task name, keyword arguments)."""
    finished = []

    def record(sender=None, kwargs=None, **_extra):
        finished.append((sender.name, kwargs))

    task_postrun.connect(record, weak=False)
    yield finished
    task_postrun.disconnect(record)


def wait_for(predicate, *, seconds):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


def test_an_import_fans_out_on_the_worker_and_a_failed_chunk_is_resumed_with_every_row_written_once(
    monkeypatch, settings, real_worker, ran
):
    # given a file of 30 rows in chunks of 7, big enough to run in the background, whose third chunk fails once
    settings.MEMBER_IMPORT_BACKGROUND_ROWS = 2
    monkeypatch.setattr(member_import, "CHUNK_ROWS", 7)
    write = member_import.write_chunk
    failed = []

    def fail_once(rows, **kwargs):
        if rows and rows[0].index == 14 and not failed:
            failed.append(True)
            raise RuntimeError("the connection dropped")
        return write(rows, **kwargs)

    monkeypatch.setattr(member_import, "write_chunk", fail_once)
    lines = [f"63{n:06d},Member {n},10" for n in range(1, ROWS + 1)]

    # when it is imported on the worker
    job = run_import(csv_bytes("phone,name,opening_points", *lines), now=timezone.now())

    # then the job task sent the 5 chunk tasks through the broker and the third one stopped the job
    def status():
        return MemberImportJob.objects.get(pk=job.pk).status

    def of_this_job():  # the worker may still be finishing another test's tasks
        return [(name, kwargs) for name, kwargs in ran if (kwargs or {}).get("job_id") == job.pk]

    assert wait_for(lambda: status() == "failed" and len(of_this_job()) == 6, seconds=60)
    chunks = sorted(
        kwargs["number"] for name, kwargs in of_this_job() if name == "members.tasks.member_import_chunk_task"
    )
    assert chunks == [0, 1, 2, 3, 4]
    job.refresh_from_db()
    assert (job.processed_rows, job.created_count) == (14, 14)
    assert set(MemberImportChunk.objects.filter(job=job).values_list("number", flat=True)) == {0, 1}

    # when the job is run again through the broker
    member_import_job_task.delay(job_id=job.pk)

    # then the chunks not written are written, and every row exactly once
    assert wait_for(lambda: status() == "done", seconds=60)
    job.refresh_from_db()
    assert (job.processed_rows, job.created_count, job.updated_count, job.error_count) == (ROWS, ROWS, 0, 0)
    assert Member.objects.count() == ROWS
    assert Member.history.filter(history_type="+").count() == ROWS
    assert PointsEntry.objects.filter(kind="opening").count() == ROWS
    assert MemberImportChunk.objects.filter(job=job).count() == 5
    assert points_ledger_drift() == []

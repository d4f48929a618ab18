"""On PostgreSQL an import writes its chunks on two connections: each chunk once, progress over the written run."""

import threading
from datetime import UTC, datetime

import pytest
from django.db import connection

from members.models import Member, MemberImportChunk, MemberImportJob, PointsEntry, Tag
from members.services import member_import
from members.services.ledger import points_ledger_drift
from members.services.member_import import member_import_job_run
from tests.members.import_helpers import csv_bytes, run_import

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

NOW = datetime(2024, 6, 1, 4, 0, tzinfo=UTC)
ROWS = 60


@pytest.fixture
def small_chunks(monkeypatch, settings):
    settings.MEMBER_IMPORT_CONNECTIONS = 2
    settings.MEMBER_IMPORT_BACKGROUND_ROWS = 10_000  # runs at once, in this thread
    monkeypatch.setattr(member_import, "CHUNK_ROWS", 7)


def _file():
    lines = [f"63{n:06d},Member {n},{'vip;new' if n % 2 else ''},10" for n in range(1, ROWS + 1)]
    return csv_bytes("phone,name,tags,opening_points", *lines)


def test_an_import_on_two_connections_writes_every_member_once_with_exact_counts(small_chunks, monkeypatch):
    backends = set()
    both_started = threading.Barrier(2, timeout=30)  # neither connection may take every chunk alone
    write = member_import.write_chunk

    def spy(rows, **kwargs):
        pid = connection.connection.info.backend_pid
        if pid not in backends:
            backends.add(pid)
            both_started.wait()
        return write(rows, **kwargs)

    monkeypatch.setattr(member_import, "write_chunk", spy)

    job = run_import(_file(), now=NOW)

    job.refresh_from_db()
    assert len(backends) == 2
    assert (job.status, job.processed_rows, job.created_count, job.updated_count) == ("done", ROWS, ROWS, 0)
    assert Member.objects.count() == ROWS
    assert PointsEntry.objects.filter(kind="opening").count() == ROWS
    assert set(Tag.objects.values_list("name", flat=True)) == {"vip", "new"}
    assert Member.tags.through.objects.count() == ROWS  # 30 members with two tags each
    assert MemberImportChunk.objects.filter(job=job).count() == 9  # 60 rows in chunks of 7
    assert points_ledger_drift() == []


def test_a_parallel_import_that_fails_resumes_without_writing_anything_twice(small_chunks, monkeypatch):
    write = member_import.write_chunk
    failed = []

    def fail_one_chunk(rows, **kwargs):
        if rows and rows[0].index == 21 and not failed:  # the fourth chunk
            failed.append(True)
            raise RuntimeError("the connection dropped")
        return write(rows, **kwargs)

    monkeypatch.setattr(member_import, "write_chunk", fail_one_chunk)

    job = run_import(_file(), now=NOW)
    job.refresh_from_db()
    stopped = (job.status, job.processed_rows)
    job = member_import_job_run(job_id=job.pk, now=NOW)

    assert failed
    assert stopped[0] == "failed"
    assert stopped[1] <= 21  # progress never passes the chunk that did not commit
    assert (job.status, job.processed_rows, job.created_count) == ("done", ROWS, ROWS)
    assert Member.objects.count() == ROWS
    assert PointsEntry.objects.filter(kind="opening").count() == ROWS
    assert MemberImportJob.objects.get(pk=job.pk).chunks.count() == 9
    assert points_ledger_drift() == []

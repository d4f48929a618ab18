"""An import fans its chunks out as chunk tasks: each chunk written once, progress over the written run, a failed
chunk stops the job and a resumed job writes the rest without writing anything twice."""

from datetime import UTC, datetime

import pytest
from django.utils import timezone

from members.models import Member, MemberImportChunk, PointsEntry, Tag
from members.services import member_import
from members.services.ledger import points_ledger_drift
from members.services.member_import import member_import_job_run, member_import_preview
from tests.members.import_helpers import csv_bytes, run_import

pytestmark = pytest.mark.django_db

NOW = datetime(2024, 6, 1, 4, 0, tzinfo=UTC)
ROWS = 60


@pytest.fixture
def small_chunks(monkeypatch, settings):
    settings.MEMBER_IMPORT_BACKGROUND_ROWS = 10_000  # runs at once, in this process
    monkeypatch.setattr(member_import, "CHUNK_ROWS", 7)


def _file():
    lines = [f"63{n:06d},Member {n},{'vip;new' if n % 2 else ''},10" for n in range(1, ROWS + 1)]
    return csv_bytes("phone,name,tags,opening_points", *lines)


def test_an_import_sends_one_chunk_task_per_chunk_and_writes_every_member_once(small_chunks, monkeypatch):
    from members import tasks

    sent = []
    write = tasks.member_import_chunk_write

    def spy(**kwargs):
        sent.append(kwargs["number"])
        return write(**kwargs)

    monkeypatch.setattr(tasks, "member_import_chunk_write", spy)

    job = run_import(_file(), now=NOW)

    job.refresh_from_db()
    assert sent == list(range(9))  # 60 rows in chunks of 7
    assert (job.status, job.processed_rows, job.created_count, job.updated_count) == ("done", ROWS, ROWS, 0)
    assert Member.objects.count() == ROWS
    assert PointsEntry.objects.filter(kind="opening").count() == ROWS
    assert set(Tag.objects.values_list("name", flat=True)) == {"vip", "new"}
    assert Member.tags.through.objects.count() == ROWS  # 30 members with two tags each
    assert MemberImportChunk.objects.filter(job=job).count() == 9
    assert points_ledger_drift() == []


def test_a_finished_import_records_when_it_ended_while_its_rows_carry_the_jobs_moment(small_chunks):
    before = timezone.now()

    job = run_import(_file(), now=NOW)

    job.refresh_from_db()
    assert job.status == "done"
    assert before <= job.finished_at <= timezone.now()  # not NOW, the moment the chunks were given
    assert set(Member.objects.values_list("joined_at", flat=True)) == {NOW}


def test_the_chunks_validate_their_rows_and_the_job_reports_exactly_the_previews_errors(small_chunks):
    # given a file whose faults fall in several chunks of 7, one phone repeated across chunks
    lines = [f"63{n:06d},Member {n},1990-01-01" for n in range(1, 31)]
    lines[2] = "63000003,Member 3,1990-13-01"  # row 4, chunk 0: not a date
    lines[9] = "not-a-phone,Member 10,"  # row 11, chunk 1
    lines[20] = "63000005,Member 21,"  # row 22, chunk 2: the phone of row 6 (chunk 0)
    lines[27] = "63000028,Member 28,1990-01-01,extra"  # row 29, chunk 3: a cell past the header
    data = csv_bytes("phone,name,birthday", *lines)
    preview = member_import_preview(data=data, now=NOW)

    job = run_import(data, now=NOW)

    job.refresh_from_db()
    assert job.status == "done"
    assert job.errors == [error.as_dict() for error in preview.errors]
    assert [error["row"] for error in job.errors] == [4, 6, 11, 22, 29]
    assert job.error_count == preview.error_rows == 5
    assert job.created_count == preview.new_count == 25
    assert not Member.objects.filter(phone__in=["+85263000003", "+85263000005", "+85263000028"]).exists()


def test_a_chunk_stored_as_read_rows_by_the_release_before_is_still_written(small_chunks, monkeypatch):
    # given chunks stored as the release before stored them: the rows as the job read them, not yet validated
    import json

    from django.core.files.base import ContentFile

    from members.imports.validation import chunk_data_rows

    def store_read_rows(job_id, chunk, *, columns, delimiter):
        rows = [
            (r.row, r.index, r.cells, r.overflow, r.phone, r.repeats) for r in chunk_data_rows(chunk, columns=columns)
        ]
        stored = json.dumps({"columns": columns, "rows": rows}).encode()
        member_import.import_files().save(member_import._chunk_file(job_id, chunk.number), ContentFile(stored))

    monkeypatch.setattr(member_import, "_chunk_store", store_read_rows)
    lines = [f"63{n:06d},Member {n},1990-05-{n:02d},vip,10" for n in range(1, 11)]
    lines[8] = "63000002,Member 9,1990-05-09,vip,10"  # row 10 repeats row 3's phone, in the next chunk

    job = run_import(csv_bytes("phone,name,birthday,tags,opening_points", *lines), now=NOW)

    job.refresh_from_db()
    assert (job.status, job.created_count) == ("done", 8)
    assert [(error["row"], error["column"]) for error in job.errors] == [(3, "phone"), (10, "phone")]
    assert Member.objects.get(phone="+85263000003").birthday.isoformat() == "1990-05-03"
    assert PointsEntry.objects.filter(kind="opening").count() == 8


def test_a_chunk_task_sent_twice_writes_its_chunk_once(small_chunks, monkeypatch):
    from members import tasks

    write = tasks.member_import_chunk_write

    def twice(**kwargs):
        write(**kwargs)
        write(**kwargs)  # a redelivered task

    monkeypatch.setattr(tasks, "member_import_chunk_write", twice)

    job = run_import(_file(), now=NOW)

    job.refresh_from_db()
    assert (job.status, job.processed_rows, job.created_count) == ("done", ROWS, ROWS)
    assert Member.objects.count() == ROWS
    assert PointsEntry.objects.filter(kind="opening").count() == ROWS


def test_an_import_whose_chunk_fails_stops_and_a_resumed_job_writes_the_rest_once(small_chunks, monkeypatch):
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
    stopped = (job.status, job.processed_rows, job.created_count, job.message)
    job = member_import_job_run(job_id=job.pk, now=NOW)

    assert stopped[:3] == ("failed", 21, 21)  # the chunks after the failed one did not start
    assert stopped[3].startswith("The import stopped at rows 23 to 29: the connection dropped.")
    assert (job.status, job.processed_rows, job.created_count) == ("done", ROWS, ROWS)
    assert Member.objects.count() == ROWS
    assert Member.history.filter(history_type="+").count() == ROWS
    assert PointsEntry.objects.filter(kind="opening").count() == ROWS
    assert MemberImportChunk.objects.filter(job=job).count() == 9
    assert points_ledger_drift() == []

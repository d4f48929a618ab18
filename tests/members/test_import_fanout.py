"""An import fans its chunks out as chunk tasks: each chunk written once, progress over the written run, a failed
chunk stops the job and a resumed job writes the rest without writing anything twice."""

from datetime import UTC, datetime

import pytest

from members.models import Member, MemberImportChunk, PointsEntry, Tag
from members.services import member_import
from members.services.ledger import points_ledger_drift
from members.services.member_import import member_import_job_run
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


def test_a_chunk_stored_as_a_dict_per_row_before_the_upgrade_is_still_written(small_chunks, monkeypatch):
    # given chunks stored the way the import stored them before rows travelled as lists (a job resumed across it)
    import json

    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage
    from django.core.serializers.json import DjangoJSONEncoder

    def store_as_dicts(job_id, chunk):
        rows = [
            {"row": r.row, "index": r.index, "phone": r.phone, "values": r.values, "tags": list(r.tags),
             "opening_points": r.opening_points}
            for r in chunk.rows
        ]  # fmt: skip
        name = member_import._rows_file(job_id, chunk.number)
        default_storage.save(name, ContentFile(json.dumps(rows, cls=DjangoJSONEncoder).encode()))

    monkeypatch.setattr(member_import, "_rows_store", store_as_dicts)
    lines = [f"63{n:06d},Member {n},1990-05-{n:02d},vip,10" for n in range(1, 11)]

    job = run_import(csv_bytes("phone,name,birthday,tags,opening_points", *lines), now=NOW)

    job.refresh_from_db()
    assert (job.status, job.created_count) == ("done", 10)
    assert Member.objects.get(phone="+85263000003").birthday.isoformat() == "1990-05-03"
    assert PointsEntry.objects.filter(kind="opening").count() == 10

"""An import's upload and chunks hold members' data: they are kept in the private storage, which no URL serves,
never under MEDIA_ROOT (served for the pictures of stores and rewards), and no page links to them."""

import importlib
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.apps import apps
from django.core.files.base import ContentFile
from django.core.files.storage import storages
from django.urls import reverse
from django.utils import timezone

from members.models import MemberImportJob, Role
from members.services import member_import
from members.services.member_import import import_files
from tests.factories import StoreFactory, UserFactory
from tests.members.import_helpers import csv_bytes, run_import

pytestmark = pytest.mark.django_db

NOW = datetime(2024, 6, 1, 4, 0, tzinfo=UTC)


def _files_under(root) -> list[str]:
    return sorted(str(path.relative_to(root)) for path in Path(root).rglob("*") if path.is_file())


def test_an_upload_and_its_chunks_are_kept_in_the_private_storage_never_under_media(settings, monkeypatch):
    # given an import cut into chunks of 2 rows; each chunk task looks for its file as it starts
    settings.MEMBER_IMPORT_BACKGROUND_ROWS = 10_000
    monkeypatch.setattr(member_import, "CHUNK_ROWS", 2)
    seen = []
    read_chunk = member_import._chunk_rows

    def spy(job_id, number):
        seen.append(
            (_files_under(settings.MEDIA_ROOT), import_files().exists(member_import._chunk_file(job_id, number)))
        )
        return read_chunk(job_id, number)

    monkeypatch.setattr(member_import, "_chunk_rows", spy)

    # when a file of 5 members is imported
    job = run_import(csv_bytes("phone,name", *[f"6300000{n},Member {n}" for n in range(5)]), now=NOW)

    # then every chunk was found in the private storage and nothing was ever written under MEDIA_ROOT; once the job
    # is done, neither its chunks nor its upload are kept
    assert (job.status, job.created_count) == ("done", 5)
    assert seen == [([], True)] * 3
    assert _files_under(settings.MEDIA_ROOT) == []
    assert _files_under(storages["private"].location) == []


def test_the_job_page_names_the_upload_without_linking_to_it(client):
    # given a manager's finished import
    manager = UserFactory(role=Role.STORE_MANAGER, store=StoreFactory(code="central"))
    job = run_import(csv_bytes("phone,name", "91234567,Ann"), now=NOW, user=manager)
    client.force_login(manager)

    # when they open the job's page
    html = client.get(reverse("admin:members_memberimportjob_change", args=[job.pk])).content.decode()

    # then the upload's name is shown as text: no link leads to the file
    assert job.file in html
    assert f'href="/media/{job.file}"' not in html
    assert "/media/imports/" not in html


def test_the_migration_moves_import_files_out_of_media():
    # given an upload, a previewed upload never imported and a running job's chunk, left in media by the release
    # before, and an upload already moved
    public, private = storages["default"], storages["private"]
    for name in ["imports/1-20240601.csv", "imports/1-20240602.csv", "imports/chunks/7-0.json"]:
        public.save(name, ContentFile(b"phone\n91234567\n"))
    private.save("imports/1-20240603.csv", ContentFile(b"phone\n"))
    MemberImportJob.objects.create(file="imports/1-20240601.csv")
    MemberImportJob.objects.create(file="imports/1-20240603.csv")

    # when the migration runs
    migration = importlib.import_module("members.migrations.0025_import_files_private")
    migration.move_import_files(apps, None)

    # then media holds none of them and the private storage holds each once, unchanged
    assert _files_under(public.location) == []
    assert _files_under(private.location) == [
        "imports/1-20240601.csv",
        "imports/1-20240602.csv",
        "imports/1-20240603.csv",
        "imports/chunks/7-0.json",
    ]
    with private.open("imports/1-20240601.csv", "rb") as handle:
        assert handle.read() == b"phone\n91234567\n"


def _upload(name, *, hours_old):
    path = Path(import_files().location) / import_files().save(name, ContentFile(b"phone\n91234567\n"))
    stamp = (timezone.now() - timedelta(hours=hours_old)).timestamp()
    os.utime(path, (stamp, stamp))
    return str(path.relative_to(import_files().location))


def test_the_sweep_deletes_the_uploads_no_import_needs_and_keeps_the_others(settings):
    # given uploads kept 48 hours when previewed only and 30 days when their job did not finish (run again, it
    # resumes): previewed 49 hours and 1 hour ago, failed 31 and 8 days ago, running 8 days ago, and one a done
    # job left behind
    settings.MEMBER_IMPORT_UPLOAD_KEEP_HOURS = 48
    settings.MEMBER_IMPORT_UNFINISHED_KEEP_DAYS = 30
    _upload("imports/1-abandoned.csv", hours_old=49)
    previewed = _upload("imports/1-previewed.csv", hours_old=1)
    forgotten = _upload("imports/1-forgotten.csv", hours_old=31 * 24)
    failed = _upload("imports/1-failed.csv", hours_old=8 * 24)
    running = _upload("imports/1-running.csv", hours_old=8 * 24)
    left = _upload("imports/1-left.csv", hours_old=2)
    MemberImportJob.objects.create(file=forgotten, status="failed")
    MemberImportJob.objects.create(file=failed, status="failed")
    MemberImportJob.objects.create(file=running, status="running")
    MemberImportJob.objects.create(file=left, status="done")

    # when the scheduled sweep runs
    from members.tasks import member_import_sweep_task

    swept = member_import_sweep_task()

    # then the abandoned preview, the forgotten failed job's upload and the done job's are gone, the others kept
    assert swept["uploads_deleted"] == 3
    assert _files_under(import_files().location) == sorted([failed, previewed, running])


def test_the_sweep_runs_every_six_hours_on_beat():
    from django_celery_beat.models import PeriodicTask

    task = PeriodicTask.objects.get(name="members: import sweep (uploads, row errors)")
    assert (task.task, task.interval.every, task.interval.period) == (
        "members.tasks.member_import_sweep_task",
        6,
        "hours",
    )


def test_a_job_whose_upload_is_gone_fails_saying_to_import_the_file_again(settings):
    # given a job queued for the background whose upload was swept meanwhile
    settings.MEMBER_IMPORT_BACKGROUND_ROWS = 10_000
    job = MemberImportJob.objects.create(file="imports/0-gone.csv", status="queued")

    # when it runs
    job = member_import.member_import_job_run(job_id=job.pk, now=NOW)

    # then it fails with a message saying what to do
    assert (job.status, job.message) == ("failed", "The uploaded file is no longer kept; import the file again.")


def test_a_finished_imports_rows_with_errors_are_deleted_after_the_keep_days_and_their_count_stays(settings):
    # given rows with errors kept 30 days after an import finishes: a done and a failed job finished 31 days ago,
    # a done one 29 days ago and a job still running
    settings.MEMBER_IMPORT_ERRORS_KEEP_DAYS = 30
    now = timezone.now()
    rows = [{"row": 3, "column": "email", "message": "“ann@” is not a valid e-mail address."}]

    def job(status, days_ago):
        finished_at = None if days_ago is None else now - timedelta(days=days_ago)
        return MemberImportJob.objects.create(status=status, error_count=1, errors=rows, finished_at=finished_at)

    old_done, old_failed, recent, running = job("done", 31), job("failed", 31), job("done", 29), job("running", None)

    # when the scheduled sweep runs
    from members.tasks import member_import_sweep_task

    swept = member_import_sweep_task()

    # then the two old jobs lost their rows, not their count; the others keep theirs
    assert swept["errors_deleted"] == 2
    for deleted in (old_done, old_failed):
        deleted.refresh_from_db()
        assert (deleted.errors, deleted.error_count) == ([], 1)
    for kept in (recent, running):
        kept.refresh_from_db()
        assert kept.errors == rows


@pytest.mark.parametrize("page", ["admin:members_member_import_job", "admin:members_memberimportjob_change"])
def test_the_job_pages_say_how_long_rows_with_errors_are_kept_and_that_they_were_deleted(client, settings, page):
    # given a manager's import with a row refused, its rows kept 30 days
    settings.MEMBER_IMPORT_ERRORS_KEEP_DAYS = 30
    manager = UserFactory(role=Role.STORE_MANAGER, store=StoreFactory(code="central"))
    job = run_import(csv_bytes("phone,name,email", "91234567,Ann,ann@"), now=NOW, user=manager)
    client.force_login(manager)
    url = reverse(page, args=[job.pk])

    # when they open a page of the job, then it lists the row and says when it goes
    html = client.get(url).content.decode()
    assert "ann@" in html
    assert "they are deleted 30 days after the import finishes" in html

    # and once the sweep deleted the rows, the page says so and quotes nothing
    job.refresh_from_db()
    member_import.member_import_errors_expire(now=job.finished_at + timedelta(days=31))
    html = client.get(url).content.decode()
    assert "ann@" not in html
    assert "The rows with errors were deleted 30 days after the import finished" in html


@pytest.mark.parametrize("page", ["admin:members_member_import_job", "admin:members_memberimportjob_change"])
def test_an_imports_pages_stay_with_the_store_it_was_made_for_when_its_importer_moves(client, page):
    central, harbour = StoreFactory(code="central"), StoreFactory(code="harbour")
    importer = UserFactory(role=Role.STORE_MANAGER, store=central)
    colleague = UserFactory(role=Role.STORE_MANAGER, store=central)
    job = run_import(csv_bytes("phone,name,email", "91234567,Ann,ann@"), now=NOW, user=importer)
    importer.store = harbour  # head office moves the importer to another store
    importer.save()
    url = reverse(page, args=[job.pk])

    client.force_login(importer)
    moved = client.get(url)
    client.force_login(colleague)
    stayed = client.get(url)

    assert job.store == central
    assert moved.status_code in (302, 403, 404)  # the rows quote central's file: not harbour's to read
    assert "ann@" not in moved.content.decode()
    assert stayed.status_code == 200
    assert "ann@" in stayed.content.decode()

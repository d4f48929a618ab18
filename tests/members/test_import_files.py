"""An import's upload and chunks hold members' data: they are kept in the private storage, which no URL serves,
never under MEDIA_ROOT (served for the pictures of stores and rewards), and no page links to them."""

import importlib
from datetime import UTC, datetime
from pathlib import Path

import pytest
from django.apps import apps
from django.core.files.base import ContentFile
from django.core.files.storage import storages
from django.urls import reverse

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

    # then every chunk was found in the private storage, nothing was ever written under MEDIA_ROOT, and only the
    # upload is left once the chunks are written
    assert (job.status, job.created_count) == ("done", 5)
    assert seen == [([], True)] * 3
    assert _files_under(settings.MEDIA_ROOT) == []
    assert _files_under(storages["private"].location) == [job.file]


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

"""Member import/export through the console: permissions, preview, confirm, scoped and escaped export."""

import re

import pytest
from django.contrib import admin
from django.urls import clear_url_caches, reverse

from members.models import Member, MemberImportJob, Role, Tag
from tests.factories import MemberFactory, StoreFactory, TagFactory, UserFactory
from tests.members.import_helpers import csv_bytes

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _member_admin(settings):
    """Use the project's MemberAdmin; register a bare one with the mixin while members/admin.py has none."""
    if Member in admin.site._registry:
        yield
        return
    import importlib

    from members.admin.imports import MemberImportExportMixin

    class MemberAdmin(MemberImportExportMixin, admin.ModelAdmin):
        pass

    admin.site.register(Member, MemberAdmin)
    import config.urls

    importlib.reload(config.urls)
    clear_url_caches()
    try:
        yield
    finally:
        admin.site.unregister(Member)
        importlib.reload(config.urls)
        clear_url_caches()


def _upload(client, data, encoding="auto", name="members.csv"):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return client.post(
        reverse("admin:members_member_import"),
        {"file": SimpleUploadedFile(name, data, content_type="text/csv"), "encoding": encoding},
    )


@pytest.fixture
def manager(client):
    store = StoreFactory(code="central")
    user = UserFactory(role=Role.STORE_MANAGER, store=store)
    client.force_login(user)
    return user


@pytest.mark.parametrize("url_name", ["admin:members_member_import", "admin:members_member_export"])
def test_clerk_is_denied_import_and_export(client, url_name):
    # given a clerk of a store
    clerk = UserFactory(role=Role.CLERK, store=StoreFactory(code="central"))
    client.force_login(clerk)

    # when they open the import or export page; then it is forbidden
    assert client.get(reverse(url_name)).status_code == 403


def test_clerk_upload_is_refused_and_writes_nothing(client):
    # given a clerk
    client.force_login(UserFactory(role=Role.CLERK, store=StoreFactory(code="central")))

    # when they post a file; then it is forbidden and nothing is written
    assert _upload(client, csv_bytes("phone", "91234567")).status_code == 403
    assert Member.objects.count() == 0


def test_preview_shows_decoded_rows_errors_and_counts_then_confirm_imports(client, manager):
    # given a Big5 file with one bad row
    data = csv_bytes("phone,name", "91234567,陳大文", "123,壞", encoding="cp950")

    # when the manager uploads it as Big5
    response = _upload(client, data, encoding="big5")

    # then the preview shows the decoded name, the row error and the counts, and nothing is written yet
    html = response.content.decode()
    assert response.status_code == 200
    assert "陳大文" in html
    assert "2 rows read as big5: 1 new members, 0 updates, 1 rows with errors (not imported)." in " ".join(html.split())
    cells = re.sub(r"<td [^>]*>", "<td>", html)  # the cells' styling aside
    assert "<td>3</td><td>phone</td><td>“123” is not a valid phone number.</td>" in cells
    assert Member.objects.count() == 0
    file_name = re.search(r'name="file_name" value="([^"]+)"', html)[1]

    # when they confirm
    response = client.post(reverse("admin:members_member_import_confirm"), {"file_name": file_name, "encoding": "big5"})

    # then the valid row is imported and the job page shows the result
    job = MemberImportJob.objects.get()
    assert response.status_code == 302
    assert response.url == reverse("admin:members_member_import_job", args=[job.pk])
    assert list(Member.objects.values_list("phone", "name")) == [("+85291234567", "陳大文")]
    assert (job.status, job.created_count, job.error_count, job.created_by) == ("done", 1, 1, manager)
    assert client.get(response.url).status_code == 200


def test_file_level_fault_is_shown_on_the_upload_form(client, manager):
    # when a file without the phone column is uploaded
    response = _upload(client, csv_bytes("name", "Ann"))

    # then the form shows why and nothing is stored as a job
    assert response.status_code == 200
    assert "The required column phone is missing from the header row." in response.content.decode()
    assert MemberImportJob.objects.count() == 0


def test_confirm_refuses_someone_elses_upload(client, manager):
    # when a manager confirms an upload name that is not theirs
    response = client.post(
        reverse("admin:members_member_import_confirm"), {"file_name": "imports/99999-x.csv", "encoding": "auto"}
    )

    # then it is not found
    assert response.status_code == 404


def test_export_is_scoped_to_the_managers_store_and_escapes_formulae(client, manager):
    # given a member of the manager's store with a formula for a name, and one of another store
    MemberFactory(phone="+85291234567", name='=HYPERLINK("http://evil")', home_store=manager.store)
    MemberFactory(phone="+85261234567", name="-2+3", home_store=manager.store)
    MemberFactory(phone="+85263000001", name="Elsewhere", home_store=StoreFactory(code="kowloon"))

    # when they export
    response = client.get(reverse("admin:members_member_export"))

    # then only their store's members are there, formulae escaped, phones left as numbers
    text = response.content.decode("utf-8-sig")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    lines = text.splitlines()
    assert lines[0].startswith("phone,member_number,name,gender,birthday,email,locale,tier,store,tags,")
    assert [line.split(",")[0] for line in lines[1:]] == ["+85291234567", "+85261234567"]
    assert '\'=HYPERLINK(""http://evil"")' in lines[1]
    assert ",'-2+3," in lines[2]
    assert "Elsewhere" not in text


def test_exported_file_can_be_imported_again(client, manager):
    # given an exported member
    MemberFactory(phone="+85291234567", name="Ann", home_store=manager.store)
    exported = client.get(reverse("admin:members_member_export")).content

    # when the export is uploaded for import; then the preview accepts it as one update
    html = " ".join(_upload(client, exported).content.decode().split())
    assert "1 rows read as utf-8: 0 new members, 1 updates, 0 rows with errors (not imported)." in html


def test_an_exported_file_imports_again_as_it_was_though_its_formulas_were_escaped(
    client, manager, django_capture_on_commit_callbacks
):
    # given a member whose name and tag start like formulas, exported (escaped: '=, '-)
    member = MemberFactory(phone="+85291234567", name="=Ann", home_store=manager.store)
    member.tags.add(TagFactory(name="-VIP"))
    exported = client.get(reverse("admin:members_member_export")).content
    assert b"'=Ann" in exported

    # when the export is imported again
    preview = _upload(client, exported).content.decode()
    file_name = re.search(r'name="file_name" value="([^"]+)"', preview)[1]
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("admin:members_member_import_confirm"), {"file_name": file_name, "encoding": "auto"})

    # then the member is as they were: no apostrophe in the name, no new tag "'-VIP"
    member.refresh_from_db()
    assert member.name == "=Ann"
    assert list(member.tags.values_list("name", flat=True)) == ["-VIP"]
    assert not Tag.objects.filter(name__startswith="'").exists()


def test_template_is_downloadable_and_imports_cleanly(client, manager):
    # when the template is downloaded
    response = client.get(reverse("admin:members_member_import_template"))

    # then it has every column, and its example rows preview without errors
    assert response.status_code == 200
    assert response.content.decode("utf-8-sig").splitlines()[0] == (
        "phone,name,gender,birthday,email,locale,tier,store,tags,consent_marketing,consent_sms,"
        "consent_email,consent_wechat,opening_points"
    )
    html = " ".join(_upload(client, response.content).content.decode().split())
    assert "2 rows read as utf-8: 2 new members, 0 updates, 0 rows with errors (not imported)." in html


def test_changelist_shows_import_and_export_links_to_a_manager_only(client, manager):
    # when the manager opens the member list; then both links are there
    html = client.get(reverse("admin:members_member_changelist")).content.decode()
    assert reverse("admin:members_member_import") in html
    assert reverse("admin:members_member_export") in html

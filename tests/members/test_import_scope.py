"""Member CSV import within the importer's store scope, and the audit of what an import changes (issue 12, D2).

A store manager (staff with a store) creates members only in their store and changes only its members; a
merchant admin (no store) may do all. Tiers set by a file leave a tier history record, opening balances
name the importer and a reason, and the job's chunks apply the scope themselves, under the members' locks.
"""

from datetime import UTC, datetime

import pytest

from members.imports.scope import ImportScope
from members.imports.validation import MemberRow
from members.imports.writer import ImportContext, write_chunk
from members.models import Member, MemberImportJob, Notification, PointsEntry, Role, TierHistory
from members.services.member_import import member_import_job_run, member_import_preview
from tests.factories import MemberFactory, StoreFactory, TierFactory, UserFactory
from tests.members.import_helpers import csv_bytes, run_import

pytestmark = pytest.mark.django_db

NOW = datetime(2024, 6, 1, 4, 0, tzinfo=UTC)
OTHER_STORES_MEMBER = "This member belongs to another store: only that store or a merchant admin can change them."
OWN_STORE_ONLY = "You may import members only into your own store; leave the cell empty or name your store."


@pytest.fixture
def stores():
    return StoreFactory(code="central"), StoreFactory(code="kowloon")


@pytest.fixture
def manager(stores):
    """A store manager of the first store."""
    return UserFactory(role=Role.STORE_MANAGER, store=stores[0])


@pytest.fixture
def tiers():
    return TierFactory(code="V1", rank=1), TierFactory(code="V3", rank=3)


def test_managers_row_for_another_stores_member_is_a_row_error_and_changes_nothing(stores, manager, tiers):
    # given a member of the other store, in the entry tier and without points
    other = MemberFactory(phone="+85291234567", name="Kowloon Ann", home_store=stores[1], tier=tiers[0])

    # when the first store's manager imports that phone with a new name, the top tier and opening points
    job = run_import(
        csv_bytes("phone,name,tier,opening_points", "91234567,Renamed,V3,5000", "61234567,New,,"),
        now=NOW,
        user=manager,
    )

    # then the row is refused naming the reason, the member is unchanged and no ledger entry is written
    assert job.errors == [{"row": 2, "column": "phone", "message": OTHER_STORES_MEMBER}]
    assert (job.status, job.created_count, job.updated_count, job.error_count) == ("done", 1, 0, 1)
    other.refresh_from_db()
    assert (other.name, other.tier_id, other.points_balance, other.home_store_id) == (
        "Kowloon Ann",
        tiers[0].pk,
        0,
        stores[1].pk,
    )
    assert not PointsEntry.objects.filter(member=other).exists()
    assert not TierHistory.objects.exists()
    assert other.history.count() == 1  # its creation only


def test_managers_row_for_a_member_without_home_store_is_a_row_error(manager):
    # given a member who joined without a home store
    member = MemberFactory(phone="+85291234567", name="Ann", home_store=None)

    # when a store manager imports the phone
    job = run_import(csv_bytes("phone,name", "91234567,Renamed"), now=NOW, user=manager)

    # then the row is refused and the member keeps their name
    assert [(error["row"], error["column"]) for error in job.errors] == [(2, "phone")]
    assert "no home store" in job.errors[0]["message"]
    member.refresh_from_db()
    assert member.name == "Ann"


def test_managers_row_naming_another_store_is_a_row_error_and_creates_nothing(stores, manager):
    # when the first store's manager imports a new member into the other store
    job = run_import(csv_bytes("phone,name,store", "91234567,Ann,kowloon"), now=NOW, user=manager)

    # then the row is refused on its store cell and nobody is created
    assert job.errors == [{"row": 2, "column": "store", "message": OWN_STORE_ONLY}]
    assert Member.objects.count() == 0


def test_managers_new_row_without_store_is_created_in_the_managers_store(stores, manager):
    # when a store manager imports new members, one naming their own store and one naming none
    run_import(csv_bytes("phone,name,store", "91234567,Ann,central", "61234567,Bob,"), now=NOW, user=manager)

    # then both are members of the manager's store
    assert sorted(Member.objects.values_list("name", "home_store_id")) == [("Ann", stores[0].pk), ("Bob", stores[0].pk)]


def test_manager_updates_members_of_their_own_store(stores, manager):
    # given a member of the manager's store
    member = MemberFactory(phone="+85291234567", name="Ann", home_store=stores[0])

    # when the manager imports a new name for them
    job = run_import(csv_bytes("phone,name", "91234567,Ann Lee"), now=NOW, user=manager)

    # then the member is updated
    member.refresh_from_db()
    assert (member.name, job.updated_count, job.error_count) == ("Ann Lee", 1, 0)


def test_merchant_admin_without_store_imports_into_any_store_and_updates_any_member(stores):
    # given a merchant admin (no store) and a member of the second store
    admin = UserFactory(role=Role.MERCHANT_ADMIN)
    member = MemberFactory(phone="+85291234567", name="Ann", home_store=stores[1])

    # when they import a change for that member, moving them, and a new member of the second store
    job = run_import(
        csv_bytes("phone,name,store", "91234567,Ann Lee,central", "61234567,Bob,kowloon"), now=NOW, user=admin
    )

    # then both rows are written as the file says
    assert (job.created_count, job.updated_count, job.error_count) == (1, 1, 0)
    member.refresh_from_db()
    assert (member.name, member.home_store_id) == ("Ann Lee", stores[0].pk)
    assert Member.objects.get(phone="+85261234567").home_store_id == stores[1].pk


def test_preview_reports_the_scope_errors_the_job_reports(stores, manager):
    # given a member of another store
    MemberFactory(phone="+85291234567", home_store=stores[1])
    data = csv_bytes("phone,name,store", "91234567,Ann,", "61234567,Bob,kowloon", "63000001,Cy,")

    # when the manager previews the file, then imports it
    preview = member_import_preview(data=data, user=manager, now=NOW)
    job = run_import(data, now=NOW, user=manager)

    # then the preview counted what the job did, with the same errors
    assert (preview.new_count, preview.update_count, preview.error_rows) == (1, 0, 2)
    assert (job.created_count, job.updated_count, job.error_count) == (1, 0, 2)
    assert [error.as_dict() for error in preview.errors] == job.errors


def test_background_job_applies_the_importers_scope(settings, django_capture_on_commit_callbacks, stores, manager):
    # given a file big enough for the background whose first row is another store's member
    settings.MEMBER_IMPORT_BACKGROUND_ROWS = 2
    other = MemberFactory(phone="+85291234567", name="Kowloon Ann", home_store=stores[1])
    lines = ["91234567,Renamed", *(f"630000{n:02d},Member {n}" for n in range(1, 6))]

    # when a store manager's import runs on Celery
    with django_capture_on_commit_callbacks(execute=True):
        job = run_import(csv_bytes("phone,name", *lines), now=NOW, user=manager)
    job.refresh_from_db()

    # then the job refused that row and created the others in the manager's store
    assert (job.status, job.created_count, job.updated_count, job.error_count) == ("done", 5, 0, 1)
    other.refresh_from_db()
    assert other.name == "Kowloon Ann"
    assert set(Member.objects.exclude(pk=other.pk).values_list("home_store_id", flat=True)) == {stores[0].pk}


def test_background_job_keeps_the_store_it_was_started_in_when_the_importer_moves(
    settings, django_capture_on_commit_callbacks, stores, manager
):
    # given a manager's background import, queued, whose first row is a member of the other store
    settings.MEMBER_IMPORT_BACKGROUND_ROWS = 2
    other = MemberFactory(phone="+85291234567", name="Kowloon Ann", home_store=stores[1])
    lines = ["91234567,Renamed", *(f"630000{n:02d},Member {n}" for n in range(1, 6))]
    with django_capture_on_commit_callbacks() as queued:
        job = run_import(csv_bytes("phone,name", *lines), now=NOW, user=manager)

    # when the manager moves to the other store before the job runs
    manager.store = stores[1]
    manager.save(update_fields=["store"])
    for callback in queued:
        callback()

    # then the job writes in the scope it was started in: the other store's member is refused, the new members
    # join the first store
    job.refresh_from_db()
    assert (job.status, job.store_id, job.created_count, job.error_count) == ("done", stores[0].pk, 5, 1)
    other.refresh_from_db()
    assert other.name == "Kowloon Ann"
    assert set(Member.objects.exclude(pk=other.pk).values_list("home_store_id", flat=True)) == {stores[0].pk}


def test_chunk_refuses_a_member_moved_to_another_store_after_validation(stores, manager):
    # given a row validated while its member was in the manager's store, who has since moved
    member = MemberFactory(phone="+85291234567", name="Ann", home_store=stores[0])
    row = MemberRow(row=2, index=0, phone=member.phone, values={"name": "Renamed"}, opening_points=10)
    Member.objects.filter(pk=member.pk).update(home_store=stores[1])

    # when the chunk is written with the manager's scope
    result = write_chunk([row], context=ImportContext.build(now=NOW, user=manager, scope=ImportScope.of(manager)))

    # then the chunk refuses it itself: nothing written, a row error instead
    assert [(error.row, error.column, error.message) for error in result.errors] == [(2, "phone", OTHER_STORES_MEMBER)]
    assert (result.created, result.updated) == (0, 0)
    member.refresh_from_db()
    assert (member.name, member.points_balance) == ("Ann", 0)


def test_job_of_a_deleted_importer_is_refused_not_run_for_all_stores(stores, manager):
    # given a queued job whose importer has been deleted since
    from members.services.member_import import member_import_store_upload

    MemberFactory(phone="+85291234567", name="Kowloon Ann", home_store=stores[1])
    name = member_import_store_upload(data=csv_bytes("phone,name", "91234567,Renamed"), user=manager)
    job = MemberImportJob.objects.create(file=name, encoding="auto", created_by=manager)
    MemberImportJob.objects.filter(pk=job.pk).update(created_by=None)  # what deleting the user does

    # when the job runs
    job = member_import_job_run(job_id=job.pk, now=NOW)

    # then it fails saying why, and nothing is written
    assert job.status == "failed"
    assert "no longer exists" in job.message
    assert Member.objects.get(phone="+85291234567").name == "Kowloon Ann"


def test_tier_set_by_import_leaves_the_record_a_manual_override_leaves(stores, tiers):
    # given a member in the entry tier, and a merchant admin
    admin = UserFactory(role=Role.MERCHANT_ADMIN)
    member = MemberFactory(phone="+85291234567", home_store=stores[0], tier=tiers[0])

    # when the admin imports the top tier for them and a new member in the top tier
    job = run_import(csv_bytes("phone,tier", "91234567,V3", "61234567,V3"), now=NOW, user=admin)

    # then each tier the file set is in the tier history, as an override by the admin naming the import
    new_member = Member.objects.get(phone="+85261234567")
    assert sorted(
        TierHistory.objects.values_list("member_id", "old_tier_id", "new_tier_id", "reason", "note", "created_by")
    ) == sorted(
        [
            (member.pk, tiers[0].pk, tiers[1].pk, "override", f"CSV import #{job.pk}", admin.pk),
            (new_member.pk, None, tiers[1].pk, "override", f"CSV import #{job.pk}", admin.pk),
        ]
    )
    assert TierHistory.objects.filter(created_at=NOW).count() == 2


def test_tier_unchanged_by_import_leaves_no_tier_history(stores, tiers):
    # given a member already in the tier the file names
    MemberFactory(phone="+85291234567", home_store=stores[0], tier=tiers[1])

    # when imported again with the same tier, and a new member at the entry tier
    run_import(csv_bytes("phone,tier", "91234567,V3", "61234567,V1"), now=NOW, user=UserFactory())

    # then no tier moved, so none is recorded
    assert not TierHistory.objects.exists()


def test_tier_moved_by_import_is_announced_after_commit(stores, tiers, django_capture_on_commit_callbacks):
    # given a member in the entry tier, and a listener of tier moves
    from members.signals import tier_changed

    member = MemberFactory(phone="+85291234567", home_store=stores[0], tier=tiers[0])
    moves = []

    def listener(changes, **kwargs):
        moves.extend((c["member_id"], c["old_tier_id"], c["new_tier_id"], c["reason"]) for c in changes)

    tier_changed.connect(listener)
    try:
        # when the file moves them to the top tier
        with django_capture_on_commit_callbacks(execute=True):
            run_import(csv_bytes("phone,tier", "91234567,V3"), now=NOW, user=UserFactory())
    finally:
        tier_changed.disconnect(listener)

    # then the move is announced like any tier move, and the member is told in their inbox
    assert moves == [(member.pk, tiers[0].pk, tiers[1].pk, "override")]
    assert list(Notification.objects.filter(member=member).values_list("kind", flat=True)) == ["tier_changed"]


def test_opening_points_of_existing_and_new_members_name_the_importer_and_a_reason(stores, manager):
    # given a member of the manager's store
    member = MemberFactory(phone="+85291234567", home_store=stores[0])

    # when the manager imports opening points for them and for a new member
    job = run_import(csv_bytes("phone,opening_points", "91234567,300", "61234567,200"), now=NOW, user=manager)

    # then both opening entries were written by the manager, with the import as their reason and source
    entries = PointsEntry.objects.values_list("member__phone", "kind", "delta", "created_by", "reason", "source")
    assert sorted(entries) == [
        ("+85261234567", "opening", 200, manager.pk, "CSV import", f"import:{job.pk}"),
        (member.phone, "opening", 300, manager.pk, "CSV import", f"import:{job.pk}"),
    ]

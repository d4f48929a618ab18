"""Member CSV import: upserts by phone, opening balances written once, big files on Celery with progress."""

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from members.models import Member, MemberImportJob, PointsEntry, PointsLot
from members.services import member_import
from members.services.ledger import points_ledger_drift
from members.services.member_import import member_import_job_run
from points.models import PointsPolicy
from tests.factories import MemberFactory, TierFactory, UserFactory
from tests.members.import_helpers import csv_bytes, run_import

pytestmark = pytest.mark.django_db

NOW = datetime(2024, 6, 1, 4, 0, tzinfo=UTC)  # noon in Hong Kong


def test_new_rows_become_active_imported_members_with_valid_unique_numbers():
    # given an entry tier and two new phones
    tier = TierFactory(code="V1", rank=1)
    data = csv_bytes("phone,name", "91234567,Ann", "61234567,Bob")

    # when imported
    job = run_import(data, now=NOW)

    # then both are active, joined by import, in the entry tier, with distinct Luhn member numbers
    members = list(Member.objects.order_by("phone"))
    assert [(m.phone, m.name, m.status, m.join_source, m.tier_id, m.joined_at) for m in members] == [
        ("+85261234567", "Bob", "active", "import", tier.pk, NOW),
        ("+85291234567", "Ann", "active", "import", tier.pk, NOW),
    ]
    from members.formats import is_valid_member_number

    assert all(is_valid_member_number(m.member_number) for m in members)
    assert members[0].member_number != members[1].member_number
    assert (job.created_count, job.updated_count, job.processed_rows, job.total_rows) == (2, 0, 2, 2)
    assert Member.history.filter(history_type="+").count() == 2


def test_reimport_updates_the_member_and_keeps_its_opening_balance_once():
    # given a first import with an opening balance
    run_import(csv_bytes("phone,name,tags,opening_points", "91234567,Ann,vip,100"), now=NOW)
    number = Member.objects.get().member_number

    # when the file is imported again with a new name, another tag and another figure
    job = run_import(csv_bytes("phone,name,tags,opening_points", "91234567,Ann Lee,gold|vip,250"), now=NOW)

    # then the member is updated in place, tags are added, and the opening balance stays the first one
    member = Member.objects.get()
    assert (member.member_number, member.name, member.points_balance) == (number, "Ann Lee", 100)
    assert sorted(member.tags.values_list("name", flat=True)) == ["gold", "vip"]
    assert list(PointsEntry.objects.values_list("kind", "delta", "idempotency_key")) == [
        ("opening", 100, "opening:+85291234567")
    ]
    assert (job.created_count, job.updated_count) == (0, 1)
    assert Member.history.filter(history_type="~").count() == 1
    assert points_ledger_drift() == []


def test_empty_cells_leave_existing_values_unchanged():
    # given a member with a name and e-mail
    MemberFactory(phone="+85291234567", name="Ann", email="ann@example.com")

    # when a row updates only the e-mail
    run_import(csv_bytes("phone,name,email", "91234567,,new@example.com"), now=NOW)

    # then the name stays
    assert Member.objects.values_list("name", "email").get() == ("Ann", "new@example.com")


def test_opening_balance_is_a_lot_expiring_by_the_points_policy_from_the_import_date():
    # given points that expire after 365 days
    PointsPolicy.objects.create(pk=1, expiry_mode="days", expiry_days=365)

    # when a member is imported with opening points
    run_import(csv_bytes("phone,opening_points", "91234567,1200"), now=NOW)

    # then one opening entry and one active lot hold them, and the balance agrees
    lot = PointsLot.objects.select_related("entry").get()
    assert (lot.entry.kind, lot.points, lot.remaining, lot.is_active) == ("opening", 1200, 1200, True)
    assert lot.expires_at == NOW + timedelta(days=365)
    assert Member.objects.get().points_balance == 1200
    assert points_ledger_drift() == []


def test_opening_balance_repays_an_existing_debt_first():
    # given a member owing 30 points
    member = MemberFactory(phone="+85291234567", points_debt=30)
    PointsEntry.objects.create(
        member=member, kind="refund", delta=-30, balance_after=0, debt_after=30, idempotency_key="debt", created_at=NOW
    )

    # when imported with 100 opening points
    run_import(csv_bytes("phone,opening_points", "91234567,100"), now=NOW)

    # then the debt is repaid and 70 remain
    member.refresh_from_db()
    assert (member.points_balance, member.points_debt) == (70, 0)
    assert points_ledger_drift() == []


def test_visitor_with_the_phone_becomes_active_by_import():
    # given a visitor who bound this phone but never joined
    MemberFactory(phone="+85291234567", status="visitor", join_source="", joined_at=None)

    # when imported
    run_import(csv_bytes("phone,name", "91234567,Ann"), now=NOW)

    # then the visitor is an active imported member
    assert Member.objects.values_list("status", "join_source", "joined_at").get() == ("active", "import", NOW)


def test_members_updated_beside_a_visitor_keep_their_join_and_consent_times():
    # given an active member with join and consent times to the microsecond, and a visitor
    joined = datetime(2023, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
    consented = datetime(2023, 2, 3, 4, 5, 6, 789012, tzinfo=UTC)
    MemberFactory(phone="+85291234567", joined_at=joined, consent_sms=True, consent_updated_at=consented)
    MemberFactory(phone="+85261234567", status="visitor", join_source="", joined_at=None)

    # when one file renames both (the visitor's joining writes the join fields of every changed row)
    run_import(csv_bytes("phone,name,consent_sms", "91234567,Ann,1", "61234567,Bob,"), now=NOW)

    # then the active member's times are written back exactly as they were; the visitor joined now
    assert Member.objects.values_list("name", "joined_at", "consent_updated_at").get(phone="+85291234567") == (
        "Ann",
        joined,
        consented,
    )
    assert Member.objects.values_list("status", "joined_at").get(phone="+85261234567") == ("active", NOW)


def test_big_import_runs_as_a_celery_task_and_records_progress(settings, django_capture_on_commit_callbacks):
    # given a file above the background threshold, with one bad row
    settings.MEMBER_IMPORT_BACKGROUND_ROWS = 10
    lines = [f"63{n:06d},Member {n},,,,,,,,,,,,5" for n in range(1, 2501)] + ["123,Bad,,,,,,,,,,,,"]
    header = (
        "phone,name,gender,birthday,email,locale,tier,store,tags,"
        "consent_marketing,consent_sms,consent_email,consent_wechat,opening_points"
    )
    user = UserFactory()

    # when imported (the task is enqueued on commit and runs eagerly)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        job = run_import(csv_bytes(header, *lines), now=NOW, user=user)
    job.refresh_from_db()

    # then it ran in the background and recorded its progress and counts
    assert len(callbacks) == 1
    assert job.status == "done"
    assert (job.total_rows, job.processed_rows, job.progress_percent) == (2501, 2501, 100)
    assert (job.created_count, job.updated_count, job.error_count) == (2500, 0, 1)
    assert job.errors == [{"row": 2502, "column": "phone", "message": "“123” is not a valid phone number."}]
    assert Member.objects.count() == 2500
    assert PointsEntry.objects.filter(kind="opening", created_by=user).count() == 2500
    assert points_ledger_drift() == []


def test_rerunning_a_job_resumes_and_duplicates_nothing(settings, django_capture_on_commit_callbacks, monkeypatch):
    # given a background job that wrote its rows but stopped before it could finish (its upload is kept)
    settings.MEMBER_IMPORT_BACKGROUND_ROWS = 10
    lines = [f"63{n:06d},Member {n},9" for n in range(1, 1501)]
    with monkeypatch.context() as stopped, django_capture_on_commit_callbacks(execute=True):
        stopped.setattr(member_import, "_finish", lambda *args, **kwargs: None)
        job = run_import(csv_bytes("phone,name,opening_points", *lines), now=NOW)

    # when it is marked as stopped half-way and run again, twice
    MemberImportJob.objects.filter(pk=job.pk).update(status="failed", processed_rows=1000)
    member_import_job_run(job_id=job.pk, now=NOW)
    member_import_job_run(job_id=job.pk, now=NOW)

    # then no member or opening balance is written twice
    job.refresh_from_db()
    assert (job.status, job.processed_rows) == ("done", 1500)
    assert Member.objects.count() == 1500
    assert PointsEntry.objects.count() == 1500
    assert points_ledger_drift() == []


def test_rerunning_a_job_from_the_start_duplicates_nothing(monkeypatch):
    # given a job that wrote its rows but stopped before it could finish, its progress lost
    with monkeypatch.context() as stopped:
        stopped.setattr(member_import, "_finish", lambda *args, **kwargs: None)
        job = run_import(csv_bytes("phone,name,opening_points", "91234567,Ann,40", "61234567,Bob,0"), now=NOW)
    MemberImportJob.objects.filter(pk=job.pk).update(status="running", processed_rows=0)

    # when run again
    member_import_job_run(job_id=job.pk, now=NOW)

    # then the job is done, and the members and the one opening balance are unchanged
    job.refresh_from_db()
    assert (job.status, job.processed_rows) == ("done", 2)
    assert Member.objects.count() == 2
    assert list(PointsEntry.objects.values_list("idempotency_key", "delta")) == [("opening:+85291234567", 40)]


def test_member_number_already_taken_is_drawn_again(monkeypatch):
    # given a member holding the number the generator offers first
    from members.formats import is_valid_member_number, new_member_number

    taken = MemberFactory(phone="+85291234567")
    offered = [taken.member_number]
    monkeypatch.setattr(
        "members.imports.writer.new_member_number", lambda: offered.pop() if offered else new_member_number()
    )

    # when a new member is imported with a tag and opening points
    job = run_import(csv_bytes("phone,name,tags,opening_points", "61234567,Bob,vip,20"), now=NOW)

    # then it gets another valid number, with its tag, opening balance and history written once
    member = Member.objects.get(phone="+85261234567")
    assert member.member_number != taken.member_number
    assert is_valid_member_number(member.member_number)
    assert (job.status, job.created_count) == ("done", 1)
    assert list(member.tags.values_list("name", flat=True)) == ["vip"]
    assert (member.points_balance, PointsEntry.objects.count(), PointsLot.objects.count()) == (20, 1, 1)
    assert Member.history.filter(history_type="+", id=member.pk).count() == 1
    assert points_ledger_drift() == []


def test_new_member_gets_tags_history_and_an_opening_lot_like_the_ledger_writes():
    # given points that expire after 365 days and a staff user importing
    PointsPolicy.objects.create(pk=1, expiry_mode="days", expiry_days=365)
    user = UserFactory()

    # when a new member is imported with tags and opening points
    job = run_import(csv_bytes("phone,name,tags,opening_points", "91234567,Ann,vip;gold,300"), now=NOW, user=user)

    # then the member holds the balance, one opening entry and one active lot as points_credit_openings writes
    member = Member.objects.get()
    assert (member.points_balance, member.points_debt) == (300, 0)
    entry = PointsEntry.objects.get()
    assert (entry.member_id, entry.kind, entry.delta, entry.balance_after, entry.debt_after) == (
        member.pk,
        "opening",
        300,
        300,
        0,
    )
    # the import's own reason as its msgid (each reader sees it translated), the job's number in the source
    assert (entry.idempotency_key, entry.source, entry.reason, entry.created_by, entry.created_at) == (
        "opening:+85291234567",
        f"import:{job.pk}",
        "CSV import",
        user,
        NOW,
    )
    assert (entry.purchase_id, entry.breakdown) == (None, {})
    lot = PointsLot.objects.get()
    assert (lot.member_id, lot.entry_id, lot.points, lot.remaining, lot.is_active) == (
        member.pk,
        entry.pk,
        300,
        300,
        True,
    )
    assert (lot.activates_at, lot.expires_at) == (NOW, NOW + timedelta(days=365))
    assert sorted(member.tags.values_list("name", flat=True)) == ["gold", "vip"]
    history = Member.history.get()
    assert (history.history_type, history.name, history.history_user, history.history_change_reason) == (
        "+",
        "Ann",
        user,
        "CSV import",
    )
    assert points_ledger_drift() == []


def test_new_member_gets_no_opening_balance_when_its_phone_had_one_already():
    # given a member who received the opening balance of this phone and then changed phone
    run_import(csv_bytes("phone,opening_points", "91234567,100"), now=NOW)
    Member.objects.update(phone="+85261234567")

    # when a new member with the old phone is imported with opening points
    job = run_import(csv_bytes("phone,name,opening_points", "91234567,Ann,250"), now=NOW)

    # then the new member is created without a balance: an opening balance is written once per phone
    assert (job.created_count, job.updated_count) == (1, 0)
    assert Member.objects.get(phone="+85291234567").points_balance == 0
    assert list(PointsEntry.objects.values_list("idempotency_key", "delta")) == [("opening:+85291234567", 100)]
    assert points_ledger_drift() == []


def test_one_file_creates_and_updates_members_with_their_opening_balances():
    # given one existing member without an opening balance
    MemberFactory(phone="+85261234567", name="Bob")

    # when a file holds that member and a new one, both with opening points and tags
    job = run_import(
        csv_bytes("phone,name,tags,opening_points", "61234567,Bob Lee,vip,70", "91234567,Ann,vip,30"), now=NOW
    )

    # then both balances are opened once, through the ledger for the existing member
    assert (job.created_count, job.updated_count) == (1, 1)
    assert dict(Member.objects.values_list("phone", "points_balance")) == {"+85261234567": 70, "+85291234567": 30}
    assert PointsLot.objects.count() == 2
    assert Member.tags.through.objects.count() == 2
    assert points_ledger_drift() == []


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_each_chunk_commits_without_waiting_for_disk_and_the_setting_does_not_outlive_it():
    # given a file imported outside any transaction, as the console and the Celery task run it
    with CaptureQueriesContext(connection) as queries:
        job = run_import(csv_bytes("phone,name,opening_points", "91234567,Ann,10"), now=NOW)

    # then its one chunk asked for an asynchronous commit, and the session is back to the server's default
    assert job.status == "done"
    assert [query["sql"] for query in queries.captured_queries if "synchronous_commit" in query["sql"]] == [
        "SELECT set_config('synchronous_commit', 'off', true)"  # infra.db_session.chunk_transaction, for the chunk only
    ]
    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        assert cursor.fetchone() == ("on",)
    assert Member.objects.get().points_balance == 10

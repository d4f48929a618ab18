"""Staff bulk grants: one idempotent job, a permission of its own, a reason, row errors by row number."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from members.errors import ReasonRequired
from members.models import Member, PointsEntry, Role
from members.services.ledger import points_ledger_drift
from points.models import PointsGrantJob
from points.services.grants import GrantNotAllowed, points_grant_job_create, points_grant_job_run
from tests.factories import MemberFactory, StoreFactory, TagFactory, TierFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_user():
    return UserFactory(role=Role.MERCHANT_ADMIN)


@pytest.fixture(autouse=True)
def _capture(django_capture_on_commit_callbacks):
    CAPTURE.append(django_capture_on_commit_callbacks)
    yield
    CAPTURE.clear()


CAPTURE = []


def grant(**kwargs):
    """Create a grant job and run what it enqueues after commit (the job itself, on eager Celery)."""
    with CAPTURE[0](execute=True):
        return points_grant_job_create(**kwargs)


def test_a_list_grant_credits_each_member_once_with_reason_and_author(admin_user, now):
    first, second = MemberFactory(), MemberFactory()
    listed = f"phone\n{first.phone}\n{second.member_number}\n"

    job = grant(created_by=admin_user, points=200, reason="Typhoon apology", member_list=listed, now=now)

    job.refresh_from_db()
    assert (job.status, job.members_total, job.members_done, job.members_granted) == ("done", 2, 2, 2)
    entries = PointsEntry.objects.filter(idempotency_key__startswith=f"grant:{job.pk}:").order_by("member_id")
    assert [(e.member_id, e.kind, e.delta, e.reason, e.created_by_id) for e in entries] == [
        (first.pk, "addition", 200, "Typhoon apology", admin_user.pk),
        (second.pk, "addition", 200, "Typhoon apology", admin_user.pk),
    ]
    assert [e.idempotency_key for e in entries] == [f"grant:{job.pk}:{first.pk}", f"grant:{job.pk}:{second.pk}"]
    assert points_ledger_drift(member_ids=[first.pk, second.pk]) == []


def test_a_grant_records_when_it_ended_not_when_it_started(admin_user):
    started = timezone.now() - timedelta(hours=1)
    member = MemberFactory()
    job = grant(created_by=admin_user, points=5, reason="Launch", member_list=member.phone, now=started)
    before = timezone.now()

    job = points_grant_job_run(job_id=job.pk, now=started)

    assert job.started_at < before <= job.finished_at <= timezone.now()


def test_running_a_grant_again_grants_nobody_twice(admin_user, now):
    member = MemberFactory()
    job = grant(created_by=admin_user, points=50, reason="Launch", member_list=member.phone, now=now)

    again = points_grant_job_run(job_id=job.pk, now=now)

    assert (again.status, again.members_granted) == ("done", 1)
    assert Member.objects.get(pk=member.pk).points_balance == 50
    assert PointsEntry.objects.filter(member=member).count() == 1


def test_rows_that_name_no_active_member_are_reported_by_row_number(admin_user, now):
    member, frozen = MemberFactory(), MemberFactory(status=Member.Status.FROZEN)
    listed = "\n".join([member.phone, "not a phone", "+85290000000", frozen.phone, member.member_number])

    job = grant(created_by=admin_user, points=10, reason="Fix", member_list=listed, now=now)

    job.refresh_from_db()
    assert [(error["row"], error["error"]) for error in job.row_errors] == [
        (2, "Neither a phone nor a member number."),
        (3, "No member matches."),
        (4, "This member is not active."),
        (5, "The same member as row 1."),
    ]
    assert (job.members_total, job.members_granted) == (1, 1)
    assert Member.objects.get(pk=frozen.pk).points_balance == 0


def test_row_errors_are_kept_in_english_and_shown_in_the_staff_members_language(admin_user, client, now):
    member = MemberFactory()
    listed = "\n".join([member.phone, "+85290000000", member.member_number])
    job = grant(created_by=admin_user, points=10, reason="Fix", member_list=listed, now=now)
    client.force_login(admin_user)

    page = client.get(f"/console/points/pointsgrantjob/{job.pk}/change/", HTTP_ACCEPT_LANGUAGE="zh-hant")

    job.refresh_from_db()
    assert [error["error"] for error in job.row_errors] == ["No member matches.", "The same member as row 1."]
    assert "第 2 行（+85290000000）：沒有符合的會員。" in page.content.decode()
    assert "與第 1 行為同一位會員。" in page.content.decode()


def test_a_tier_grant_reaches_its_active_members_only(admin_user, now):
    tier, other = TierFactory(), TierFactory()
    inside, outside = MemberFactory(tier=tier), MemberFactory(tier=other)

    job = grant(created_by=admin_user, points=30, reason="Tier gift", audience="tier",
                                  tier_id=tier.pk, now=now)  # fmt: skip

    assert PointsGrantJob.objects.get(pk=job.pk).members_granted == 1
    assert Member.objects.get(pk=inside.pk).points_balance == 30
    assert Member.objects.get(pk=outside.pk).points_balance == 0


def test_a_tag_grant_reaches_tagged_members(admin_user, now):
    tag = TagFactory()
    tagged, untagged = MemberFactory(), MemberFactory()
    tagged.tags.add(tag)

    grant(created_by=admin_user, points=5, reason="VIP", audience="tag", tag_id=tag.pk, now=now)

    assert Member.objects.get(pk=tagged.pk).points_balance == 5
    assert Member.objects.get(pk=untagged.pk).points_balance == 0


def test_a_merchant_admin_of_one_store_grants_to_their_stores_members_only(now):
    # given a merchant admin limited to store A, and members of the same tier in stores A and B
    store_a, store_b = StoreFactory(), StoreFactory()
    owner_a = UserFactory(role=Role.MERCHANT_ADMIN, store=store_a)
    tier = TierFactory()
    ours, theirs = MemberFactory(tier=tier, home_store=store_a), MemberFactory(tier=tier, home_store=store_b)

    # when they grant points to the tier, and to a list naming both members
    by_tier = grant(created_by=owner_a, points=30, reason="Tier gift", audience="tier", tier_id=tier.pk, now=now)
    listed = f"{ours.phone}\n{theirs.member_number}"
    by_list = grant(created_by=owner_a, points=5, reason="Apology", member_list=listed, now=now)

    # then only store A's member is credited; the list names the other as a row error; both jobs are store A's
    assert Member.objects.get(pk=ours.pk).points_balance == 35
    assert Member.objects.get(pk=theirs.pk).points_balance == 0
    by_list.refresh_from_db()
    assert by_list.row_errors == [
        {"row": 2, "value": theirs.member_number, "error": "This member does not belong to your store."}
    ]
    assert {job.store_id for job in PointsGrantJob.objects.filter(pk__in=[by_tier.pk, by_list.pk])} == {store_a.pk}


def test_a_merchant_admin_of_one_store_sees_only_their_stores_grants(admin_user, client, now):
    # given a brand-wide grant and one made by a merchant admin limited to store A
    store_a = StoreFactory()
    owner_a = UserFactory(role=Role.MERCHANT_ADMIN, store=store_a)
    member = MemberFactory(home_store=store_a)
    brand = grant(created_by=admin_user, points=10, reason="Brand", member_list=member.phone, now=now)
    theirs = grant(created_by=owner_a, points=10, reason="Store A", member_list=member.phone, now=now)
    client.force_login(owner_a)

    # when they list the grants, open the brand's and the form of a new one
    listed = client.get("/console/points/pointsgrantjob/")
    opened = client.get(f"/console/points/pointsgrantjob/{brand.pk}/change/")
    form = client.get("/console/points/pointsgrantjob/add/")

    # then they see their store's grant only, the brand's does not open, and the form says whom a grant reaches
    assert [job.pk for job in listed.context["cl"].result_list] == [theirs.pk]
    assert (opened.status_code, opened["Location"]) == (302, "/console/")
    assert f"Only members whose home store is {store_a} receive the points." in form.content.decode()


def test_a_grant_needs_a_reason(admin_user, now):
    member = MemberFactory()

    with pytest.raises(ReasonRequired):
        grant(created_by=admin_user, points=10, reason="  ", member_list=member.phone, now=now)

    assert PointsGrantJob.objects.count() == 0


@pytest.mark.parametrize("role", [Role.STORE_MANAGER, Role.CLERK])
def test_store_staff_may_not_grant(role, now):
    member = MemberFactory()

    with pytest.raises(GrantNotAllowed):
        grant(created_by=UserFactory(role=role), points=10, reason="x", member_list=member.phone, now=now)

    assert PointsGrantJob.objects.count() == 0


@pytest.mark.parametrize("role", [Role.STORE_MANAGER, Role.CLERK])
def test_store_staff_cannot_open_the_grant_console(role, client):
    client.force_login(UserFactory(role=role))

    response = client.get("/console/points/pointsgrantjob/add/")

    assert response.status_code == 403


def test_the_grant_console_starts_a_job_and_shows_its_progress(admin_user, client):
    member = MemberFactory()
    client.force_login(admin_user)

    with CAPTURE[0](execute=True):
        response = client.post(
            "/console/points/pointsgrantjob/add/",
            {"audience": "list", "member_list": member.phone, "points": "40", "reason": "Store opening"},
        )

    job = PointsGrantJob.objects.get()
    assert response.status_code == 302
    assert (job.status, job.members_granted, job.created_by_id) == ("done", 1, admin_user.pk)
    page = client.get(f"/console/points/pointsgrantjob/{job.pk}/change/")
    assert page.status_code == 200
    assert Member.objects.get(pk=member.pk).points_balance == 40


def test_a_list_saved_by_excel_on_chinese_windows_is_read_in_its_encoding(admin_user, client):
    first, second = MemberFactory(), MemberFactory()
    client.force_login(admin_user)
    file = SimpleUploadedFile("list.csv", f"會員電話\r\n{first.phone}\r\n{second.member_number}\r\n".encode("cp950"))

    with CAPTURE[0](execute=True):
        response = client.post(
            "/console/points/pointsgrantjob/add/",
            {"audience": "list", "member_file": file, "encoding": "big5", "points": "40", "reason": "Store opening"},
        )

    assert response.status_code == 302
    assert PointsGrantJob.objects.get().members_granted == 2


def test_an_undecodable_list_is_refused_and_no_job_starts(admin_user, client):
    client.force_login(admin_user)
    file = SimpleUploadedFile("list.csv", b"+85291234567\r\n\x81\x20\r\n")  # no encoding reads 0x81 0x20

    response = client.post(
        "/console/points/pointsgrantjob/add/",
        {"audience": "list", "member_file": file, "encoding": "auto", "points": "40", "reason": "Store opening"},
    )

    assert response.status_code == 200
    assert "The file is neither UTF-8, Big5 nor GB18030" in response.content.decode()
    assert not PointsGrantJob.objects.exists()


def test_a_typed_list_and_a_file_together_are_refused_so_row_numbers_stay_the_files(admin_user, client):
    client.force_login(admin_user)
    file = SimpleUploadedFile("list.csv", b"phone\r\n+85291234567\r\n")

    response = client.post(
        "/console/points/pointsgrantjob/add/",
        {"audience": "list", "member_list": "+85261234567", "member_file": file, "encoding": "auto", "points": "40",
         "reason": "Store opening"},
    )  # fmt: skip

    assert response.status_code == 200
    assert response.context["adminform"].form.errors == {
        "member_file": ["Type the list or upload it as a file, not both."]
    }
    assert not PointsGrantJob.objects.exists()


@pytest.mark.parametrize("listed", ["phone", "phone\n\n"])
def test_a_list_that_names_nobody_is_refused_on_the_form(admin_user, client, listed):
    client.force_login(admin_user)

    response = client.post(
        "/console/points/pointsgrantjob/add/",
        {"audience": "list", "member_list": listed, "points": "40", "reason": "Store opening"},
    )

    assert response.status_code == 200
    assert response.context["adminform"].form.errors == {"member_list": ["Give at least one phone or member number."]}
    assert not PointsGrantJob.objects.exists()


def test_the_grant_permission_is_its_own(now):
    user = UserFactory()
    user.user_permissions.add(Permission.objects.get(codename="grant_points", content_type__app_label="points"))
    member = MemberFactory()

    job = grant(created_by=user, points=1, reason="ok", member_list=member.phone, now=now)

    assert PointsGrantJob.objects.get(pk=job.pk).members_granted == 1

"""Bulk issue jobs: one coupon per member, idempotent re-runs, the quota, the limit, CSV lists, progress."""

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from django.db import connection
from django.db.models import Count
from django.utils import timezone, translation

from coupons.codes import generate_codes, is_valid_code
from coupons.models import Coupon, CouponIssueChunk, CouponIssueJob, PartnerCode
from coupons.services.bulk import coupon_issue_job_create, coupon_issue_job_run
from coupons.services.partner_codes import partner_codes_import
from infra.errors import InvalidInput
from members.models import Member
from tests.coupons.factories import CouponTemplateFactory
from tests.factories import MemberFactory, StoreFactory, TagFactory, TierFactory, UserFactory

pytestmark = pytest.mark.django_db


def create_job(template, now, **kwargs):
    """Create a job the way the console does. The test transaction never commits, so the enqueued task
    never starts: the tests run the job themselves, as the task does."""
    return coupon_issue_job_create(template_id=template.pk, now=now, **kwargs)


def run(job, now, **kwargs):
    return coupon_issue_job_run(job_id=job.pk, now=now, **kwargs)


@pytest.fixture
def tier():
    return TierFactory()


def test_a_tier_job_issues_one_coupon_to_each_active_member_of_the_tier(tier, now):
    template = CouponTemplateFactory()
    members = MemberFactory.create_batch(7, tier=tier)
    MemberFactory(tier=tier, status=Member.Status.FROZEN)
    MemberFactory()  # another tier
    job = create_job(template, now, audience=CouponIssueJob.Audience.TIER, tier_id=tier.pk)

    job = run(job, now, chunk_size=3)

    assert (job.status, job.total, job.issued, job.skipped, job.processed) == ("done", 7, 7, 0, 7)
    coupons = Coupon.objects.filter(template=template)
    assert sorted(coupons.values_list("member_id", flat=True)) == sorted(member.pk for member in members)
    assert set(coupons.values_list("source", "issue_key")) == {
        (Coupon.Source.BULK, f"job:{job.pk}:member:{member.pk}") for member in members
    }
    template.refresh_from_db()
    assert template.issued_count == 7


def test_the_last_two_chunks_worth_go_out_in_quarters_so_the_workers_end_together(tier, now, monkeypatch):
    from coupons.services import bulk

    monkeypatch.setattr(bulk, "TAIL_MIN_CHUNK", 2)  # as a quarter of 20,000 is above the real minimum
    members = MemberFactory.create_batch(21, tier=tier)
    job = create_job(CouponTemplateFactory(), now, audience=CouponIssueJob.Audience.TIER, tier_id=tier.pk)

    ranges = list(bulk._audience_ranges(job, size=8))

    ids = sorted(member.pk for member in members)
    sizes = [sum(first <= pk <= last for pk in ids) for first, last in ranges]
    assert sizes == [8, 2, 2, 2, 2, 2, 2, 1]  # 13 left after the first: two chunks' worth or less
    assert ranges[0][0] == 1
    assert ranges[-1][1] == ids[-1]
    assert all(ranges[n][1] + 1 == ranges[n + 1][0] for n in range(len(ranges) - 1))  # nothing falls between


def test_chunks_below_the_minimum_are_not_split(tier, now):
    from coupons.services import bulk

    MemberFactory.create_batch(10, tier=tier)
    job = create_job(CouponTemplateFactory(), now, audience=CouponIssueJob.Audience.TIER, tier_id=tier.pk)

    assert len(list(bulk._audience_ranges(job, size=3))) == 4


def test_a_tag_job_issues_to_members_with_the_tag(now):
    tag = TagFactory()
    tagged = MemberFactory.create_batch(3)
    for member in tagged:
        member.tags.add(tag)
    MemberFactory.create_batch(2)
    template = CouponTemplateFactory()

    job = run(create_job(template, now, audience=CouponIssueJob.Audience.TAG, tag_id=tag.pk), now)

    assert (job.status, job.issued) == ("done", 3)
    assert set(Coupon.objects.values_list("member_id", flat=True)) == {member.pk for member in tagged}


def test_running_a_finished_job_again_issues_nothing_more(tier, now):
    template = CouponTemplateFactory()
    MemberFactory.create_batch(4, tier=tier)
    job = run(create_job(template, now, audience="tier", tier_id=tier.pk), now)

    again = run(job, now)
    restarted = run(job, now, restart=True, chunk_size=2)

    assert (again.issued, restarted.issued, restarted.status, restarted.processed) == (4, 4, "done", 4)
    assert Coupon.objects.filter(template=template).count() == 4
    template.refresh_from_db()
    assert template.issued_count == 4


def test_the_quota_stops_the_job_with_a_clear_count_and_a_resume_continues_where_it_stopped(tier, now):
    template = CouponTemplateFactory(quota=5, per_member_limit=None)
    members = MemberFactory.create_batch(8, tier=tier)
    job = create_job(template, now, audience="tier", tier_id=tier.pk)

    job = run(job, now, chunk_size=3)

    assert (job.status, job.issued, job.processed, job.skipped) == ("stopped", 5, 5, 0)
    assert job.message == "The quota of 5 coupons is used up; 1 members of this batch got none."
    assert sorted(Coupon.objects.values_list("member_id", flat=True)) == [member.pk for member in members[:5]]
    template.refresh_from_db()
    assert template.issued_count == 5

    template.quota = 8
    template.save()
    job = run(job, now, chunk_size=3)

    assert (job.status, job.issued, job.processed) == ("done", 8, 8)
    assert Coupon.objects.filter(template=template).count() == 8


def test_the_job_stops_with_its_message_in_the_language_of_the_staff_member_who_made_it(tier, now):
    # given a job made by staff working in Traditional Chinese
    template = CouponTemplateFactory(quota=2, per_member_limit=None)
    MemberFactory.create_batch(3, tier=tier)
    with translation.override("zh-hant"):
        job = create_job(template, now, audience="tier", tier_id=tier.pk)

    # when a worker runs it, in no staff member's language
    job = run(job, now)

    # then the message that stopped it reads in Traditional Chinese
    assert (job.status, job.message) == ("stopped", "2 張優惠券的發放上限已用完；此批次有 1 位會員未獲發放。")


def test_members_already_at_the_limit_are_skipped_and_counted(tier, issue, now):
    template = CouponTemplateFactory(per_member_limit=2)
    full, one, fresh = MemberFactory.create_batch(3, tier=tier)
    issue(template, full)
    issue(template, full)
    issue(template, one)

    job = run(create_job(template, now, audience="tier", tier_id=tier.pk), now)

    assert (job.issued, job.skipped, job.processed) == (2, 1, 3)
    held = dict(Coupon.objects.values("member_id").annotate(n=Count("pk")).values_list("member_id", "n"))
    assert held == {full.pk: 2, one.pk: 2, fresh.pk: 1}
    assert set(Coupon.objects.filter(member=one).values_list("member_sequence", flat=True)) == {1, 2}


def test_a_list_that_names_nobody_starts_no_job(now):
    with pytest.raises(InvalidInput) as refused:
        create_job(CouponTemplateFactory(), now, audience="member_list", member_list=b"phone\n\n")

    assert list(refused.value.fields) == ["member_list"]
    assert not CouponIssueJob.objects.exists()


def test_a_csv_list_issues_to_the_members_it_names_and_reports_bad_rows_by_number(now):
    by_phone = MemberFactory(phone="+85291230001")
    by_number = MemberFactory()
    closed = MemberFactory(phone="+85291230003", status=Member.Status.CLOSED)
    csv = (
        f"phone\n9123 0001\n{by_number.member_number}\nnot a phone\n+85291239999\n\n+852 9123 0001\n{closed.phone}\n"
    ).encode()
    template = CouponTemplateFactory()

    job = create_job(template, now, audience="member_list", member_list=csv)
    job = run(job, now)

    assert (job.total, job.issued, job.error_count) == (2, 2, 4)
    assert job.errors == [
        {"row": 4, "column": "member", "value": "not a phone", "message": "Not a phone number or a member number."},
        {"row": 5, "column": "member", "value": "+85291239999", "message": "No member has this phone number."},
        {"row": 7, "column": "member", "value": "+852 9123 0001", "message": "This member is already on row 2."},
        {
            "row": 8,
            "column": "member",
            "value": "+85291230003",
            "message": "This member's account is frozen or closed.",
        },
    ]
    assert set(Coupon.objects.values_list("member_id", flat=True)) == {by_phone.pk, by_number.pk}


def test_a_store_managers_job_reaches_only_members_of_their_store(tier, now):
    store = StoreFactory()
    ours = MemberFactory(tier=tier, home_store=store)
    MemberFactory(tier=tier)
    template = CouponTemplateFactory()

    job = run(create_job(template, now, audience="tier", tier_id=tier.pk, store_id=store.pk), now)

    assert (job.total, job.issued) == (1, 1)
    assert list(Coupon.objects.values_list("member_id", flat=True)) == [ours.pk]


def test_progress_is_recorded_after_each_chunk(tier, now, monkeypatch):
    from coupons.services import bulk

    template = CouponTemplateFactory()
    MemberFactory.create_batch(5, tier=tier)
    job = create_job(template, now, audience="tier", tier_id=tier.pk)
    seen = []
    record = bulk._record

    def spy(job, claim, result):
        recorded = record(job, claim, result)
        seen.append(CouponIssueJob.objects.values_list("processed", "issued", "status").get(pk=job.pk))
        return recorded

    monkeypatch.setattr(bulk, "_record", spy)

    run(job, now, chunk_size=2)

    assert seen == [(2, 2, "running"), (4, 4, "running"), (5, 5, "running")]
    job.refresh_from_db()
    assert (job.status, job.progress_percent, job.started_at) == ("done", 100, now)


def test_a_job_records_when_it_ended_while_its_coupons_carry_the_moment_it_started(tier):
    started = timezone.now() - timedelta(hours=1)  # chunks that waited an hour in the queue
    template = CouponTemplateFactory()
    MemberFactory.create_batch(3, tier=tier)
    job = create_job(template, started, audience="tier", tier_id=tier.pk)
    before = timezone.now()

    run(job, started, chunk_size=2)

    job.refresh_from_db()
    assert (job.status, job.started_at) == ("done", started)
    assert before <= job.finished_at <= timezone.now()
    assert set(Coupon.objects.filter(template=template).values_list("issued_at", flat=True)) == {started}


def test_creating_a_job_starts_it_on_commit(tier, django_capture_on_commit_callbacks, now):
    template = CouponTemplateFactory()
    MemberFactory.create_batch(2, tier=tier)

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        job = create_job(template, now, audience="tier", tier_id=tier.pk)

    job.refresh_from_db()
    assert (len(callbacks), job.status, job.issued) == (1, "done", 2)


def test_a_partner_pool_template_issues_the_uploaded_codes_and_stops_when_they_run_out(tier, now):
    template = CouponTemplateFactory(code_source="partner_pool")
    partner_codes_import(template_id=template.pk, data=b"code\nPARTNER-0001\npartner0002\n", now=now)
    MemberFactory.create_batch(3, tier=tier)

    job = run(create_job(template, now, audience="tier", tier_id=tier.pk), now)

    assert (job.status, job.issued) == ("stopped", 2)
    assert job.message == "The partner codes of this offer are used up; 1 members of this batch got none."
    assert set(Coupon.objects.values_list("code", flat=True)) == {"PARTNER0001", "PARTNER0002"}
    assert PartnerCode.objects.filter(used_at__isnull=True).count() == 0


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_runs_of_one_job_at_the_same_time_give_each_member_exactly_one_coupon(monkeypatch):
    from coupons import tasks

    monkeypatch.setattr(tasks.coupon_issue_job_task, "delay", lambda **kwargs: None)  # the test starts both runs
    now = timezone.now()
    tier = TierFactory()
    members = MemberFactory.create_batch(60, tier=tier)
    template = CouponTemplateFactory(quota=1000, per_member_limit=None)
    job = coupon_issue_job_create(template_id=template.pk, audience="tier", tier_id=tier.pk, now=now)

    def one_run():
        try:
            return coupon_issue_job_run(job_id=job.pk, now=now, chunk_size=7).status
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=2) as pool:
        statuses = list(pool.map(lambda _n: one_run(), range(2)))

    # A run that finds its last chunk in the other run's hands returns while that run finishes it.
    assert set(statuses) <= {"running", "done"}
    assert "done" in statuses
    job.refresh_from_db()
    assert job.status == "done"
    held = Coupon.objects.filter(template=template).values("member_id").annotate(n=Count("pk"))
    assert sorted(row["member_id"] for row in held) == sorted(member.pk for member in members)
    assert {row["n"] for row in held} == {1}
    job.refresh_from_db()
    template.refresh_from_db()
    assert (job.issued, job.processed, template.issued_count) == (60, 60, 60)


def _bulk_job_on_committed_rows(monkeypatch, members=60):
    from coupons import tasks

    monkeypatch.setattr(tasks.coupon_issue_job_task, "delay", lambda **kwargs: None)  # the test runs the job
    now = timezone.now()
    tier = TierFactory()
    member_ids = sorted(member.pk for member in MemberFactory.create_batch(members, tier=tier))
    template = CouponTemplateFactory(quota=None, per_member_limit=1)
    job = coupon_issue_job_create(template_id=template.pk, audience="tier", tier_id=tier.pk, now=now)
    return job, template, member_ids, now


def _one_coupon_each(template, member_ids):
    held = Coupon.objects.filter(template=template).values("member_id").annotate(n=Count("pk"))
    return sorted(row["member_id"] for row in held) == member_ids and {row["n"] for row in held} == {1}


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_job_fans_out_one_chunk_task_per_chunk_and_a_rerun_gives_nothing(monkeypatch):
    from coupons import tasks

    job, template, member_ids, now = _bulk_job_on_committed_rows(monkeypatch)
    sent = []
    chunk_task = tasks.coupon_issue_chunk_run

    def spy(**kwargs):
        sent.append((kwargs["number"], kwargs["first_id"], kwargs["last_id"]))
        return chunk_task(**kwargs)

    monkeypatch.setattr(tasks, "coupon_issue_chunk_run", spy)

    job = coupon_issue_job_run(job_id=job.pk, now=now, chunk_size=3)
    rerun = coupon_issue_job_run(job_id=job.pk, now=now, restart=True, chunk_size=4)

    # The ranges follow one another, each ending at its third member.
    assert sent[:20] == [(n, member_ids[3 * n - 1] + 1 if n else 1, member_ids[3 * n + 2]) for n in range(20)]
    assert len(sent) == 20 + 15
    assert _one_coupon_each(template, member_ids)
    template.refresh_from_db()
    assert (job.status, job.issued, job.processed, job.skipped, template.issued_count) == ("done", 60, 60, 0, 60)
    assert (rerun.status, rerun.issued, rerun.processed, rerun.skipped) == ("done", 60, 60, 0)
    assert CouponIssueChunk.objects.filter(job=job, is_done=True).count() == 15


def _chunks_sent_to_a_broker(monkeypatch):
    """Keep the chunk tasks the coordinator sends, as a broker would, instead of running them at once."""
    from coupons import tasks

    queue = []
    monkeypatch.setattr(tasks.coupon_issue_chunk_task, "apply_async", lambda kwargs: queue.append(kwargs))
    return queue


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_with_a_broker_the_chunk_that_completes_the_job_marks_it_done(monkeypatch):
    from coupons import tasks

    job, template, member_ids, now = _bulk_job_on_committed_rows(monkeypatch, members=10)
    queue = _chunks_sent_to_a_broker(monkeypatch)

    job = coupon_issue_job_run(job_id=job.pk, now=now, chunk_size=3)
    assert (job.status, job.chunk_count, len(queue)) == ("running", 4, 4)  # counted once the last was sent

    for kwargs in queue[:3]:
        tasks.coupon_issue_chunk_task(**kwargs)
    job.refresh_from_db()
    assert (job.status, job.issued) == ("running", 9)
    tasks.coupon_issue_chunk_task(**queue[3])
    job.refresh_from_db()
    assert (job.status, job.issued, job.processed) == ("done", 10, 10)
    assert _one_coupon_each(template, member_ids)


def _chunks_sent_but_not_counted(monkeypatch):
    """A job of 10 members whose coordinator sent its 4 chunks (kept, as a broker would) but has no count recorded."""
    from coupons.models import CouponIssueJob

    job, template, member_ids, now = _bulk_job_on_committed_rows(monkeypatch, members=10)
    queue = _chunks_sent_to_a_broker(monkeypatch)
    coupon_issue_job_run(job_id=job.pk, now=now, chunk_size=3)
    CouponIssueJob.objects.filter(pk=job.pk).update(chunk_count=None)
    return job, template, member_ids, now, queue


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_coordinator_marks_the_job_done_when_every_chunk_finished_before_it_counted_them(monkeypatch):
    from coupons import tasks

    # as while the coordinator still walks the audience
    job, template, member_ids, now, queue = _chunks_sent_but_not_counted(monkeypatch)
    for kwargs in queue:
        tasks.coupon_issue_chunk_task(**kwargs)
    job.refresh_from_db()
    assert (job.status, job.issued) == ("running", 10)  # no chunk could tell it was the last

    job = coupon_issue_job_run(job_id=job.pk, now=now, chunk_size=3)  # a resumed coordinator, or the same one

    assert (job.status, job.issued, job.processed, job.chunk_count) == ("done", 10, 10, 4)
    assert _one_coupon_each(template, member_ids)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_chunk_tasks_sent_by_the_release_before_with_their_count_still_finish_the_job(monkeypatch):
    from coupons import tasks

    job, template, member_ids, now, queue = _chunks_sent_but_not_counted(monkeypatch)  # that release had no count

    for kwargs in queue:
        tasks.coupon_issue_chunk_task(**kwargs, chunks=len(queue))

    job.refresh_from_db()
    assert (job.status, job.issued, job.processed) == ("done", 10, 10)
    assert _one_coupon_each(template, member_ids)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_job_whose_chunk_fails_resumes_and_gives_each_member_exactly_one_coupon(monkeypatch):
    from coupons.services import bulk

    job, template, member_ids, now = _bulk_job_on_committed_rows(monkeypatch)
    chunk = bulk._issue_chunk
    failed = []

    def fail_one_chunk(**kwargs):
        if kwargs["member_ids"][0] == member_ids[9] and not failed:
            failed.append(True)
            raise RuntimeError("the connection dropped")
        return chunk(**kwargs)

    monkeypatch.setattr(bulk, "_issue_chunk", fail_one_chunk)

    with pytest.raises(RuntimeError):
        coupon_issue_job_run(job_id=job.pk, now=now, chunk_size=3)
    job.refresh_from_db()
    assert (job.status, job.issued, job.processed) == ("failed", 9, 9)  # the chunks after it did not start
    assert not Coupon.objects.filter(template=template, member_id__in=member_ids[9:]).exists()

    job = coupon_issue_job_run(job_id=job.pk, now=now, chunk_size=3)

    assert _one_coupon_each(template, member_ids)
    template.refresh_from_db()
    assert (job.status, job.issued, job.processed, template.issued_count) == ("done", 60, 60, 60)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_chunk_whose_template_ends_under_it_is_redone_holding_the_template_and_stops_the_job(monkeypatch):
    from coupons.models import CouponTemplate
    from coupons.services import bulk

    job, template, member_ids, now = _bulk_job_on_committed_rows(monkeypatch)
    insert = bulk._insert

    def end_template_at_member_30(**kwargs):
        if kwargs["member_ids"] and kwargs["member_ids"][0] >= member_ids[30]:

            def end():  # another connection, committed while the chunk is under way
                CouponTemplate.objects.filter(pk=template.pk).update(is_active=False)
                connection.close()

            thread = threading.Thread(target=end)
            thread.start()
            thread.join()
        return insert(**kwargs)

    monkeypatch.setattr(bulk, "_insert", end_template_at_member_30)

    job = coupon_issue_job_run(job_id=job.pk, now=now, chunk_size=3)

    template.refresh_from_db()
    assert (job.status, job.message) == ("stopped", "This coupon offer is not available.")
    assert job.issued == job.processed == template.issued_count == 30
    assert _one_coupon_each(template, member_ids[:30])


def test_a_bulk_coupon_carries_the_staff_member_the_times_and_the_number_of_a_single_issue(tier, now):
    staff = UserFactory()
    template = CouponTemplateFactory(valid_days=30, code_prefix="XMAS", code_length=9)
    member = MemberFactory(tier=tier)
    job = create_job(template, now, audience="tier", tier_id=tier.pk, created_by_id=staff.pk)

    run(job, now)

    coupon = Coupon.objects.get(template=template)
    assert (coupon.member_id, coupon.member_sequence, coupon.status, coupon.issued_by_id) == (
        member.pk,
        1,
        Coupon.Status.AVAILABLE,
        staff.pk,
    )
    assert (coupon.issued_at, coupon.valid_from, coupon.valid_until) == (now, now, now + timedelta(days=30))
    assert (coupon.reservation_reference, coupon.void_reason, coupon.redeemed_at) == ("", "", None)
    assert coupon.code.startswith("XMAS")
    assert len(coupon.code) == 4 + 9 + 1
    assert is_valid_code(coupon.code)


@pytest.mark.parametrize("code_length", [6, 10])
def test_a_code_collision_retries_only_the_colliding_row(tier, issue, now, monkeypatch, code_length):
    from coupons.services import bulk

    taken = issue(CouponTemplateFactory(), MemberFactory()).code
    template = CouponTemplateFactory(code_length=code_length)
    members = MemberFactory.create_batch(5, tier=tier)
    asked = []

    def colliding_first(count, **kwargs):
        asked.append(count)
        codes = generate_codes(count, **kwargs)
        return [taken, *codes[1:]] if len(asked) == 1 else codes

    monkeypatch.setattr(bulk, "generate_codes", colliding_first)

    job = run(create_job(template, now, audience="tier", tier_id=tier.pk), now)

    assert asked == [5, 1]
    assert (job.status, job.issued, job.processed, job.skipped) == ("done", 5, 5, 0)
    held = Coupon.objects.filter(template=template).values("member_id").annotate(n=Count("pk"))
    assert {row["member_id"]: row["n"] for row in held} == {member.pk: 1 for member in members}
    assert Coupon.objects.filter(code=taken).count() == 1
    template.refresh_from_db()
    assert template.issued_count == 5


def test_codes_that_keep_colliding_fail_the_job_without_issuing_anything(tier, issue, now, monkeypatch):
    from coupons.services import bulk

    taken = issue(CouponTemplateFactory(), MemberFactory()).code
    template = CouponTemplateFactory()
    MemberFactory.create_batch(3, tier=tier)
    monkeypatch.setattr(bulk, "generate_codes", lambda count, **kwargs: [taken, *generate_codes(count - 1, **kwargs)])
    job = create_job(template, now, audience="tier", tier_id=tier.pk)

    with pytest.raises(RuntimeError, match="no free codes for 1 members"):
        run(job, now)

    job.refresh_from_db()
    template.refresh_from_db()
    assert (job.status, job.issued, template.issued_count) == ("failed", 0, 0)
    assert Coupon.objects.filter(template=template).count() == 0

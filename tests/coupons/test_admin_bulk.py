"""The console's bulk issue form, job progress page, partner code upload and report."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from coupons.models import Coupon, CouponIssueJob
from members.models import Role
from tests.coupons.factories import CouponTemplateFactory
from tests.factories import MemberFactory, TierFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def merchant_admin(client):
    user = UserFactory(role=Role.MERCHANT_ADMIN)
    client.force_login(user)
    return user


def test_the_issue_action_leads_to_the_form_which_starts_a_job_shown_with_its_count(
    client, merchant_admin, django_capture_on_commit_callbacks
):
    template = CouponTemplateFactory(name="Spring")
    tier = TierFactory()
    MemberFactory.create_batch(3, tier=tier)
    changelist = reverse("admin:coupons_coupontemplate_changelist")

    action = client.post(changelist, {"action": "issue_to_members", "_selected_action": [template.pk]})
    form_url = reverse("admin:coupons_coupontemplate_issue", args=[template.pk])
    with django_capture_on_commit_callbacks(execute=True):  # the job starts on commit (eager Celery)
        started = client.post(form_url, {"audience": "tier", "tier": tier.pk, "encoding": "auto"})
    job = CouponIssueJob.objects.get()
    page = client.get(started.url)

    assert action.url == form_url
    assert started.url == reverse("admin:coupons_couponissuejob_change", args=[job.pk])
    assert (job.status, job.issued, job.created_by) == ("done", 3, merchant_admin)
    assert "3 coupons issued, 0 members skipped" in page.content.decode()


def test_the_issue_form_takes_a_csv_list_and_the_job_page_names_the_bad_rows(
    client, merchant_admin, django_capture_on_commit_callbacks
):
    template = CouponTemplateFactory()
    member = MemberFactory()
    upload = SimpleUploadedFile("list.csv", f"{member.member_number}\n12\n".encode(), content_type="text/csv")

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("admin:coupons_coupontemplate_issue", args=[template.pk]),
            {"audience": "member_list", "file": upload, "encoding": "auto"},
            follow=True,
        )

    body = response.content.decode()
    assert Coupon.objects.filter(member=member, template=template).count() == 1
    assert "<td>2</td><td>member</td><td>12</td><td>Not a phone number or a member number.</td>" in body


def test_the_issue_form_asks_for_the_tier_it_needs(client, merchant_admin):
    template = CouponTemplateFactory()

    response = client.post(
        reverse("admin:coupons_coupontemplate_issue", args=[template.pk]), {"audience": "tier", "encoding": "auto"}
    )

    assert response.status_code == 200
    assert response.context["form"].errors == {"tier": ["Choose a tier."]}
    assert not CouponIssueJob.objects.exists()


def test_a_clerk_cannot_issue_in_bulk(client):
    client.force_login(UserFactory(role=Role.CLERK))
    template = CouponTemplateFactory()

    response = client.get(reverse("admin:coupons_coupontemplate_issue", args=[template.pk]))

    assert response.status_code == 403


def test_partner_codes_are_uploaded_from_the_console_with_refused_rows_listed(client, merchant_admin):
    template = CouponTemplateFactory(code_source="partner_pool")
    upload = SimpleUploadedFile("codes.csv", b"GOOD0001\nGOOD0001\n", content_type="text/csv")

    response = client.post(
        reverse("admin:coupons_coupontemplate_partner_codes", args=[template.pk]),
        {"file": upload, "encoding": "auto"},
    )

    body = response.content.decode()
    assert "The pool holds 1 codes, 1 not yet given out." in body
    assert "<td>2</td><td>code</td><td>GOOD0001</td><td>This code is already on row 1.</td>" in body


def test_the_report_page_lists_each_template_with_its_figures(client, merchant_admin, issue):
    template = CouponTemplateFactory(name="Spring")
    issue(template, MemberFactory())

    response = client.get(reverse("admin:coupons_coupontemplate_report"))

    assert response.status_code == 200
    assert [(row.name, row.report_issued, rate) for row, rate in response.context["rows"]] == [("Spring", 1, 0)]


def test_resuming_jobs_starts_again_only_those_stopped_or_failed(
    client, merchant_admin, django_capture_on_commit_callbacks, monkeypatch
):
    from django.utils import timezone

    from coupons import tasks

    started = []
    monkeypatch.setattr(tasks.coupon_issue_job_task, "delay", lambda **kwargs: started.append(kwargs["job_id"]))
    template = CouponTemplateFactory()
    jobs = {
        status: CouponIssueJob.objects.create(
            template=template, audience="member_list", status=status, created_at=timezone.now()
        )
        for status in ("stopped", "failed", "done", "running")
    }

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("admin:coupons_couponissuejob_changelist"),
            {"action": "resume", "_selected_action": [job.pk for job in jobs.values()]},
            follow=True,
        )

    assert sorted(started) == sorted([jobs["stopped"].pk, jobs["failed"].pk])
    assert [str(message) for message in response.context["messages"]] == ["2 jobs resumed."]

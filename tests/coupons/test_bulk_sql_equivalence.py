"""On PostgreSQL, a bulk issue chunk's set-based writes (COPY, or INSERT ... FROM unnest when a row conflicts) give
exactly the rows of the ORM reference (bulk_create): each runs on the same data, the other's writes rolled back."""

from datetime import UTC, datetime

import pytest

from coupons.models import Coupon, CouponIssueChunk, CouponIssueJob
from coupons.services import bulk
from coupons.services.bulk import coupon_issue_job_create
from tests.coupons.factories import CouponTemplateFactory
from tests.factories import MemberFactory, TierFactory
from tests.members.test_bulk_sql_equivalence import rows_written_by

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]

NOW = datetime(2024, 6, 1, 4, 0, tzinfo=UTC)


def coupon_rows(template):
    coupons = list(
        Coupon.objects.filter(template=template)
        .order_by("member_id", "member_sequence")
        .values_list("member_id", "member_sequence", "code", "issue_key", "status", "source", "issued_by_id",
                     "issued_at", "valid_from", "valid_until", "reserved_until", "redeemed_at")
    )  # fmt: skip
    template.refresh_from_db()
    job = CouponIssueJob.objects.values_list("issued", "processed", "skipped").get(template=template)
    chunks = list(CouponIssueChunk.objects.order_by("number").values_list("number", "processed", "skipped", "is_done"))
    return coupons, template.issued_count, job, chunks


@pytest.mark.parametrize("code_length", [6, 10], ids=["insert that skips conflicts", "copy"])
def test_the_bulk_issue_statements_write_the_rows_of_the_orm(monkeypatch, code_length, issue):
    # given a tier's members, one of whom already holds a coupon of the template, and codes drawn in a known order
    tier = TierFactory()
    members = MemberFactory.create_batch(6, tier=tier)
    template = CouponTemplateFactory(per_member_limit=2, code_length=code_length)
    issue(template, members[2])
    job = coupon_issue_job_create(template_id=template.pk, audience="tier", tier_id=tier.pk, now=NOW)

    drawn = []

    def codes(count, *, prefix, body_length):
        drawn.extend(range(len(drawn), len(drawn) + count))
        return [f"{prefix}T{number:0{body_length - 1}d}" for number in drawn[-count:]]

    monkeypatch.setattr(bulk, "generate_codes", codes)

    # when each path issues the chunks
    def run():
        drawn.clear()
        bulk.coupon_issue_job_run(job_id=job.pk, now=NOW, chunk_size=4)

    reference = rows_written_by("orm", run, lambda: coupon_rows(template))
    fast = rows_written_by("sql", run, lambda: coupon_rows(template))

    # then
    assert fast == reference
    assert (len(fast[0]), fast[1]) == (7, 7)

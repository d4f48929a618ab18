"""Writers of segments: saving a rule (validated against the schema), freezing a run's members, and using a
segment as the audience of a coupon bulk issue or a points grant through those apps' own services.

A freeze is one INSERT ... SELECT of the segment's compiled query into the snapshot table, in the transaction
that creates the freeze under its unique key: whoever asks for the same key afterwards (a retried task, a
second click) gets the same freeze and the same members, and what the first request started (`result`).

A key names one request, so it is only ever answered for that request: the same key for another segment is
refused (`idempotency_key_reused`, as the API refuses a key reused with another body), and the audience helpers
namespace the caller's key by their effect and segment (`coupon-issue:<segment>:<key>`) and refuse it again with
other parameters (another template, another number of points or reason) instead of answering with the first job.
"""

import datetime

from django.db import transaction
from django.utils.translation import gettext_lazy as _

from campaigns import sql
from campaigns.errors import SegmentNotAllowed, SegmentRuleInvalid
from campaigns.models import Segment, SegmentFreeze, SegmentMember
from campaigns.segments.schema import rule_errors
from campaigns.selectors.segments import freeze_member_ids, jit_off, segment_members_of
from infra.errors import InvalidInput, NotFound
from members.errors import IdempotencyKeyReused
from members.models import Member


def _store_of(user) -> int | None:
    return None if user is None else user.scope_store_id


def segment_rule_check(*, rule) -> None:
    """Raise SegmentRuleInvalid, naming each problem by its condition, unless `rule` fits the schema."""
    errors = rule_errors(rule)
    if errors:
        raise SegmentRuleInvalid.for_field_errors({"rule": errors})


@transaction.atomic
def segment_save(
    *,
    name: str,
    rule,
    user,
    segment_id: int | None = None,
    description: str = "",
    store_id: int | None = None,
) -> Segment:
    """Create a segment (no `segment_id`) or change one; the rule is checked first.

    Staff of a store keep their segments to their store. Raises SegmentRuleInvalid, InvalidInput (no name),
    NotFound, SegmentNotAllowed (another store's segment or store, or no permission).
    """
    action = "change" if segment_id else "add"
    if user is not None and not user.has_perm(f"campaigns.{action}_segment"):
        raise SegmentNotAllowed()
    staff_store = _store_of(user)
    if staff_store is not None and store_id != staff_store:
        raise SegmentNotAllowed()
    if not (name or "").strip():
        raise InvalidInput.for_field("name", _("This field is required."))
    segment_rule_check(rule=rule)
    if segment_id:
        segment = Segment.objects.select_for_update().filter(pk=segment_id).first()
        if segment is None:
            raise NotFound()
        if staff_store is not None and segment.store_id != staff_store:
            raise SegmentNotAllowed()
    else:
        segment = Segment(created_by=user)
    segment.name, segment.description, segment.store_id, segment.rule = name.strip(), description, store_id, rule
    segment.save()
    return segment


def _insert_members(*, freeze: SegmentFreeze, segment: Segment, now: datetime.datetime) -> int:
    """Write the segment's members at `now` into the freeze in one INSERT ... SELECT; return how many.

    The SELECT is the queryset's own SQL (Django has no INSERT ... SELECT): the same compiled query that the
    count and the sample run, on either database.
    """
    members = segment_members_of(segment=segment, now=now).order_by().values("pk")
    with jit_off():
        return sql.freeze_members_insert(freeze_id=freeze.pk, member_ids=members)


@transaction.atomic
def segment_freeze(*, segment_id: int, key: str, now: datetime.datetime, created_by=None) -> tuple[SegmentFreeze, bool]:
    """Freeze the segment's members at `now` for the run `key`; return (freeze, whether this call made it).

    Asking again with the same key returns the first freeze unchanged (its members, count and result), even
    when the segment's rule or the members changed since, and even from two transactions at once (the unique key
    makes the second wait for the first). Raises NotFound, IdempotencyKeyReused (the key froze another segment).
    """
    segment = Segment.objects.filter(pk=segment_id).first()
    if segment is None:
        raise NotFound()
    freeze, created = SegmentFreeze.objects.get_or_create(
        key=key,
        defaults={
            "segment": segment,
            "rule": segment.rule,
            "store_id": segment.store_id,
            "frozen_at": now,
            "created_by": created_by,
        },
    )
    if not created:
        if freeze.segment_id != segment.pk:
            raise IdempotencyKeyReused.for_field("key")
        return freeze, False
    freeze.member_count = _insert_members(freeze=freeze, segment=segment, now=now)
    SegmentFreeze.objects.filter(pk=freeze.pk).update(member_count=freeze.member_count)
    return freeze, True


def _segment_for(*, segment_id: int, user) -> Segment:
    segment = Segment.objects.filter(pk=segment_id).first()
    if segment is None:
        raise NotFound()
    staff_store = _store_of(user)
    if user is not None and (
        not user.has_perm("campaigns.view_segment") or (staff_store is not None and segment.store_id != staff_store)
    ):
        raise SegmentNotAllowed()
    return segment


@transaction.atomic
def segment_coupon_issue(
    *, segment_id: int, template_id: int, key: str, user, now: datetime.datetime
) -> tuple[SegmentFreeze, int]:
    """Issue coupons of a template to the segment's members, frozen now: one bulk issue job of the coupons app.

    `key` names the request (a token of the console's form): the same key again starts nothing and returns the
    first job. Returns (freeze, job id). Raises NotFound, SegmentNotAllowed, IdempotencyKeyReused (the key was
    used with another template), and the bulk issue's errors.
    """
    from coupons.models import CouponIssueJob
    from coupons.services.bulk import coupon_issue_job_create

    if user is not None and not user.has_perm("coupons.add_couponissuejob"):
        raise SegmentNotAllowed()
    segment = _segment_for(segment_id=segment_id, user=user)
    freeze, created = segment_freeze(
        segment_id=segment.pk, key=f"coupon-issue:{segment.pk}:{key}", now=now, created_by=user
    )
    if not created:
        if freeze.result.get("template_id") != template_id:
            raise IdempotencyKeyReused.for_field("key")
        return freeze, freeze.result.get("coupon_issue_job")
    job = coupon_issue_job_create(
        template_id=template_id,
        audience=CouponIssueJob.Audience.MEMBER_LIST,
        member_ids=list(freeze_member_ids(freeze=freeze)),
        store_id=_store_of(user) or segment.store_id,
        created_by_id=getattr(user, "pk", None),
        now=now,
    )
    freeze.result = {"coupon_issue_job": job.pk, "template_id": template_id}
    freeze.save(update_fields=["result"])
    return freeze, job.pk


@transaction.atomic
def segment_points_grant(
    *, segment_id: int, points: int, reason: str, key: str, user, now: datetime.datetime
) -> tuple[SegmentFreeze, list[int]]:
    """Grant points to the segment's members, frozen now, through the points app's bulk grants.

    A grant job reads a list of member numbers of at most MAX_LIST_ROWS rows, so a bigger segment becomes
    several jobs (each member in exactly one). `key` names the request: the same key again grants nothing more
    and returns the first jobs. Returns (freeze, job ids). Raises NotFound, SegmentNotAllowed, IdempotencyKeyReused
    (the key was used with other points or another reason), and the grant's errors (GrantNotAllowed,
    ReasonRequired, InvalidInput).
    """
    from points.services.grants import MAX_LIST_ROWS, points_grant_job_create

    if user is not None and not user.has_perm("points.grant_points"):
        raise SegmentNotAllowed()
    segment = _segment_for(segment_id=segment_id, user=user)
    freeze, created = segment_freeze(
        segment_id=segment.pk, key=f"points-grant:{segment.pk}:{key}", now=now, created_by=user
    )
    if not created:
        if (freeze.result.get("points"), freeze.result.get("reason")) != (points, reason):
            raise IdempotencyKeyReused.for_field("key")
        return freeze, freeze.result.get("points_grant_jobs", [])
    numbers = list(
        Member.objects.filter(pk__in=SegmentMember.objects.filter(freeze=freeze).values("member_id"))
        .order_by("pk")
        .values_list("member_number", flat=True)
    )
    job_ids = [
        points_grant_job_create(
            created_by=user,
            points=points,
            reason=reason,
            member_list="\n".join(numbers[start : start + MAX_LIST_ROWS]),
            now=now,
        ).pk
        for start in range(0, len(numbers), MAX_LIST_ROWS)
    ]
    freeze.result = {"points_grant_jobs": job_ids, "points": points, "reason": reason}
    freeze.save(update_fields=["result"])
    return freeze, job_ids

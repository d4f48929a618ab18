"""Staff bulk grants: the same points, with a reason, to a CSV list of members or to a tier or a tag.

`points_grant_job_create` validates and records the job (permission `points.grant_points`, reason required)
and enqueues it after commit; staff limited to a store (User.scope_store_id) grant to their store's members
only. `points_grant_job_run` resolves the members (list rows set-based: one query for the phones and one for
the member numbers), then credits them chunk by chunk, one transaction per chunk, recording progress. Each
credit's key is `grant:<job>:<member>`, so running the job again, or a chunk twice, grants nobody twice.
"""

import re
from collections.abc import Mapping
from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop

from infra.csv_uploads.reading import csv_records
from infra.errors import InvalidInput, LoyaltyError, NotFound
from infra.translation import texts_kept
from members.errors import InvalidPhone, ReasonRequired
from members.formats import is_valid_member_number, normalize_phone
from members.models import Member, PointsEntry
from members.services.ledger import points_credit
from points.models import PointsGrantJob, PointsPolicy

GRANT_CHUNK_SIZE = 500
MAX_LIST_ROWS = 200_000
PHONE_LIKE = re.compile(r"\+?\d{6,15}")

# A list's row errors are kept in English, their msgid and parameters beside them, and translated where they are
# shown (PointsGrantJob.row_errors_shown): the job runs in no staff member's language.
TOO_MANY_ROWS = gettext_noop("The list has more than %(count)d rows.")
NOT_A_PHONE = gettext_noop("Neither a phone nor a member number.")
NO_MEMBER = gettext_noop("No member matches.")
NOT_YOUR_STORE = gettext_noop("This member does not belong to your store.")
NOT_ACTIVE = gettext_noop("This member is not active.")
SAME_MEMBER = gettext_noop("The same member as row %(row)d.")


class GrantNotAllowed(LoyaltyError):
    code = "permission_denied"
    message = _("You may not grant points in bulk.")
    status = 403


@transaction.atomic
def points_grant_job_create(
    *,
    created_by,
    points: int,
    reason: str,
    now: datetime,
    audience: str = PointsGrantJob.Audience.LIST,
    member_list: str = "",
    tier_id: int | None = None,
    tag_id: int | None = None,
) -> PointsGrantJob:
    """Record a bulk grant and run it on Celery after commit; a grant by staff limited to a store reaches only the
    members whose home store it is (list rows naming others are row errors).

    Raises GrantNotAllowed (no `points.grant_points` permission), ReasonRequired, InvalidInput.
    """
    if created_by is None or not created_by.has_perm("points.grant_points"):
        raise GrantNotAllowed()
    return points_grant_job_enqueue(
        created_by=created_by,
        points=points,
        reason=reason,
        now=now,
        audience=audience,
        member_list=member_list,
        tier_id=tier_id,
        tag_id=tag_id,
        store_id=created_by.scope_store_id,
    )


@transaction.atomic
def points_grant_job_enqueue(
    *,
    points: int,
    reason: str | Mapping[str, str],
    now: datetime,
    created_by=None,
    audience: str = PointsGrantJob.Audience.LIST,
    member_list: str = "",
    tier_id: int | None = None,
    tag_id: int | None = None,
    store_id: int | None = None,
) -> PointsGrantJob:
    """Record a bulk grant and run it after commit, without a staff permission check: for scheduled jobs
    (created_by None) and for `points_grant_job_create`, which checks the permission first. `reason` is the text
    staff typed, or a system grant's in every language ({language: text}), which every member's entry keeps.

    Raises ReasonRequired, InvalidInput.
    """
    reason, reason_texts = texts_kept(reason or "", max_length=PointsGrantJob._meta.get_field("reason").max_length)
    if not reason.strip():
        raise ReasonRequired.for_field(
            "reason", _("This field is required."), message=_("Give the reason for the grant.")
        )
    job = PointsGrantJob(
        audience=audience,
        member_list=member_list if audience == PointsGrantJob.Audience.LIST else "",
        tier_id=tier_id if audience == PointsGrantJob.Audience.TIER else None,
        tag_id=tag_id if audience == PointsGrantJob.Audience.TAG else None,
        store_id=store_id,
        points=points,
        reason=reason.strip(),
        reason_texts=reason_texts,
        created_by=created_by,
        created_at=now,
    )
    try:
        job.full_clean()
    except ValidationError as error:
        raise InvalidInput.for_validation_error(error) from None
    if audience == PointsGrantJob.Audience.LIST:
        grant_list_check(job.member_list)
    job.save()
    from points.tasks import grant_points_job

    transaction.on_commit(lambda: grant_points_job.delay(job_id=job.pk))
    return job


def grant_list_check(text: str) -> None:
    """Refuse a list that names nobody (a header row alone) or has more rows than a grant takes: InvalidInput."""
    rows = _list_rows(text)
    if not rows:
        raise InvalidInput.for_field("member_list", _("Give at least one phone or member number."))
    if len(rows) > MAX_LIST_ROWS:
        raise InvalidInput.for_field(
            "member_list", _("The list has more than %(count)d rows.") % {"count": MAX_LIST_ROWS}
        )


def _list_rows(text: str) -> list[tuple[int, str]]:
    """Return (row number, first cell) of each non-empty row; a header row naming the column is skipped."""
    rows = []
    for number, row in enumerate(csv_records(text.lstrip("\ufeff")), start=1):
        value = (row[0] if row else "").strip()
        if not value or (number == 1 and not any(char.isdigit() for char in value)):
            continue
        rows.append((number, value))
    return rows


def _row_error(row: int, value: str, msgid: str, params: dict | None = None) -> dict:
    """A row error: `error` the English text; with parameters, also its `msgid` and `params` to translate it."""
    if not params:
        return {"row": row, "value": value, "error": msgid}
    return {"row": row, "value": value, "error": msgid % params, "msgid": msgid, "params": params}


def grant_members_resolve(*, job: PointsGrantJob) -> tuple[list[int], list[dict]]:
    """Return the ids of the members a job grants to (ascending) and the list's row errors by row number."""
    eligible = Member.objects.filter(status=Member.Status.ACTIVE)
    if job.store_id is not None:
        eligible = eligible.filter(home_store_id=job.store_id)
    if job.audience == PointsGrantJob.Audience.TIER:
        return list(eligible.filter(tier_id=job.tier_id).order_by("pk").values_list("pk", flat=True)), []
    if job.audience == PointsGrantJob.Audience.TAG:
        return list(eligible.filter(tags=job.tag_id).order_by("pk").values_list("pk", flat=True)), []
    errors, wanted = [], []  # wanted: (row, value, ("phone" | "member_number", normalized))
    rows = _list_rows(job.member_list)
    if len(rows) > MAX_LIST_ROWS:
        return [], [_row_error(0, "", TOO_MANY_ROWS, {"count": MAX_LIST_ROWS})]
    for row, value in rows:
        if is_valid_member_number(value):
            wanted.append((row, value, ("member_number", value)))
            continue
        try:
            wanted.append((row, value, ("phone", normalize_phone(value))))
        except InvalidPhone:
            digits = re.sub(r"[\s-]", "", value)
            if PHONE_LIKE.fullmatch(digits):  # stored as written by an import (a number phonenumbers rejects)
                wanted.append((row, value, ("phone", digits)))
            else:
                errors.append(_row_error(row, value, NOT_A_PHONE))
    by_phone = {
        phone: (pk, status, home_store_id)
        for pk, phone, status, home_store_id in Member.objects.filter(
            phone__in=[key for _row, _value, (kind, key) in wanted if kind == "phone"]
        ).values_list("pk", "phone", "status", "home_store_id")
    }
    by_number = {
        number: (pk, status, home_store_id)
        for pk, number, status, home_store_id in Member.objects.filter(
            member_number__in=[key for _row, _value, (kind, key) in wanted if kind == "member_number"]
        ).values_list("pk", "member_number", "status", "home_store_id")
    }
    seen, member_ids = {}, []
    for row, value, (kind, key) in wanted:
        found = (by_phone if kind == "phone" else by_number).get(key)
        if found is None:
            errors.append(_row_error(row, value, NO_MEMBER))
        elif job.store_id is not None and found[2] != job.store_id:
            errors.append(_row_error(row, value, NOT_YOUR_STORE))
        elif found[1] != Member.Status.ACTIVE:
            errors.append(_row_error(row, value, NOT_ACTIVE))
        elif found[0] in seen:
            errors.append(_row_error(row, value, SAME_MEMBER, {"row": seen[found[0]]}))
        else:
            seen[found[0]] = row
            member_ids.append(found[0])
    return sorted(member_ids), sorted(errors, key=lambda error: error["row"])


def points_grant_job_run(*, job_id: int, now: datetime, chunk_size: int = GRANT_CHUNK_SIZE) -> PointsGrantJob:
    """Grant a job's points to its members, a chunk per transaction; safe to run again. Raises NotFound."""
    job = PointsGrantJob.objects.filter(pk=job_id).first()
    if job is None:
        raise NotFound()
    member_ids, errors = grant_members_resolve(job=job)
    PointsGrantJob.objects.filter(pk=job.pk).update(
        status=PointsGrantJob.Status.RUNNING,
        started_at=job.started_at or now,
        members_total=len(member_ids),
        members_done=0,
        row_errors=errors,
    )
    try:
        _grant_chunks(job=job, member_ids=member_ids, now=now, chunk_size=chunk_size)
    except Exception:
        PointsGrantJob.objects.filter(pk=job.pk).update(status=PointsGrantJob.Status.FAILED)
        raise
    granted = sum(
        PointsEntry.objects.filter(idempotency_key__in=[f"grant:{job.pk}:{member_id}" for member_id in chunk]).count()
        for chunk in (member_ids[start : start + chunk_size] for start in range(0, len(member_ids), chunk_size))
    )  # by exact keys (the unique index), never a prefix scan of the whole ledger
    PointsGrantJob.objects.filter(pk=job.pk).update(
        status=PointsGrantJob.Status.DONE,
        members_granted=granted,
        finished_at=timezone.now(),  # the clock: `now` is when the job started
    )
    job.refresh_from_db()
    return job


def _grant_chunks(*, job, member_ids, now, chunk_size):
    expires_at = PointsPolicy.load().expires_at_for(earned_at=now)
    for start in range(0, len(member_ids), chunk_size):
        chunk = member_ids[start : start + chunk_size]
        with transaction.atomic():
            for member_id in chunk:
                points_credit(
                    member_id=member_id,
                    points=job.points,
                    kind=PointsEntry.Kind.ADDITION,
                    idempotency_key=f"grant:{job.pk}:{member_id}",
                    now=now,
                    expires_at=expires_at,
                    source="grant",
                    reason=job.reason_texts or job.reason,
                    breakdown={"grant_job": job.pk},
                    created_by=job.created_by,
                )
            PointsGrantJob.objects.filter(pk=job.pk).update(members_done=F("members_done") + len(chunk))

"""Bulk issue jobs: coupons of one template to a tier, a tag or an uploaded list of members, in chunks.

A chunk is one transaction, set-based:
1. lock the template row (the order claims use too: template before coupon rows, so they never deadlock);
2. read, in one query, what the chunk's members already hold of the template (their last sequence number and
   whether this job's issue key is among them);
3. keep the members under the per-member limit, and of those the part that fits in the quota;
4. insert their coupons under the issue keys `job:<job>:member:<member>`. On PostgreSQL the chunk is first
   COPied into the table under a savepoint, all or nothing (normally every row lands: the members were read
   under the template lock and codes seldom collide); when a unique constraint refuses any row, the savepoint
   is rolled back and the chunk takes the general path: INSERT ... ON CONFLICT DO NOTHING
   (`bulk_create(ignore_conflicts=True)` elsewhere), then count the rows this transaction really inserted:
   a row is ours when it carries our key and the code we generated for it. Only the rows that did not land
   (a code collision, a number taken meanwhile) are retried, with fresh codes; a key already there means
   the member has theirs;
5. add exactly that count to `issued_count` (a conditional UPDATE, the quota's backstop) and to the job.
Running a job twice, even at the same time, gives every member at most one coupon of it.
"""

import bisect
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.db.models.functions import Coalesce, Greatest
from django.utils import timezone, translation
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from coupons import sql
from coupons.codes import BASE, generate_codes
from coupons.errors import TemplateInactive
from coupons.models import Coupon, CouponIssueChunk, CouponIssueJob, CouponTemplate, PartnerCode
from coupons.services import CODE_ATTEMPTS, _template_get, coupon_validity
from infra.bulk_sql import set_based
from infra.csv_uploads.decoding import AUTO, decode
from infra.csv_uploads.reading import csv_records
from infra.db_session import chunk_transaction
from infra.errors import InvalidInput, NotFound
from infra.fanout import fan_out
from members.errors import InvalidPhone
from members.formats import is_valid_member_number, normalize_phone
from members.models import Member, Tag, Tier

LIST_LOOKUP_CHUNK = 5000
LIST_HEADER_WORDS = {"phone", "member", "member_number", "member number", "number", "mobile"}
INACTIVE_MEMBER_STATUSES = (Member.Status.FROZEN, Member.Status.CLOSED)
EMPTY_LIST_MESSAGE = _("The list holds no phone or member number (a header row alone, or empty rows).")


def chunk_size_default() -> int:
    return settings.COUPON_ISSUE_CHUNK_SIZE


# -- the audience ----------------------------------------------------------------------------------------------
def member_list_resolve(*, data: bytes, encoding: str = AUTO, store_id: int | None = None) -> tuple[list[int], list]:
    """Read an uploaded list (a phone or member number per line) into member ids; report bad rows by number.

    Returns (sorted member ids, errors as {"row", "value", "message"} in row order). A first row holding a
    column name (phone, member_number, ...) is skipped. Raises ImportFileRefused when the file is unreadable.
    """
    text, _used = decode(data, encoding)
    entries: list[tuple[int, str, str, str]] = []  # (row, value as written, "number" or "phone", normalized)
    errors: list[dict] = []
    for row, cells in enumerate(csv_records(text), start=1):
        value = (cells[0] if cells else "").strip()
        if not value:
            continue
        if row == 1 and value.lower() in LIST_HEADER_WORDS:
            continue
        compact = value.replace(" ", "").replace("-", "")
        if is_valid_member_number(compact):
            entries.append((row, value, "number", compact))
            continue
        try:
            entries.append((row, value, "phone", normalize_phone(value)))
        except InvalidPhone:
            errors.append(
                {
                    "row": row,
                    "column": "member",
                    "value": value,
                    "message": gettext("Not a phone number or a member number."),
                }
            )

    found: dict[tuple[str, str], tuple[int, str, int | None]] = {}
    for start in range(0, len(entries), LIST_LOOKUP_CHUNK):
        chunk = entries[start : start + LIST_LOOKUP_CHUNK]
        numbers = [key for _row, _value, kind, key in chunk if kind == "number"]
        phones = [key for _row, _value, kind, key in chunk if kind == "phone"]
        members = Member.objects.filter(Q(member_number__in=numbers) | Q(phone__in=phones)).values_list(
            "pk", "member_number", "phone", "status", "home_store_id"
        )
        for pk, number, phone, status, home_store_id in members:
            found[("number", number)] = (pk, status, home_store_id)
            if phone:
                found[("phone", phone)] = (pk, status, home_store_id)

    first_row: dict[int, int] = {}
    for row, value, kind, key in entries:
        member = found.get((kind, key))
        if member is None:
            message = (
                gettext("No member has this member number.")
                if kind == "number"
                else gettext("No member has this phone number.")
            )
        elif member[1] in INACTIVE_MEMBER_STATUSES:
            message = gettext("This member's account is frozen or closed.")
        elif store_id is not None and member[2] != store_id:
            message = gettext("This member does not belong to your store.")
        elif member[0] in first_row:
            message = gettext("This member is already on row %(row)d.") % {"row": first_row[member[0]]}
        else:
            first_row[member[0]] = row
            continue
        errors.append({"row": row, "column": "member", "value": value, "message": message})
    errors.sort(key=lambda error: error["row"])
    return sorted(first_row), errors


def member_ids_keep(*, member_ids, store_id: int | None = None) -> list[int]:
    """Keep, of members chosen by the caller (a frozen segment), those who may receive coupons, ascending.

    Frozen and closed members are left out, as are members of another store when `store_id` is given.
    """
    wanted = sorted(set(member_ids))
    kept: list[int] = []
    for start in range(0, len(wanted), LIST_LOOKUP_CHUNK):
        members = Member.objects.filter(pk__in=wanted[start : start + LIST_LOOKUP_CHUNK]).exclude(
            status__in=INACTIVE_MEMBER_STATUSES
        )
        if store_id is not None:
            members = members.filter(home_store_id=store_id)
        kept.extend(members.order_by("pk").values_list("pk", flat=True))
    return kept


def _audience_queryset(job: CouponIssueJob):
    members = Member.objects.filter(status=Member.Status.ACTIVE)
    if job.audience == CouponIssueJob.Audience.TIER:
        members = members.filter(tier_id=job.tier_id)
    else:
        members = members.filter(tags=job.tag_id)
    if job.store_id is not None:
        members = members.filter(home_store_id=job.store_id)
    return members


def _audience_boundary(job: CouponIssueJob, *, after_id: int, size: int) -> int | None:
    """Return the id of the `size`-th member of the job's audience after `after_id` in id order, or the audience's
    last id when fewer follow, or None when none does: only that one id is read, never the chunk's ids."""
    if job.audience == CouponIssueJob.Audience.MEMBER_LIST:
        start = bisect.bisect_right(job.member_ids, after_id)
        following = job.member_ids[start : start + size]
        return following[-1] if following else None
    following = _audience_queryset(job).filter(pk__gt=after_id).order_by("pk").values_list("pk", flat=True)
    return next(iter(following[size - 1 : size]), None) or following.last()


# -- creating a job --------------------------------------------------------------------------------------------
@transaction.atomic
def coupon_issue_job_create(
    *,
    template_id: int,
    audience: str,
    now: datetime,
    tier_id: int | None = None,
    tag_id: int | None = None,
    member_list: bytes | None = None,
    encoding: str = AUTO,
    store_id: int | None = None,
    created_by_id: int | None = None,
    member_ids: list[int] | None = None,
) -> CouponIssueJob:
    """Create a bulk issue job and start it on Celery once this transaction commits.

    `store_id` limits the audience to the members of one home store (a store manager's job). Rows of an
    uploaded list that name no member are recorded on the job by row number and skipped. A list audience is
    either an uploaded file or `member_ids`, members the caller already chose (a frozen segment of campaigns).
    Raises NotFound (template, tier or tag), TemplateInactive, InvalidInput (no audience given),
    ImportFileRefused (an unreadable list).
    """
    template = _template_get(template_id)
    if not template.is_active:
        raise TemplateInactive()
    job = CouponIssueJob(
        template=template,
        audience=audience,
        store_id=store_id,
        created_by_id=created_by_id,
        created_at=now,
        language=translation.get_language() or "",
    )
    if audience == CouponIssueJob.Audience.TIER:
        if tier_id is None:
            raise InvalidInput.for_field("tier", _("Choose a tier."))
        if not Tier.objects.filter(pk=tier_id).exists():
            raise NotFound(_("No such tier."))
        job.tier_id = tier_id
        job.total = _audience_queryset(job).count()
    elif audience == CouponIssueJob.Audience.TAG:
        if tag_id is None:
            raise InvalidInput.for_field("tag", _("Choose a tag."))
        if not Tag.objects.filter(pk=tag_id).exists():
            raise NotFound(_("No such tag."))
        job.tag_id = tag_id
        job.total = _audience_queryset(job).count()
    elif audience == CouponIssueJob.Audience.MEMBER_LIST and member_ids is not None:
        job.member_ids = member_ids_keep(member_ids=member_ids, store_id=store_id)
        job.total = len(job.member_ids)
    elif audience == CouponIssueJob.Audience.MEMBER_LIST:
        if not member_list:
            raise InvalidInput.for_field("member_list", _("Upload a list of members."))
        job.member_ids, job.errors = member_list_resolve(data=member_list, encoding=encoding, store_id=store_id)
        if not job.member_ids and not job.errors:
            raise InvalidInput.for_field("member_list", EMPTY_LIST_MESSAGE)
        job.total = len(job.member_ids)
        job.error_count = len(job.errors)
    else:
        raise InvalidInput.for_field("audience", _("Choose a tier, a tag or a list of members."))
    job.save()

    from coupons.tasks import coupon_issue_job_task

    transaction.on_commit(lambda: coupon_issue_job_task.delay(job_id=job.pk))
    return job


@transaction.atomic
def coupon_issue_jobs_resume(*, job_ids: list[int]) -> int:
    """Start again, on Celery once this transaction commits, those of the jobs `job_ids` that stopped or failed;
    return how many. Each goes on from the chunks it has not done (coupon_issue_job_run); others are left alone."""
    from coupons.tasks import coupon_issue_job_task

    resumed = list(
        CouponIssueJob.objects.filter(
            pk__in=job_ids, status__in=(CouponIssueJob.Status.STOPPED, CouponIssueJob.Status.FAILED)
        ).values_list("pk", flat=True)
    )
    for job_id in resumed:
        transaction.on_commit(lambda job_id=job_id: coupon_issue_job_task.delay(job_id=job_id))
    return len(resumed)


# -- running it ------------------------------------------------------------------------------------------------
# A job fans out (infra.fanout): the coordinator splits the audience into chunks of member ids and sends one chunk
# task per chunk not done yet; each chunk task issues its chunk in one transaction (`_issue_chunk`) under its
# CouponIssueChunk claim. With a broker the chunks run side by side on every worker; on the eager default one
# after another. Once the last chunk is sent the coordinator records how many there are; whichever of it and the
# chunks comes last finds every chunk done and marks the job done (`_finish_if_complete`).
#
# A template with no quota whose codes are generated lets chunks run side by side: such a chunk takes the template
# row only at its end, FOR NO KEY UPDATE (the other chunks' foreign-key checks, FOR KEY SHARE, pass), to re-check
# the template and add its count; what the lock no longer covers the unique constraints do (see `_insert`). If the
# template changed meanwhile (ended, got a quota or a partner pool), the chunk is undone and redone holding the
# template from its start, as every chunk of a template with a quota or a partner pool does: those chunks take
# turns, and the first that meets the quota's or the pool's end stops the job with its message.
DEADLOCK_RETRIES = 3
TAIL_PARTS = 4  # the last two chunks' worth of members go out in chunks of a quarter (_audience_ranges)
TAIL_MIN_CHUNK = 1_000  # but not below this: a chunk task costs some 10 ms whatever its size


@dataclass(frozen=True)
class ChunkResult:
    issued: int
    processed: int  # members of the chunk handled (given a coupon, holding it already, or at the limit)
    skipped: int  # of those, members at the per-member limit
    last_member_id: int
    stop_message: str = ""


class _Redo(Exception):
    """The template changed under a chunk that did not hold it: undo the chunk and redo it holding the template."""


def _audience_ranges(job: CouponIssueJob, *, size: int) -> Iterator[tuple[int, int]]:
    """Split the job's audience into chunks: yield (first id, last id) of each, in id order.

    Chunks of `size` members, except the last two chunks' worth (by the audience counted when the job was made),
    which go out in quarters (of TAIL_MIN_CHUNK members at least): the workers take chunks as they free up, so the
    job ends when the last one does, and a worker that took a full chunk last would leave the others idle for up
    to a chunk's time (2 workers and 10 chunks of 20,000: the first done 0.28 s before the second, 8% of
    the job). The ranges follow one another (a member who joins the audience meanwhile falls into one of them, or
    after the last); each is found by reading its last id only.
    """
    after_id = given = 0
    while True:
        tail = job.total - given <= 2 * size and size // TAIL_PARTS >= TAIL_MIN_CHUNK
        step = size // TAIL_PARTS if tail else size
        last_id = _audience_boundary(job, after_id=after_id, size=step)
        if last_id is None:
            return
        yield after_id + 1, last_id
        after_id, given = last_id, given + step


def _audience_between(job: CouponIssueJob, *, first_id: int, last_id: int) -> list[int]:
    if job.audience == CouponIssueJob.Audience.MEMBER_LIST:
        start = bisect.bisect_left(job.member_ids, first_id)
        return job.member_ids[start : bisect.bisect_right(job.member_ids, last_id)]
    members = _audience_queryset(job).filter(pk__gte=first_id, pk__lte=last_id)
    return list(members.order_by("pk").values_list("pk", flat=True))


def coupon_issue_job_run(
    *, job_id: int, now: datetime, restart: bool = False, chunk_size: int | None = None
) -> CouponIssueJob:
    """Run a job, or resume it, by fanning its chunks not done yet out as chunk tasks; return the job as it is then.

    A finished job is left alone unless `restart`, which walks the audience again: members who already have
    the job's coupon get nothing more. The job stops, with its count, when the quota or the partner codes run
    out or the template ends. Safe to run twice, even at the same time. Raises NotFound.
    """
    job = CouponIssueJob.objects.filter(pk=job_id).first()
    if job is None:
        raise NotFound(_("No such issue job."))
    if job.status == CouponIssueJob.Status.DONE and not restart:
        return job
    fields = {
        "status": CouponIssueJob.Status.RUNNING, "started_at": Coalesce(F("started_at"), now), "message": "",
        "chunk_count": None,
    }  # fmt: skip
    if restart:
        CouponIssueChunk.objects.filter(job_id=job.pk).delete()
        fields.update(processed=0, skipped=0, last_member_id=0, finished_at=None)
    CouponIssueJob.objects.filter(pk=job.pk).update(**fields)
    job.refresh_from_db()
    done = set(CouponIssueChunk.objects.filter(job_id=job.pk, is_done=True).values_list("number", flat=True))
    size, stamp = chunk_size or chunk_size_default(), now.isoformat()
    count = 0

    def chunks():
        # Each chunk goes to the workers as soon as its range is found (infra.fanout); the count includes the
        # chunks done before (a resumed job).
        nonlocal count
        for number, (first_id, last_id) in enumerate(_audience_ranges(job, size=size)):
            count = number + 1
            if number not in done:
                yield {"job_id": job.pk, "number": number, "first_id": first_id, "last_id": last_id, "now": stamp}

    from coupons.tasks import coupon_issue_chunk_task

    fan_out(coupon_issue_chunk_task, chunks())
    CouponIssueJob.objects.filter(pk=job.pk).update(chunk_count=count)
    _finish_if_complete(job.pk)
    job.refresh_from_db()
    return job


def coupon_issue_chunk_run(
    *, job_id: int, number: int, first_id: int, last_id: int, now: datetime, chunks: int | None = None
):
    """Issue one chunk of a job (its chunk task); the chunk that completes the job marks it done.

    Skipped when the chunk is done already or the job is no longer running (stopped, failed, or done). A chunk
    that fails writes nothing, marks the job failed and raises. `chunks` comes only with the chunk tasks of a
    coordinator of the release before, which counted the chunks before sending them.
    """
    if chunks is not None:
        CouponIssueJob.objects.filter(pk=job_id, chunk_count__isnull=True).update(chunk_count=chunks)
    job = CouponIssueJob.objects.filter(pk=job_id).first()
    if job is None or job.status != CouponIssueJob.Status.RUNNING:
        return None
    member_ids = _audience_between(job, first_id=first_id, last_id=last_id)
    try:
        with translation.override(job.language or None):
            result = _issue_chunk_retrying(job=job, number=number, member_ids=member_ids, now=now)
    except Exception as exc:
        _finish(job, status=CouponIssueJob.Status.FAILED, message=f"{type(exc).__name__}: {exc}"[:2000])
        raise
    if result is None:
        return None
    if result.stop_message:
        _finish(job, status=CouponIssueJob.Status.STOPPED, message=result.stop_message)
    else:
        _finish_if_complete(job_id)
    return result


def _finish_if_complete(job_id: int) -> None:
    """Mark the running job done once its coordinator has counted its chunks and every one of them is done.

    Both the coordinator (after recording the count) and each chunk (after its commit) ask, so whichever comes
    last finds the job complete. Outside the chunks' transactions, so committed with the server's durable setting
    (infra.db_session).
    """
    chunk_count = CouponIssueJob.objects.filter(pk=job_id).values_list("chunk_count", flat=True).first()
    if chunk_count is None or CouponIssueChunk.objects.filter(job_id=job_id, is_done=True).count() != chunk_count:
        return
    CouponIssueJob.objects.filter(pk=job_id, status=CouponIssueJob.Status.RUNNING).update(
        status=CouponIssueJob.Status.DONE, finished_at=timezone.now(), message=""
    )


def _issue_chunk_retrying(*, job, number, member_ids, now) -> ChunkResult | None:
    from django.db import OperationalError

    hold_template = not _suits_side_by_side(CouponTemplate.objects.get(pk=job.template_id))
    for attempt in range(DEADLOCK_RETRIES):
        try:
            return _issue_chunk(job=job, number=number, member_ids=member_ids, now=now, hold_template=hold_template)
        except _Redo:
            hold_template = True
        except OperationalError as exc:
            # Taking the template last, a chunk can meet a claim that holds it and waits on one of the chunk's
            # new rows; PostgreSQL breaks the cycle and the chunk, idempotent, is redone.
            from psycopg.errors import DeadlockDetected

            if not isinstance(exc.__cause__, DeadlockDetected) or attempt == DEADLOCK_RETRIES - 1:
                raise
    return _issue_chunk(job=job, number=number, member_ids=member_ids, now=now, hold_template=True)


def _suits_side_by_side(template: CouponTemplate) -> bool:
    return (
        template.is_active and template.quota is None and template.code_source != CouponTemplate.CodeSource.PARTNER_POOL
    )


def _finish(job: CouponIssueJob, *, status: str, message: str = "") -> None:
    # The clock's moment, not the job's `now`: that is when the job started, the moment its coupons carry.
    CouponIssueJob.objects.filter(pk=job.pk).update(status=status, finished_at=timezone.now(), message=message)


def _issue_chunk(*, job: CouponIssueJob, number: int, member_ids: list[int], now: datetime, hold_template: bool):
    """Issue the job's coupons to one chunk of members in one transaction (see the module docstring).

    Returns None when the chunk was done already (by another task).
    """
    # A chunk and its counts commit together and a re-run redoes whatever a crash lost: its commit need not
    # wait for the disk (infra.db_session).
    with chunk_transaction(durable=False):
        claim, _created = CouponIssueChunk.objects.select_for_update().get_or_create(job_id=job.pk, number=number)
        if claim.is_done:
            return None
        templates = CouponTemplate.objects.select_for_update() if hold_template else CouponTemplate.objects
        template = templates.get(pk=job.template_id)
        validity = coupon_validity(template=template, issued_at=now)
        if stop_message := _closed_message(template, validity, now=now):
            return _stopped(member_ids, stop_message)
        if not member_ids:
            return _record(job, claim, ChunkResult(issued=0, processed=0, skipped=0, last_member_id=0))

        done, last_sequence = _held(job=job, template=template, member_ids=member_ids)
        candidates, at_limit = _under_member_limit(template, member_ids, done=done, last_sequence=last_sequence)
        candidates, left_out, pool, stop_message = _within_supply(template, candidates)
        valid_from, valid_until = validity
        inserted, codes_used, not_issued = _insert(
            job=job,
            template=template,
            member_ids=candidates,
            last_sequence=last_sequence,
            pool=pool,
            now=now,
            valid_from=valid_from,
            valid_until=valid_until,
        )
        if not hold_template:
            _redo_if_changed(template, validity, now=now)
        _count_issued(template, inserted)
        if pool is not None and codes_used:
            PartnerCode.objects.filter(code__in=codes_used).update(used_at=now)
        result = _chunk_result(
            member_ids,
            done=done,
            left_out=left_out,
            issued=inserted,
            skipped=at_limit + not_issued,
            stop_message=stop_message,
        )
        return _record(job, claim, result)


def _closed_message(template: CouponTemplate, validity: tuple, *, now: datetime) -> str:
    """Return why the template issues nothing now (inactive, or its coupons would already have ended), or ""."""
    if not template.is_active:
        return str(TemplateInactive.message)
    valid_until = validity[1]
    if valid_until is not None and valid_until <= now:
        return gettext("This offer has ended.")
    return ""


def _under_member_limit(template, member_ids, *, done, last_sequence) -> tuple[list[int], int]:
    """Return (the members not holding this job's coupon yet and under the per-member limit, how many are at it)."""
    limit = template.per_member_limit
    pending = [member_id for member_id in member_ids if member_id not in done]
    candidates = [member_id for member_id in pending if limit is None or last_sequence.get(member_id, 0) < limit]
    return candidates, len(pending) - len(candidates)


def _within_supply(template: CouponTemplate, candidates: list[int]):
    """Cut the candidates to what the quota and, for a partner pool, the free partner codes leave room for.

    Return (the candidates kept, those left out, the partner codes locked for them or None, the stop message or "").
    """
    stop_message = ""
    left_out: list[int] = []
    room = None if template.quota is None else max(template.quota - template.issued_count, 0)
    if room is not None and room < len(candidates):
        candidates, left_out = candidates[:room], candidates[room:]
        stop_message = gettext(
            "The quota of %(quota)d coupons is used up; %(left)d members of this batch got none."
        ) % {"quota": template.quota, "left": len(left_out)}
    if template.code_source != CouponTemplate.CodeSource.PARTNER_POOL:
        return candidates, left_out, None, stop_message
    pool = list(
        PartnerCode.objects.select_for_update(skip_locked=True)
        .filter(template_id=template.pk, used_at__isnull=True)
        .order_by("pk")
        .values_list("code", flat=True)[: len(candidates)]
    )
    if len(pool) < len(candidates):
        candidates, left_out = candidates[: len(pool)], candidates[len(pool) :] + left_out
        stop_message = gettext(
            "The partner codes of this offer are used up; %(left)d members of this batch got none."
        ) % {"left": len(left_out)}
    return candidates, left_out, pool, stop_message


def _redo_if_changed(template: CouponTemplate, validity: tuple, *, now: datetime) -> None:
    """Take the template (not held so far) and raise _Redo when it no longer suits issuing side by side or its
    coupons' validity moved."""
    locked = CouponTemplate.objects.select_for_update(no_key=True).get(pk=template.pk)
    if not _suits_side_by_side(locked) or coupon_validity(template=locked, issued_at=now) != validity:
        raise _Redo()


def _count_issued(template: CouponTemplate, inserted: int) -> None:
    """Add the coupons inserted to the template's issued count, within its quota."""
    if not inserted:
        return
    taken = (
        CouponTemplate.objects.filter(pk=template.pk)
        .filter(Q(quota__isnull=True) | Q(issued_count__lte=F("quota") - inserted))
        .update(issued_count=F("issued_count") + inserted)
    )
    if not taken:  # impossible while we hold the row; refuse rather than oversell
        raise AssertionError("the quota moved under the template lock")


def _chunk_result(member_ids, *, done, left_out, issued, skipped, stop_message) -> ChunkResult:
    """Return the chunk's counts (members at the limit, or whose row could not land, are `skipped`)."""
    if not left_out:
        handled, last_member_id = len(member_ids), member_ids[-1]
    else:
        # The members from the first one left out on are not done: a resumed run does the chunk again.
        handled, last_member_id = bisect.bisect_left(member_ids, left_out[0]), left_out[0] - 1
        not_done = set(left_out) | done
        skipped -= sum(1 for member_id in member_ids[handled:] if member_id not in not_done)
    return ChunkResult(
        issued=issued, processed=handled, skipped=skipped, last_member_id=last_member_id, stop_message=stop_message
    )


def _stopped(member_ids, message) -> ChunkResult:
    # Nothing written: the claim's insert is rolled back with the chunk, so a resumed job does the chunk again.
    transaction.set_rollback(True)
    first = member_ids[0] if member_ids else 1
    return ChunkResult(issued=0, processed=0, skipped=0, last_member_id=first - 1, stop_message=message)


def _record(job: CouponIssueJob, claim: CouponIssueChunk, result: ChunkResult) -> ChunkResult:
    """Record the chunk's counts on its claim, and move the job's counters by what changed since a previous try."""
    CouponIssueChunk.objects.filter(pk=claim.pk).update(
        processed=result.processed, skipped=result.skipped, is_done=not result.stop_message
    )
    CouponIssueJob.objects.filter(pk=job.pk).update(
        issued=F("issued") + result.issued,
        processed=F("processed") + result.processed - claim.processed,
        skipped=F("skipped") + result.skipped - claim.skipped,
        last_member_id=Greatest(F("last_member_id"), result.last_member_id),
    )
    return result


def _held(*, job: CouponIssueJob, template: CouponTemplate, member_ids: list[int]) -> tuple[set[int], dict]:
    """Return (members who have this job's coupon, each member's last sequence number of the template)."""
    key_prefix = f"job:{job.pk}:member:"
    done: set[int] = set()
    last_sequence: dict[int, int] = {}
    # A range on the (template, member, sequence) index reads faster than a list of thousands of ids.
    wanted = set(member_ids)
    rows = Coupon.objects.filter(
        template_id=template.pk, member_id__gte=min(member_ids), member_id__lte=max(member_ids)
    ).values_list("member_id", "member_sequence", "issue_key")
    for member_id, sequence, issue_key in rows:
        if member_id not in wanted:
            continue
        if sequence > last_sequence.get(member_id, 0):
            last_sequence[member_id] = sequence
        if issue_key == f"{key_prefix}{member_id}":
            done.add(member_id)
    return done, last_sequence


def _insert(*, job, template, member_ids, last_sequence, pool, now, valid_from, valid_until) -> tuple[int, list, int]:
    """Insert one coupon per member with ON CONFLICT DO NOTHING; return (rows inserted, codes used, not issued).

    "Not issued" counts members whose row could not land because they reached the limit meanwhile.
    """
    inserted = not_issued = 0
    codes_used: list[str] = []
    pending = list(member_ids)
    pool_left = list(pool) if pool is not None else None
    key_prefix = job.issue_key("")
    for _attempt in range(CODE_ATTEMPTS):
        if not pending:
            break
        if pool_left is None:
            codes = generate_codes(len(pending), prefix=template.code_prefix, body_length=template.code_length)
        else:
            codes, pool_left = pool_left[: len(pending)], pool_left[len(pending) :]
            pending = pending[: len(codes)]
        sequences = [last_sequence.get(member_id, 0) + 1 for member_id in pending]
        ours = _insert_rows(
            common={
                "template_id": template.pk,
                "status": Coupon.Status.AVAILABLE,
                "source": Coupon.Source.BULK,
                "issued_by_id": job.created_by_id,
                "issued_at": now,
                "valid_from": valid_from,
                "valid_until": valid_until,
            },
            member_ids=pending,
            sequences=sequences,
            codes=codes,
            keys=[f"{key_prefix}{member_id}" for member_id in pending],
            may_copy=pool_left is None and BASE**template.code_length >= COPY_MIN_CODE_SPACE,
        )
        if len(ours) == len(pending):
            codes_used.extend(codes)
            return inserted + len(ours), codes_used, not_issued
        missing = []
        for member_id, code in zip(pending, codes, strict=True):
            if code in ours:
                codes_used.append(code)
            else:
                missing.append(member_id)
        inserted += len(ours)
        if not missing:
            return inserted, codes_used, not_issued
        # A row did not land: another run of this job gave it (its key is there), a claim took the member's
        # next number, or the code collided. Re-read those members and retry the rest with new codes.
        done, last_sequence = _held(job=job, template=template, member_ids=missing)
        limit = template.per_member_limit
        pending = [
            member_id
            for member_id in missing
            if member_id not in done and (limit is None or last_sequence.get(member_id, 0) < limit)
        ]
        not_issued += len(missing) - len(pending) - len(done)
    if pending:
        raise RuntimeError(f"no free codes for {len(pending)} members after {CODE_ATTEMPTS} attempts")
    return inserted, codes_used, not_issued


# The all-or-nothing COPY is tried only where a chunk's codes are very unlikely to meet a stored one: with
# 31**9 (2.6 * 10**13) codes and more, even 10**7 coupons in the table make a collision in a chunk of 20,000
# a one-in-a-hundred event. Shorter codes go straight to the INSERT that skips conflicting rows.
COPY_MIN_CODE_SPACE = BASE**9


def _insert_rows(*, common: dict, member_ids, sequences, codes, keys, may_copy: bool) -> set[str]:
    """Insert the rows, skipping those that conflict; return the codes of the rows this call inserted.

    On PostgreSQL with `may_copy`, first COPY the whole chunk straight into the table under a savepoint:
    the cheapest write PostgreSQL has (a batched heap insert, no per-row statement or conflict check). The
    caller has read the chunk's members under the template lock, so the rows normally all land; if any
    unique constraint refuses one (a code collision, a row some writer added without the template lock),
    the savepoint undoes the whole COPY and the chunk goes through the INSERT that skips conflicts, whose
    caller then retries only the rows that did not land.
    """
    if may_copy and set_based():
        from psycopg.errors import UniqueViolation

        try:
            with transaction.atomic():
                sql.coupon_rows_copy(common=common, member_ids=member_ids, sequences=sequences, codes=codes, keys=keys)
        except UniqueViolation:
            pass
        else:
            return set(codes)
    return _insert_ignoring_conflicts(common=common, member_ids=member_ids, sequences=sequences, codes=codes, keys=keys)


def _insert_ignoring_conflicts(*, common: dict, member_ids, sequences, codes, keys) -> set[str]:
    """INSERT the rows with ON CONFLICT DO NOTHING; return the codes of the rows this statement inserted.

    On PostgreSQL: one INSERT ... SELECT FROM unnest(arrays) ... RETURNING code (coupons/sql.py). Elsewhere (the
    reference): bulk_create(ignore_conflicts=True), then the rows that carry both our key and our code are ours.
    """
    if not set_based():
        Coupon.objects.bulk_create(
            [
                Coupon(member_id=member_id, member_sequence=sequence, code=code, issue_key=key, **common)
                for member_id, sequence, code, key in zip(member_ids, sequences, codes, keys, strict=True)
            ],
            ignore_conflicts=True,
        )
        return set(Coupon.objects.filter(code__in=codes, issue_key__in=keys).values_list("code", flat=True))
    return sql.coupon_rows_insert(common=common, member_ids=member_ids, sequences=sequences, codes=codes, keys=keys)


def _last_sequences(*, template_id: int, member_ids: list[int]) -> dict[int, int]:
    """Each member's last sequence number of the template (how many of its coupons they were ever given)."""
    wanted, last = set(member_ids), {}
    rows = Coupon.objects.filter(
        template_id=template_id, member_id__gte=min(member_ids), member_id__lte=max(member_ids)
    ).values_list("member_id", "member_sequence")
    for member_id, sequence in rows:
        if member_id in wanted and sequence > last.get(member_id, 0):
            last[member_id] = sequence
    return last


def _given(keys: list[str]) -> dict[str, tuple[int, int]]:
    """Issue key -> (member id, coupon id) of the coupons already given under these keys."""
    return {
        key: (member_id, pk)
        for key, member_id, pk in Coupon.objects.filter(issue_key__in=keys).values_list("issue_key", "member_id", "pk")
    }


def coupons_issue_many(
    *, template_id: int, issue_keys: dict[int, str], source: str, now: datetime, issued_by_id: int | None = None
) -> dict[int, int]:
    """Issue one coupon of a template to each member of `issue_keys` (member id -> issue key), set-based, inside the
    caller's transaction; return member id -> coupon id for every member who has their coupon now.

    The many-members twin of `coupon_template_issue_to_member` for a campaign's chunk: a member already given a
    coupon under their key gets that one back; the per-member limit is not applied (the caller's occasion decides
    how often); the quota is taken for the whole batch by one conditional UPDATE, the members beyond it get none
    (they are left out of the answer). The rows go in through the bulk issue's inserts (COPY or INSERT ... FROM
    unnest on PostgreSQL), so a chunk of thousands costs a few statements, and `coupons_issued` is sent after
    commit for those this call wrote. A partner-code template issues one by one (its pool's codes are picked under
    the template lock). Raises NotFound, TemplateInactive, ClaimWindowClosed.
    """
    if not issue_keys:
        return {}
    from coupons.services import _issuable_validity, coupon_template_issue_to_member
    from members.signals import coupons_issued, send_after_commit

    given = _given(list(issue_keys.values()))
    issued = dict(given.values())
    pending = sorted(member_id for member_id, key in issue_keys.items() if key not in given)
    if not pending:
        return issued
    template = _template_get(template_id)
    if template.code_source == CouponTemplate.CodeSource.PARTNER_POOL:
        from coupons.errors import SoldOut

        for member_id in pending:
            try:
                coupon = coupon_template_issue_to_member(
                    template_id=template_id, member_id=member_id, source=source, now=now, issued_by_id=issued_by_id,
                    issue_key=issue_keys[member_id], enforce_member_limit=False,
                )  # fmt: skip
            except SoldOut:
                break
            issued[member_id] = coupon.pk
        return issued
    if template.quota is not None:  # the room left is read and taken under the template's row lock
        template = CouponTemplate.objects.select_for_update().get(pk=template.pk)
        pending = pending[: max(template.quota - template.issued_count, 0)]
    valid_from, valid_until = _issuable_validity(template=template, now=now)
    common = {
        "template_id": template.pk, "status": Coupon.Status.AVAILABLE, "source": source,
        "issued_by_id": issued_by_id, "issued_at": now, "valid_from": valid_from, "valid_until": valid_until,
    }  # fmt: skip
    written: set[str] = set()
    for _attempt in range(CODE_ATTEMPTS):
        if not pending:
            break
        last_sequence = _last_sequences(template_id=template.pk, member_ids=pending)
        codes = generate_codes(len(pending), prefix=template.code_prefix, body_length=template.code_length)
        keys = [issue_keys[member_id] for member_id in pending]
        ours = _insert_rows(
            common=common,
            member_ids=pending,
            sequences=[last_sequence.get(member_id, 0) + 1 for member_id in pending],
            codes=codes,
            keys=keys,
            may_copy=BASE**template.code_length >= COPY_MIN_CODE_SPACE,
        )
        written |= {key for key, code in zip(keys, codes, strict=True) if code in ours}
        # A row that did not land met a code or a sequence number taken meanwhile, or its key given by another
        # call: the given ones are done, the others go again with new codes and numbers.
        taken = _given([key for key in keys if key not in written])
        issued |= dict(taken.values())
        pending = [member_id for member_id, key in zip(pending, keys, strict=True) if key not in written | set(taken)]
    if pending:
        raise RuntimeError(f"no free codes for {len(pending)} members after {CODE_ATTEMPTS} attempts")
    mine = _given(sorted(written))
    issued |= dict(mine.values())
    if mine:
        # Last, as a claim's quota UPDATE is: the template row stays held only to the caller's commit.
        within = Q(quota__isnull=True) | Q(issued_count__lte=F("quota") - len(mine))
        if not CouponTemplate.objects.filter(within, pk=template.pk).update(issued_count=F("issued_count") + len(mine)):
            raise AssertionError("the quota moved under the template lock")  # the row is held when it has a quota
        send_after_commit(coupons_issued, coupon_ids=sorted(coupon_id for _member, coupon_id in mine.values()))
    return issued

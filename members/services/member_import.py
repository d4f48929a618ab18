"""Member CSV import: the entry points the console, the Celery tasks and the benchmark share.

preview  decode + validate + classify (new / update) without writing; file-level faults raise
start    create a MemberImportJob for a stored upload; small files run at once, big ones on Celery
run      the resumable job: read each row's phone and find the rows that repeat one (the one check that needs
         the whole file), then fan the file's chunks out as chunk tasks (infra.fanout), each with its records'
         text. A chunk task reads and validates its rows and writes the valid ones in one transaction that claims
         its MemberImportChunk row and records the chunk's row errors and progress on the job, so a re-run, a
         duplicated task or a resumed job never writes a member or an opening balance twice. Chunks hold distinct
         phones, so they write disjoint members and run side by side on as many workers as there are; reading
         and validating the cells there too keeps the job's one serial step (the phones) short, however many
         workers there are: the other workers wait for its first chunk.
"""

import json
import logging
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import Storage, storages
from django.db import DataError, IntegrityError, InterfaceError, OperationalError, transaction
from django.db.models import F, Q, TextField
from django.db.models.functions import Cast
from django.utils import timezone, translation
from django.utils.translation import gettext

from infra.bulk_sql import field_in
from infra.csv_uploads.decoding import AUTO, ImportFileRefused, decode
from infra.db_session import chunk_transaction, collection_paused, planner_statistics_refresh
from infra.fanout import fan_out
from members.imports.scope import ImportScope
from members.imports.validation import (
    REPEATS_LISTED,
    DataRow,
    FileChunk,
    ParsedFile,
    RowError,
    check_existing,
    chunk_data_rows,
    count_data_rows,
    parse_members_csv,
    plan_members_csv,
    validate_rows,
)
from members.imports.writer import ChunkResult, ImportContext, tags_ensure, write_chunk
from members.models import Member, MemberImportChunk, MemberImportJob, PointsEntry

logger = logging.getLogger(__name__)

# One transaction per chunk: big enough that the per-chunk round trips and commits stay a small share of
# the time, small enough that a chunk holds its row locks for well under a second.
CHUNK_ROWS = 5000
MAX_STORED_ERRORS = 1000
UPLOADS = "imports"  # the uploads' directory in the private storage (their chunks: imports/chunks)
UPLOAD_OWNER_RE = re.compile(rf"^{UPLOADS}/(?P<owner>\d+)-")
Status = MemberImportJob.Status


@dataclass
class ImportPreview:
    encoding: str
    columns: list
    total_rows: int
    new_count: int
    update_count: int
    error_rows: int
    errors: list
    sample: list


def _validate(text: str, *, scope: ImportScope, now: datetime) -> tuple[ParsedFile, dict]:
    """Parse and validate a decoded file for `scope` (the job does the same, a chunk at a time).

    Returns the parsed file and phone -> home store of the existing members its rows update.
    """
    with collection_paused():
        parsed = parse_members_csv(text, today=timezone.localdate(now), scope=scope)
    return parsed, check_existing(parsed, scope=scope)


def member_import_preview(*, data: bytes, encoding: str = AUTO, user=None, now: datetime) -> ImportPreview:
    """Validate a member CSV for `user`'s store scope without writing and say what confirming would do.

    Raises ImportFileRefused.
    """
    text, used = decode(data, encoding)
    parsed, existing = _validate(text, scope=ImportScope.of(user), now=now)
    return ImportPreview(
        encoding=used,
        columns=parsed.columns,
        total_rows=parsed.total_rows,
        new_count=len(parsed.rows) - len(existing),
        update_count=len(existing),
        error_rows=parsed.error_rows,
        errors=parsed.errors,
        sample=parsed.sample,
    )


def import_files() -> Storage:
    """The storage of uploads and chunks: STORAGES["private"], seen by every server and worker, served by no URL."""
    return storages["private"]


def member_import_store_upload(*, data: bytes, user) -> str:
    """Save an upload to the private storage (seen by every server) and return its storage name."""
    owner = getattr(user, "pk", None) or 0
    return import_files().save(f"{UPLOADS}/{owner}-{timezone.now():%Y%m%d%H%M%S}.csv", ContentFile(data))


def member_import_start(*, file_name: str, encoding: str = AUTO, user=None, now: datetime) -> MemberImportJob:
    """Create the job of a stored upload and run it: at once when small, else on Celery after commit.

    Raises ImportFileRefused when the file cannot be decoded (nothing is created then).
    """
    with import_files().open(file_name, "rb") as handle:
        data = handle.read()
    text, _used = decode(data, encoding)
    total = count_data_rows(text)
    job = MemberImportJob.objects.create(
        file=file_name,
        encoding=encoding,
        total_rows=total,
        created_by=user,
        store_id=ImportScope.of(user).store_id,
        language=translation.get_language() or "",
    )
    if total > settings.MEMBER_IMPORT_BACKGROUND_ROWS:
        from members.tasks import member_import_job_task

        transaction.on_commit(lambda: member_import_job_task.delay(job_id=job.pk))
        return job
    return member_import_job_run(job_id=job.pk, now=now, inline=True)


@dataclass
class _Chunk:
    number: int
    rows: list


def _chunk_count(total: int) -> int:
    return (total + CHUNK_ROWS - 1) // CHUNK_ROWS


# -- a chunk, handed from the job to its chunk task through the private storage (seen by every worker) ------------
# The chunk travels as the text of its records with what only the whole file tells about them (each row's phone,
# the rows repeating one): the job reads no more of the file than that, and the chunk task strips and validates
# its own rows (validation.chunk_data_rows, validate_rows).
def _chunk_file(job_id: int, number: int) -> str:
    return f"{UPLOADS}/chunks/{job_id}-{number}.json"


def _chunk_store(job_id: int, chunk: FileChunk, *, columns: list, delimiter: str) -> None:
    stored = {
        "columns": columns,
        "delimiter": delimiter,
        "position": chunk.position,
        "index": chunk.index,
        "phones": chunk.phones,
        "repeated": chunk.repeated,
        "text": chunk.text,
    }
    name = _chunk_file(job_id, chunk.number)
    import_files().delete(name)  # a resumed job stores the chunk again (the same rows: the file did not change)
    import_files().save(name, ContentFile(json.dumps(stored, ensure_ascii=False).encode()))


def _chunk_rows(job_id: int, number: int) -> tuple[list, list] | None:
    """Return the chunk's columns and rows (DataRows), or None when its file is gone (the chunk was written, its
    file removed).

    A chunk stored by the release before, as its rows already read ({"columns", "rows"}), still comes back: a job
    running across the upgrade finishes.
    """
    try:
        with import_files().open(_chunk_file(job_id, number), "rb") as handle:
            stored = json.loads(handle.read())
    except FileNotFoundError:
        return None
    if "rows" in stored:
        past_header = len(stored["columns"]) + 1  # where that release's overflow (a bool) began at the earliest
        rows = [
            DataRow(
                row,
                index,
                cells,
                past_header if overflow is True else int(overflow),
                phone,
                tuple(repeats[:REPEATS_LISTED]),
                len(repeats[REPEATS_LISTED:]),
            )  # fmt: skip
            for row, index, cells, overflow, phone, repeats in stored["rows"]
        ]
        return stored["columns"], rows
    chunk = FileChunk(
        number=number,
        text=stored["text"],
        position=stored["position"],
        index=stored["index"],
        phones=stored["phones"],
        repeated=stored["repeated"],
    )
    return stored["columns"], chunk_data_rows(chunk, columns=stored["columns"], delimiter=stored["delimiter"])


def _write_chunk_once(*, job_id, chunk, invalid, total, context) -> bool:
    """Write one chunk's valid rows and record it on the job (with `invalid`, its rows' validation errors) in one
    transaction; skip it if another runner already did.

    The chunk's row is claimed first (a runner writing the same chunk makes this one wait, then skip); the job
    row is locked only at the end, to add the counts and the rows refused while writing and to move
    `processed_rows` over the unbroken run of written chunks, so chunks on other workers are not held up.
    Returns whether every chunk of the job is now written (true for exactly one chunk: the job rows' lock
    orders them).
    """
    for attempt in range(3):
        try:
            with chunk_transaction(durable=False):
                try:
                    with transaction.atomic():
                        MemberImportChunk.objects.create(job_id=job_id, number=chunk.number)
                except IntegrityError:
                    return False  # written by another runner
                result = _write_isolating(chunk.rows, context=context)
                job = MemberImportJob.objects.select_for_update().only("processed_rows", "errors").get(pk=job_id)
                written = set(MemberImportChunk.objects.filter(job_id=job_id).values_list("number", flat=True))
                changes = {}
                if invalid or result.errors:
                    errors = [*job.errors, *(error.as_dict() for error in [*invalid, *result.errors])]
                    errors.sort(key=lambda error: error["row"])  # stable: a row's errors keep their order
                    changes["errors"] = errors[:MAX_STORED_ERRORS]
                    changes["error_count"] = F("error_count") + len({error.row for error in [*invalid, *result.errors]})
                MemberImportJob.objects.filter(pk=job_id).update(
                    processed_rows=_processed_rows(job.processed_rows, written, total=total),
                    created_count=F("created_count") + result.created,
                    updated_count=F("updated_count") + result.updated,
                    **changes,
                )
                return len(written) == _chunk_count(total)
        except IntegrityError:
            # A phone or member number taken by a concurrent writer since the chunk was read: redo it.
            if attempt == 2:
                raise
    return False  # not reached: the last attempt returns or raises


def _write_isolating(rows, *, context) -> ChunkResult:
    """Write `rows` in a savepoint; when the database refuses a value, write each half apart, down to the row.

    Validation should leave nothing the database refuses; if a value still is (a limit of one database,
    a bug), that row is reported as a row error naming the database's reason and the others are written,
    instead of the whole job stopping on a row a re-run would meet again.
    """
    try:
        with transaction.atomic():
            return write_chunk(rows, context=context)
    except DataError as exc:
        if len(rows) == 1:
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            message = gettext("The database refused this row: %(reason)s") % {"reason": reason}
            return ChunkResult(errors=[RowError(rows[0].row, "", message)])
    half = len(rows) // 2
    first = _write_isolating(rows[:half], context=context)
    second = _write_isolating(rows[half:], context=context)
    return ChunkResult(
        created=first.created + second.created,
        updated=first.updated + second.updated,
        openings=first.openings + second.openings,
        errors=first.errors + second.errors,
    )


def _processed_rows(processed: int, written: set[int], *, total: int) -> int:
    """The rows before the first chunk not yet written (progress recorded before chunks were, kept)."""
    number = processed // CHUNK_ROWS
    while number in written:
        number += 1
    return max(processed, min(number * CHUNK_ROWS, total))


class _ChunkFailed(Exception):
    """A chunk that could not be written: the rows it held and why."""

    def __init__(self, chunk, cause):
        super().__init__(str(cause))
        self.chunk, self.cause = chunk, cause


def _failure_message(failure: BaseException) -> str:
    """Say where a job stopped, why, and what to do: run again only when that can succeed."""
    cause = failure.cause if isinstance(failure, _ChunkFailed) else failure
    reason = (str(cause).strip().splitlines() or [type(cause).__name__])[0]
    rows = failure.chunk.rows if isinstance(failure, _ChunkFailed) else []
    where = {"first": rows[0].row, "last": rows[-1].row, "reason": reason} if rows else {"reason": reason}
    if isinstance(cause, OperationalError | InterfaceError):
        if rows:
            return (
                gettext(
                    "The import stopped at rows %(first)s to %(last)s because the database could not be reached "
                    "(%(reason)s). The rows before them are imported; run the import again to finish it (nothing is "
                    "written twice)."
                )
                % where
            )
        return (
            gettext(
                "The import stopped because the database could not be reached (%(reason)s). Run the import again to "
                "finish it (nothing is written twice)."
            )
            % where
        )
    if rows:
        return (
            gettext(
                "The import stopped at rows %(first)s to %(last)s: %(reason)s. The rows before them are imported. "
                "Running it again would stop at the same rows: send this message to your administrator."
            )
            % where
        )
    return (
        gettext(
            "The import stopped: %(reason)s. Running it again would stop the same way: send this message to your "
            "administrator."
        )
        % where
    )


def _job_scope(job) -> ImportScope:
    """Return the scope the job was started in (its recorded store, never a request's nor the importer's today).

    A job whose upload was made by a user who no longer exists (created_by emptied by the deletion) is
    refused rather than run for all stores.
    """
    if job.created_by_id is None:
        owner = UPLOAD_OWNER_RE.match(job.file)
        if owner is not None and owner["owner"] != "0":
            raise ImportFileRefused(
                gettext("The staff user who started this import no longer exists; import the file again."),
                code="importer_gone",
            )
    return ImportScope(store_id=job.store_id)


def _upload_read(name: str) -> bytes:
    """Return a job's upload; raises ImportFileRefused when it is gone (swept, or deleted by hand)."""
    try:
        with import_files().open(name, "rb") as handle:
            return handle.read()
    except FileNotFoundError:
        raise ImportFileRefused(
            gettext("The uploaded file is no longer kept; import the file again."), code="upload_gone"
        ) from None


def member_import_job_run(*, job_id: int, now: datetime, inline: bool = False) -> MemberImportJob:
    """Run (or resume) an import job: read its file, then fan its chunks out; a finished job is left alone.

    Each row's phone is read and the rows repeating one found as the preview does; then each chunk not yet
    written is handed to a chunk task (infra.fanout: one after another here on the eager default, on every worker
    with a broker; `inline`: here in any case), which reads and validates its rows as the preview does, within the
    scope of the staff user who started the job. The chunk that writes the last one marks the job done. Returns
    the job as it is then.
    """
    job = MemberImportJob.objects.select_related("created_by").get(pk=job_id)
    if job.status == Status.DONE:
        return job
    with translation.override(job.language or None):
        return _job_run(job, now=now, inline=inline)


def _job_run(job: MemberImportJob, *, now: datetime, inline: bool) -> MemberImportJob:
    job_id = job.pk
    MemberImportJob.objects.filter(pk=job_id).update(status=Status.RUNNING, message="")
    try:
        _job_scope(job)  # refused at once when the importer is gone, before any chunk is sent
        data = _upload_read(job.file)
        text, _used = decode(data, job.encoding)
        with collection_paused():
            plan = plan_members_csv(text, chunk_rows=CHUNK_ROWS)
    except ImportFileRefused as exc:
        MemberImportJob.objects.filter(pk=job_id).update(
            status=Status.FAILED, message=str(exc.message), finished_at=now
        )
        job.refresh_from_db()
        return job
    written = set(MemberImportChunk.objects.filter(job_id=job_id).values_list("number", flat=True))
    total = plan.total_rows
    if not written:
        # Each chunk adds its rows' errors; a resumed job keeps those of its written chunks.
        MemberImportJob.objects.filter(pk=job_id).update(total_rows=total, error_count=0, errors=[])
    chunks = [chunk for chunk in plan.chunks if chunk.number not in written]
    if not chunks:
        _finish(job, total=total)
        job.refresh_from_db()
        return job
    from members.tasks import member_import_chunk_task

    def stored(chunk: FileChunk) -> dict:
        # Each chunk is stored as it is sent, so the workers write the first chunks while the rest are stored.
        _chunk_store(job_id, chunk, columns=plan.columns, delimiter=plan.delimiter)
        return {"job_id": job_id, "number": chunk.number, "now": now.isoformat()}

    fan_out(member_import_chunk_task, (stored(chunk) for chunk in chunks), inline=inline)
    job.refresh_from_db()
    return job


def member_import_chunk_write(*, job_id: int, number: int, now: datetime) -> None:
    """Write one chunk of a job (its chunk task); the chunk that completes the job marks it done.

    Skipped when the chunk is written already (a duplicate or resumed task) or the job is not running (a chunk
    that failed stops the chunks not yet started, as the import's first error always did; running the job
    again resumes them). A chunk that fails is not written at all and marks the job failed with a message
    saying where and why.
    """
    job = MemberImportJob.objects.select_related("created_by").get(pk=job_id)
    if job.status != Status.RUNNING:
        return
    with translation.override(job.language or None):
        _chunk_write(job, number=number, now=now)


def _chunk_write(job: MemberImportJob, *, number: int, now: datetime) -> None:
    job_id = job.pk
    with collection_paused():  # the chunk's rows, arrays and fetched rows are many objects, none in cycles
        stored = _chunk_rows(job_id, number)
        if stored is None:
            return
        columns, rows = stored
        try:
            scope = _job_scope(job)
            valid, invalid = validate_rows(columns, rows, today=timezone.localdate(now), scope=scope)
            tags_ensure(valid)  # committed before the chunk's transaction, so chunks naming a new tag never wait
            context = ImportContext.build(now=now, user=job.created_by, scope=scope, job_id=job_id)
            completed = _write_chunk_once(
                job_id=job_id, chunk=_Chunk(number, valid), invalid=invalid, total=job.total_rows, context=context
            )
        except Exception as exc:
            logger.exception("member import job %s stopped at chunk %s", job_id, number)
            MemberImportJob.objects.filter(pk=job_id).update(
                status=Status.FAILED, message=_failure_message(_ChunkFailed(_Chunk(number, rows), exc))
            )
            return
    import_files().delete(_chunk_file(job_id, number))
    planner_statistics_refresh(Member, PointsEntry)  # the tables the chunk's foreign keys and lookups read
    if completed:
        # Outside the chunk's transaction, so committed with the server's durable setting (infra.db_session).
        _finish(job, total=job.total_rows)


def _finish(job: MemberImportJob, *, total: int) -> None:
    """Mark the job done and delete its upload: it holds members' data, and a done job never reads it again.

    Finished at the clock's moment: the chunks' `now` is the job's, the moment its rows carry."""
    MemberImportJob.objects.filter(pk=job.pk).update(
        status=Status.DONE, processed_rows=total, finished_at=timezone.now()
    )
    import_files().delete(job.file)


def member_import_uploads_sweep(*, now: datetime) -> int:
    """Delete the uploads no import needs any more; return how many (the scheduled sweep).

    An upload is kept MEMBER_IMPORT_UPLOAD_KEEP_HOURS while it is previewed but not yet imported, and
    MEMBER_IMPORT_UNFINISHED_KEEP_DAYS while its job did not finish (queued, running, or failed: running it again
    resumes it). A done job deletes its upload as it finishes; the sweep also removes any a done job left behind.
    """
    storage = import_files()
    try:
        _directories, names = storage.listdir(UPLOADS)
    except FileNotFoundError:
        return 0
    uploads = [f"{UPLOADS}/{name}" for name in names]
    statuses = dict(
        MemberImportJob.objects.filter(field_in(MemberImportJob, "file", uploads)).values_list("file", "status")
    )
    previewed_since = now - timedelta(hours=settings.MEMBER_IMPORT_UPLOAD_KEEP_HOURS)
    unfinished_since = now - timedelta(days=settings.MEMBER_IMPORT_UNFINISHED_KEEP_DAYS)
    swept = 0
    for name in uploads:
        status = statuses.get(name)
        if status != Status.DONE:
            kept_since = previewed_since if status is None else unfinished_since
            if storage.get_modified_time(name) >= kept_since:
                continue
        storage.delete(name)
        swept += 1
    return swept


def member_import_errors_expire(*, now: datetime) -> int:
    """Delete the rows with errors of the imports finished MEMBER_IMPORT_ERRORS_KEEP_DAYS ago; return how many jobs.

    They quote the file's cells (phones, e-mails); the job keeps their count. (Anonymising a member replaces its
    addresses there at once: member_import_errors_scrub.)
    """
    finished_before = now - timedelta(days=settings.MEMBER_IMPORT_ERRORS_KEEP_DAYS)
    return MemberImportJob.objects.filter(finished_at__lt=finished_before).exclude(errors=[]).update(errors=[])


def member_import_errors_scrub(*, addresses, replacement: str) -> int:
    """Replace a member's addresses in the rows with errors that imports keep; return how many jobs changed.

    A row repeating a phone is refused with a message naming that phone, which may be a member's (one anonymised
    later, member_anonymise). The jobs are found by their errors' text, so only those naming an address are read.
    """
    needles = sorted({str(address) for address in addresses if address}, key=len, reverse=True)
    if not needles:
        return 0
    naming = Q()
    for needle in needles:
        naming |= Q(errors_text__contains=needle)
    naming_jobs = MemberImportJob.objects.annotate(errors_text=Cast("errors", TextField())).filter(naming)
    changed = 0
    for job in MemberImportJob.objects.filter(pk__in=naming_jobs.values("pk")).only("pk", "errors"):
        errors = [{**error, "message": _replace_all(error["message"], needles, replacement)} for error in job.errors]
        if errors != job.errors:
            MemberImportJob.objects.filter(pk=job.pk).update(errors=errors)
            changed += 1
    return changed


def _replace_all(text: str, needles: list[str], replacement: str) -> str:
    for needle in needles:  # longest first: a phone never leaves a part of a longer one behind
        text = text.replace(needle, replacement)
    return text

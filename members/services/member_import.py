"""Member CSV import: the entry points the console, the Celery task and the benchmark share.

preview  decode + validate + classify (new / update) without writing; file-level faults raise
start    create a MemberImportJob for a stored upload; small files run at once, big ones on Celery
run      the resumable runner: validate, then write valid rows in chunks, one transaction per chunk,
         marking the chunk written and recording progress on the job in the same transaction (so a re-run
         resumes where it stopped and never writes a member or an opening balance twice). On PostgreSQL the
         chunks run on MEMBER_IMPORT_CONNECTIONS connections side by side: their phones are distinct, so
         they write disjoint members, and the server's work (most of an import) spreads over two cores.
"""

import logging
import re
import threading
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import DataError, IntegrityError, InterfaceError, OperationalError, connection, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext

from members.imports.decoding import AUTO, ImportFileRefused, decode
from members.imports.scope import ImportScope
from members.imports.validation import (
    ParsedFile,
    RowError,
    check_existing,
    collection_paused,
    count_data_rows,
    parse_members_csv,
)
from members.imports.writer import ChunkResult, ImportContext, tags_ensure, write_chunk
from members.models import Member, MemberImportChunk, MemberImportJob, PointsEntry
from members.parallel import run_chunks

logger = logging.getLogger(__name__)

# One transaction per chunk: big enough that the per-chunk round trips and commits stay a small share of
# the time, small enough that a chunk holds its row locks for well under a second.
CHUNK_ROWS = 5000
MAX_STORED_ERRORS = 1000
UPLOAD_OWNER_RE = re.compile(r"^imports/(?P<owner>\d+)-")
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


def _validate(text: str, *, scope: ImportScope, now: datetime, classify: bool) -> tuple[ParsedFile, dict]:
    """Parse and validate a decoded file for `scope`: the one validation of the preview and of the job.

    Returns the parsed file and phone -> home store of the existing members its rows update (read only
    when `classify` or the scope needs it: an import for all stores may change any member).
    """
    parsed = parse_members_csv(text, today=timezone.localdate(now), scope=scope)
    existing = check_existing(parsed, scope=scope) if classify or not scope.is_all_stores else {}
    return parsed, existing


def member_import_preview(*, data: bytes, encoding: str = AUTO, user=None, now: datetime) -> ImportPreview:
    """Validate a member CSV for `user`'s store scope without writing and say what confirming would do.

    Raises ImportFileRefused.
    """
    text, used = decode(data, encoding)
    parsed, existing = _validate(text, scope=ImportScope.of(user), now=now, classify=True)
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


def member_import_store_upload(*, data: bytes, user) -> str:
    """Save an upload to media storage (seen by every server) and return its storage name."""
    owner = getattr(user, "pk", None) or 0
    return default_storage.save(f"imports/{owner}-{timezone.now():%Y%m%d%H%M%S}.csv", ContentFile(data))


def member_import_start(*, file_name: str, encoding: str = AUTO, user=None, now: datetime) -> MemberImportJob:
    """Create the job of a stored upload and run it: at once when small, else on Celery after commit.

    Raises ImportFileRefused when the file cannot be decoded (nothing is created then).
    """
    with default_storage.open(file_name, "rb") as handle:
        data = handle.read()
    text, _used = decode(data, encoding)
    total = count_data_rows(text)
    job = MemberImportJob.objects.create(file=file_name, encoding=encoding, total_rows=total, created_by=user)
    if total > settings.MEMBER_IMPORT_BACKGROUND_ROWS:
        from members.tasks import member_import_job_task

        transaction.on_commit(lambda: member_import_job_task.delay(job_id=job.pk))
        return job
    return member_import_job_run(job_id=job.pk, now=now)


@dataclass
class _Chunk:
    number: int
    end: int  # the index after its last data row
    rows: list


def _chunks(rows, *, total, first_index):
    """Yield every chunk of CHUNK_ROWS data rows (its valid rows), from the chunk holding first_index."""
    rows_by_chunk = {}
    for row in rows:
        rows_by_chunk.setdefault(row.index // CHUNK_ROWS, []).append(row)
    for number in range(first_index // CHUNK_ROWS, (total + CHUNK_ROWS - 1) // CHUNK_ROWS):
        yield _Chunk(number, min((number + 1) * CHUNK_ROWS, total), rows_by_chunk.get(number, []))


def import_connections() -> int:
    return max(int(getattr(settings, "MEMBER_IMPORT_CONNECTIONS", 2)), 1)


class _PlannerStatistics:
    """Refresh PostgreSQL's statistics of the tables an import grows each time it has about doubled them.

    A foreign key is checked with a plan each connection prepares once and keeps until the table's
    statistics change. Prepared while the member table was (nearly) empty, that plan scans the table, so
    a first big import into a fresh database slows down row after row (every opening entry, lot and tag
    checks its member) until autovacuum analyses the table, which comes too late for one job. PostgreSQL's
    advice after a bulk load is ANALYZE: done here after each doubling, it costs a handful of sampled
    reads per job and only while the import is most of the table. Only the tables foreign keys of the
    import point at (members, and entries for the lots) are analysed: nothing the import runs is planned
    on the statistics of the tag links or lots. And only their primary key, the column those checks look
    up: the row count and size come with any ANALYZE, and statistics of the forty other member columns
    (most of an ANALYZE's work) are left to autovacuum.
    """

    TABLES = (Member, PointsEntry)
    FLOOR = 5000

    def __init__(self):
        self.enabled = connection.vendor == "postgresql"
        self.lock = threading.Lock()  # chunks finish on several connections
        self.written = 0
        self.rows = 0
        if self.enabled:
            self.rows = self._estimate()

    @staticmethod
    def _estimate():
        with connection.cursor() as cursor:
            cursor.execute("SELECT reltuples FROM pg_class WHERE oid = %s::regclass", [Member._meta.db_table])
            found = cursor.fetchone()
        return max(int(found[0]), 0) if found else 0

    def after_chunk(self, created: int) -> None:
        if not self.enabled:
            return
        with self.lock:
            self._after_chunk(created)

    def _after_chunk(self, created: int) -> None:
        self.written += created
        if self.written <= max(self.rows, self.FLOOR):
            return
        qn = connection.ops.quote_name
        with connection.cursor() as cursor:
            cursor.execute(
                "ANALYZE "
                + ", ".join(f"{qn(model._meta.db_table)} ({qn(model._meta.pk.column)})" for model in self.TABLES)
            )
        self.rows, self.written = self._estimate(), 0


def _commit_without_waiting_for_disk():
    """Let PostgreSQL commit this chunk's transaction without waiting for its WAL to reach the disk.

    A crash can then lose the last chunks committed, but only whole transactions and never out of order:
    each chunk and the job progress it records are lost together, so a re-run writes them again. The
    job's final "done" is committed with the server's default (synchronous) setting, which flushes the
    WAL of every chunk before it, so a job seen done has all its rows on disk. Saves one wait for a disk
    flush per chunk (a few percent of an import). Only for a chunk that is its own transaction: inside a
    caller's transaction the setting would hold for the caller's commit too.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit TO OFF")


def _write_chunk_once(*, job_id, chunk, total, context) -> int:
    """Write one chunk and record it on the job in one transaction; skip it if another runner already did.

    The chunk's row is claimed first (a runner writing the same chunk makes this one wait, then skip); the job
    row is locked only at the end, to add the counts and the rows refused while writing and to move
    `processed_rows` over the unbroken run of written chunks, so chunks on other connections are not held up.
    Returns the number of members created.
    """
    own_transaction = not connection.in_atomic_block
    for attempt in range(3):
        try:
            with transaction.atomic():
                try:
                    with transaction.atomic():
                        MemberImportChunk.objects.create(job_id=job_id, number=chunk.number)
                except IntegrityError:
                    return 0  # written by another runner
                if own_transaction:
                    _commit_without_waiting_for_disk()
                result = _write_isolating(chunk.rows, context=context)
                job = MemberImportJob.objects.select_for_update().only("processed_rows", "errors").get(pk=job_id)
                written = set(MemberImportChunk.objects.filter(job_id=job_id).values_list("number", flat=True))
                changes = {}
                if result.errors:
                    errors = [*job.errors, *(error.as_dict() for error in result.errors)]
                    errors.sort(key=lambda error: error["row"])
                    changes["errors"] = errors[:MAX_STORED_ERRORS]
                    changes["error_count"] = F("error_count") + len({error.row for error in result.errors})
                MemberImportJob.objects.filter(pk=job_id).update(
                    processed_rows=_processed_rows(job.processed_rows, written, total=total),
                    created_count=F("created_count") + result.created,
                    updated_count=F("updated_count") + result.updated,
                    **changes,
                )
                return result.created
        except IntegrityError:
            # A phone or member number taken by a concurrent writer since the chunk was read: redo it.
            if attempt == 2:
                raise
    return 0  # not reached: the last attempt returns or raises


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
    """Return the scope of the staff user who started the job (read from the job, never from a request).

    A job whose upload was made by a user who no longer exists (created_by emptied by the deletion) is
    refused rather than run for all stores.
    """
    if job.created_by_id is None:
        owner = UPLOAD_OWNER_RE.match(job.file.name or "")
        if owner is not None and owner["owner"] != "0":
            raise ImportFileRefused(
                gettext("The staff user who started this import no longer exists; import the file again."),
                code="importer_gone",
            )
    return ImportScope.of(job.created_by)


def member_import_job_run(*, job_id: int, now: datetime) -> MemberImportJob:
    """Run (or resume) an import job; a finished job is left alone. Records progress and row errors.

    The rows are validated as the preview validates them, within the scope of the staff user who started
    the job; a row the database still refuses is a row error, not the end of the job.
    """
    job = MemberImportJob.objects.select_related("created_by").get(pk=job_id)
    if job.status == Status.DONE:
        return job
    MemberImportJob.objects.filter(pk=job_id).update(status=Status.RUNNING, message="")
    try:
        scope = _job_scope(job)
        with job.file.open("rb") as handle:
            data = handle.read()
        text, _used = decode(data, job.encoding)
        parsed, _existing = _validate(text, scope=scope, now=now, classify=False)
    except ImportFileRefused as exc:
        MemberImportJob.objects.filter(pk=job_id).update(
            status=Status.FAILED, message=str(exc.message), finished_at=now
        )
        job.refresh_from_db()
        return job
    written = set(MemberImportChunk.objects.filter(job_id=job_id).values_list("number", flat=True))
    if not written:
        # Errors found while writing are added by each chunk; a resumed job keeps those of its written chunks.
        MemberImportJob.objects.filter(pk=job_id).update(
            total_rows=parsed.total_rows,
            error_count=parsed.error_rows,
            errors=[error.as_dict() for error in parsed.errors[:MAX_STORED_ERRORS]],
        )
    context = ImportContext.build(now=now, user=job.created_by, scope=scope, job_id=job_id)
    statistics = _PlannerStatistics()
    chunks = [
        chunk
        for chunk in _chunks(parsed.rows, total=parsed.total_rows, first_index=job.processed_rows)
        if chunk.number not in written
    ]

    def write(chunk):
        try:
            created = _write_chunk_once(job_id=job_id, chunk=chunk, total=parsed.total_rows, context=context)
        except Exception as exc:
            raise _ChunkFailed(chunk, exc) from exc
        statistics.after_chunk(created)

    try:
        tags_ensure(parsed.rows)  # once, before the chunks: two connections never race to create a tag
        with collection_paused():  # the chunks' arrays and fetched rows are many objects, none in cycles
            run_chunks(chunks, write, count=min(import_connections(), len(chunks)))  # one chunk: no thread
    except Exception as exc:
        logger.exception("member import job %s stopped", job_id)
        MemberImportJob.objects.filter(pk=job_id).update(status=Status.FAILED, message=_failure_message(exc))
        job.refresh_from_db()
        return job
    MemberImportJob.objects.filter(pk=job_id).update(
        status=Status.DONE, processed_rows=parsed.total_rows, finished_at=now
    )
    job.refresh_from_db()
    return job

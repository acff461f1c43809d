"""Importing a file into a dataset: an ImportJob per file, run by the background worker or by a command.

Streaming and all or nothing: rows are read one at a time, validated, and staged (StagedRecord) in chunks;
each chunk commits together with the job's resume point, so memory stays flat and a restarted job continues
from its last committed row without duplicating any. When the whole file has been read, the staged rows are
moved into Record in one transaction (exact duplicates dropped in SQL), so the dataset sees all of the file or
none of it. On PostgreSQL the chunks go in through COPY (psycopg 3 `cursor.copy`), elsewhere through bulk_create.

With `skip_invalid` a bad row is written to the job's error report (line, field, reason) and left out instead.
"""

import json
import re
import shutil
import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from django.utils.text import get_valid_filename

from common.errors import ApplicationError
from common.history import history_record
from common.storage import storage_path
from datahub.canonical import MAX_RECORD_CHARS, content_hash, prompt_hash
from datahub.formats import AUTO, BadRow, column_map_check, file_rows, row_canonical_checked, row_format, row_remap
from datahub.models import Dataset, ImportJob, ImportRowError, Record, Source, StagedRecord

# Rows per committed chunk: the unit of progress, of resuming, and of one COPY (setting DATAHUB_IMPORT_CHUNK_ROWS).
CHUNK_ROWS = 5000
# A running job whose progress has not moved for this long has lost its worker.
STALE_AFTER = timedelta(seconds=getattr(settings, "DATAHUB_IMPORT_STALE_SECONDS", 600))
DEFAULT_MAX_RECORD_CHARS = getattr(settings, "DATAHUB_MAX_RECORD_CHARS", MAX_RECORD_CHARS)

ProgressCallback = Callable[[int, int], None]

_STAGED_COLUMNS = ("job_id", "kind", "messages", "tools", "chosen", "rejected", "label", "raw", "content_hash", "prompt_hash",
                   "line_number")
_FIELD_IN_MESSAGE = re.compile(r"field '([^']+)'")


def _stored_name(file_name: str) -> str:
    name = get_valid_filename(Path(file_name).name or "upload") or "upload"
    return name[-100:]


def import_job_create(*, dataset: Dataset, file_name: str, format: str = AUTO, source: Source | None = None, created_by=None,
                      uploaded_file=None, path: Path | str | None = None, run_in_background: bool = True,
                      container: str = "", column_map: dict | None = None, skip_invalid: bool = False,
                      max_record_chars: int | None = None) -> ImportJob:
    """Store the file (an upload, or a path on this machine) and queue its import.

    Give exactly one of `uploaded_file` (a Django UploadedFile) and `path`. With `run_in_background` the
    job is enqueued once the transaction commits; without, the caller runs `import_job_run` itself
    (the management command does, to show progress). `container` overrides detection of JSON / JSONL /
    CSV / TSV / Parquet; `column_map` renames file columns to the fields the format reads; `skip_invalid`
    keeps good rows and reports bad ones; `max_record_chars` bounds one record's size.
    """
    if format not in ImportJob.Format.values:
        raise ApplicationError(f"unknown format {format!r}; choose one of {', '.join(ImportJob.Format.values)}", where="format")
    container = container or ""
    if container not in ImportJob.Container.values:
        raise ApplicationError(f"unknown container {container!r}; choose one of {', '.join(v for v in ImportJob.Container.values if v)}",
                               where="container")
    column_map = column_map_check(column_map)
    max_record_chars = DEFAULT_MAX_RECORD_CHARS if max_record_chars is None else max_record_chars
    if not isinstance(max_record_chars, int) or not 100 <= max_record_chars <= 50_000_000:
        raise ApplicationError("the record size limit must be a whole number of characters from 100 to 50,000,000",
                               where="max_record_chars")
    if (uploaded_file is None) == (path is None):
        raise ApplicationError("give either an uploaded file or a path", where="file")
    if source is not None and source.workspace_id != dataset.workspace_id:
        raise ApplicationError(f"source {source.name!r} belongs to another workspace", where="source")
    if path is not None and not Path(path).is_file():
        raise ApplicationError(f"no file at {path}", where="file", code="not_found")
    relative = f"imports/dataset-{dataset.pk}/{uuid.uuid4().hex}/{_stored_name(file_name)}"
    destination = storage_path(relative)
    # The file is written before the rows that point at it; if the transaction fails, it is removed again.
    if uploaded_file is not None:
        with open(destination, "wb") as out:
            for chunk in uploaded_file.chunks():
                out.write(chunk)
    else:
        shutil.copyfile(path, destination)
    try:
        with transaction.atomic():
            job = ImportJob.objects.create(
                dataset=dataset, source=source, file_name=Path(file_name).name[:255], file_path=relative, format=format,
                container=container, column_map=column_map, skip_invalid=skip_invalid, max_record_chars=max_record_chars,
                created_by=created_by if created_by is not None and created_by.is_authenticated else None,
            )
            history_record(actor=created_by, target=job, verb="created",
                           after={"file_name": job.file_name, "format": format, "skip_invalid": skip_invalid})
            if run_in_background:
                _enqueue(job)
    except BaseException:
        shutil.rmtree(destination.parent, ignore_errors=True)
        raise
    return job


def _enqueue(job: ImportJob) -> None:
    from datahub.tasks import import_job_execute

    transaction.on_commit(lambda: import_job_execute.enqueue(import_job_id=job.pk))


def import_job_is_stale(job: ImportJob, *, now=None, stale_after: timedelta = STALE_AFTER) -> bool:
    """A running job whose progress has not been written for `stale_after`: its worker died."""
    now = now or timezone.now()
    return job.status == ImportJob.Status.RUNNING and job.updated_at < now - stale_after


def import_job_resume(*, job: ImportJob, actor=None, run_in_background: bool = True, now=None,
                      stale_after: timedelta = STALE_AFTER) -> ImportJob:
    """Queue a stale running job again; it continues from its last committed row.

    Precondition: the job is stale (see import_job_is_stale); any other job is refused, so a live worker
    is never raced.
    """
    with transaction.atomic():
        job = ImportJob.objects.select_for_update().get(pk=job.pk)
        if not import_job_is_stale(job, now=now, stale_after=stale_after):
            raise ApplicationError(f"import job {job.pk} is {job.status} and still moving; only a stalled running import resumes",
                                   where="status", code="not_stale")
        job.status = ImportJob.Status.QUEUED
        job.save(update_fields=["status", "updated_at"])
        history_record(actor=actor, target=job, verb="resumed", after={"resume_row": job.resume_row})
        if run_in_background:
            _enqueue(job)
    return job


def import_job_run(*, job: ImportJob, on_progress: ProgressCallback | None = None) -> ImportJob:
    """Read, validate, stage and move the job's file; return the job, succeeded or failed.

    Precondition: the job is queued (new, or resumed); a job in any other state is returned untouched, so
    running a job twice (a retried task, a command racing the worker) imports it once. Bad data marks the
    job failed with the message and where it happened (unless skip_invalid); an unexpected error does too,
    and is raised again.
    """
    with transaction.atomic():
        job = ImportJob.objects.select_for_update().get(pk=job.pk)
        if job.status != ImportJob.Status.QUEUED:
            return job
        job.status = ImportJob.Status.RUNNING
        job.save(update_fields=["status", "updated_at"])
        history_record(actor=job.created_by, target=job, verb="started", after={"resume_row": job.resume_row})
    try:
        _rows_stage(job, on_progress)
        _job_finish(job)
    except ApplicationError as exc:
        return _job_fail(job, message=exc.message, where=exc.where)
    except Exception as exc:
        _job_fail(job, message=f"unexpected error: {exc.__class__.__name__}: {exc}", where="")
        raise
    if on_progress is not None:
        on_progress(job.processed, job.total)
    return job


def _error_field(exc: ApplicationError) -> str:
    """The field an error names: what follows "line N, " in where, else a quoted field in the message."""
    where = exc.where or ""
    if ", " in where:
        return where.split(", ", 1)[1]
    found = _FIELD_IN_MESSAGE.search(exc.message)
    return found.group(1) if found else ""


def _line_of(where: str) -> int:
    found = re.match(r"line (\d+)", where or "")
    return int(found.group(1)) if found else 0


def _rows_stage(job: ImportJob, on_progress: ProgressCallback | None) -> None:
    path = Path(storage_path(job.file_path))
    if not path.is_file():
        raise ApplicationError("the stored file is missing", where=job.file_name, code="not_found")
    opened = file_rows(path, container=job.container or None, tolerant=job.skip_invalid)
    job.total, job.encoding, job.detected_container = opened.total, opened.encoding, opened.container
    ImportJob.objects.filter(pk=job.pk).update(total=job.total, encoding=job.encoding, detected_container=job.detected_container,
                                               updated_at=timezone.now())
    if on_progress is not None:
        on_progress(job.resume_row, job.total)
    # A resumed job keeps the format its first run detected: a restart must read the file the same way.
    row_kind = job.detected_format or (None if job.format == AUTO else job.format)
    job.detected_format = row_kind or ""
    chunk_rows = getattr(settings, "DATAHUB_IMPORT_CHUNK_ROWS", CHUNK_ROWS)
    staged: list[tuple] = []
    errors: list[ImportRowError] = []
    ordinal = 0
    for line, row in opened.rows:
        ordinal += 1
        if ordinal <= job.resume_row:
            continue
        try:
            if isinstance(row, BadRow):
                raise ApplicationError(row.message, where=f"line {line}", code="malformed_json")
            row = row_remap(row, job.column_map)
            if row_kind is None:
                # The first row decides for the whole file: a later row of another shape is an error, not a guess.
                row_kind = row_format(row, line=line)
                job.detected_format = row_kind
            clean, parts = row_canonical_checked(row, format=row_kind, line=line, max_chars=job.max_record_chars)
        except ApplicationError as exc:
            if not job.skip_invalid:
                raise
            errors.append(ImportRowError(job_id=job.pk, line=_line_of(exc.where) or line, field=_error_field(exc)[:255],
                                         reason=exc.message))
        else:
            staged.append(((job.pk, clean["kind"], clean["messages"], clean.get("tools"), clean.get("chosen"), clean.get("rejected"),
                            clean.get("label"), row, content_hash(clean, parts=parts), prompt_hash(clean), line), parts))
        if ordinal % chunk_rows == 0:
            _chunk_commit(job, staged, errors, ordinal, on_progress)
            staged, errors = [], []
    _chunk_commit(job, staged, errors, ordinal, on_progress)


def _chunk_commit(job: ImportJob, staged: list[tuple], errors: list[ImportRowError], ordinal: int,
                  on_progress: ProgressCallback | None) -> None:
    """Stage a chunk and move the resume point past it in one transaction: a crash loses the chunk or keeps it whole."""
    with transaction.atomic():
        if staged:
            staged_insert(staged)
        if errors:
            ImportRowError.objects.bulk_create(errors, batch_size=2000)
        job.resume_row = max(job.resume_row, ordinal)
        job.processed = job.resume_row
        job.invalid_count += len(errors)
        ImportJob.objects.filter(pk=job.pk).update(resume_row=job.resume_row, processed=job.processed, invalid_count=job.invalid_count,
                                                   detected_format=job.detected_format, updated_at=timezone.now())
    if on_progress is not None:
        on_progress(job.processed, job.total)


def staged_insert(rows: list[tuple[tuple, dict[str, str]]]) -> None:
    """Insert staged rows — (values in _STAGED_COLUMNS order, the fields as JSON text) — COPY on PostgreSQL, else bulk_create.

    COPY reuses the JSON text the validation already produced, so each record is serialised once.
    """
    if connection.vendor == "postgresql":
        sql = f"COPY {StagedRecord._meta.db_table} ({', '.join(_STAGED_COLUMNS)}) FROM STDIN"
        with connection.cursor() as cursor, cursor.cursor.copy(sql) as copy:
            for row, parts in rows:
                copy.write_row((row[0], row[1], parts["messages"], _text_or_null(row[3], parts["tools"]),
                                _text_or_null(row[4], parts["chosen"]), _text_or_null(row[5], parts["rejected"]), row[6],
                                json.dumps(row[7], ensure_ascii=False), row[8], row[9], row[10]))
        return
    StagedRecord.objects.bulk_create([StagedRecord(**dict(zip(_STAGED_COLUMNS, row))) for row, _ in rows], batch_size=1000)


def _text_or_null(value, text: str) -> str | None:
    """SQL NULL for an absent field (not the JSON null)."""
    return None if value is None else text


def staged_move(*, job: ImportJob) -> tuple[int, int]:
    """Move the job's staged rows into Record; return (created, duplicates).

    One INSERT … SELECT in file order; the dataset's unique (dataset, content_hash) constraint drops exact
    duplicates, inside the file and against earlier imports alike (ON CONFLICT DO NOTHING: the first copy wins).
    Precondition: inside the transaction that also marks the job finished, with the dataset locked.
    """
    staged = StagedRecord._meta.db_table
    record = Record._meta.db_table
    columns = ("dataset_id", "source_id", "kind", "messages", "tools", "chosen", "rejected", "label", "raw", "content_hash",
               "prompt_hash", "tags", "parent_id", "origin", "import_job_id", "line_number", "created_at")
    # "WHERE true" lets SQLite tell the upsert clause from a join condition after INSERT … SELECT.
    sql = (
        f"INSERT INTO {record} ({', '.join(columns)}) "
        f"SELECT %s, %s, s.kind, s.messages, s.tools, s.chosen, s.rejected, s.label, s.raw, s.content_hash, s.prompt_hash, "
        f"'[]', NULL, 'import', %s, s.line_number, %s FROM {staged} s WHERE s.job_id = %s AND true ORDER BY s.id "
        f"ON CONFLICT (dataset_id, content_hash) DO NOTHING"
    )
    total = StagedRecord.objects.filter(job=job).count()
    with connection.cursor() as cursor:
        cursor.execute(sql, [job.dataset_id, job.source_id, job.pk, timezone.now(), job.pk])
        created = cursor.rowcount
    StagedRecord.objects.filter(job=job).delete()
    return created, total - created


def _job_finish(job: ImportJob) -> None:
    with transaction.atomic():
        # One import at a time per dataset, so duplicate counts are exact and the unique constraint never trips.
        Dataset.objects.select_for_update().filter(pk=job.dataset_id).first()
        created, duplicates = staged_move(job=job)
        job.status = ImportJob.Status.SUCCEEDED
        job.processed = job.total
        job.created_count, job.duplicate_count = created, duplicates
        job.finished_at = timezone.now()
        job.save()
        history_record(actor=job.created_by, target=job, verb="succeeded",
                       after={"created": created, "duplicates": duplicates, "invalid": job.invalid_count, "format": job.detected_format})


def _job_fail(job: ImportJob, *, message: str, where: str) -> ImportJob:
    with transaction.atomic():
        StagedRecord.objects.filter(job_id=job.pk).delete()
        ImportJob.objects.filter(pk=job.pk).update(status=ImportJob.Status.FAILED, error=message, error_where=where[:255],
                                                   detected_format=job.detected_format or "",
                                                   finished_at=timezone.now(), updated_at=timezone.now())
        history_record(actor=job.created_by, target=job, verb="failed", after={"error": message, "where": where})
    job.refresh_from_db()
    return job

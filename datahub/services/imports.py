"""Importing a file into a dataset: an ImportJob per file, run by the background worker or by a command.

Streaming and all or nothing: rows are read one at a time, validated, and staged in chunks (the COPY lines of the
chunk's records, in a file beside the upload); each chunk commits together with the job's resume point, so memory stays
flat and a restarted job continues from its last committed row without duplicating any. The staged chunks reach Record
inside one transaction that commits with the job's success (exact duplicates left out, the first copy kept), so the
dataset sees all of the file or none of it; on PostgreSQL that transaction copies each chunk while the next is being
read (datahub.services.import_staging). Chunks go in through COPY on PostgreSQL, bulk_create elsewhere.

With `skip_invalid` a bad row is written to the job's error report (line, field, reason) and left out instead.
"""

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

from common.db import tables_analyze_after_commit
from common.errors import ApplicationError
from common.history import history_record
from common.storage import storage_path, workspace_storage_relative
from datahub.canonical import MAX_RECORD_CHARS
from datahub.files import file_rows, jsonl_line_parse, jsonl_raw_lines
from datahub.formats import AUTO, column_map_check, row_format
from datahub.models import IMPORT_STALE_AFTER, Dataset, ImportJob, ImportRowError, Record, Source
from datahub.services.import_rows import (
    ChunkParser,
    RowRules,
    record_line,
    record_line_start,
    row_checked,
    row_hashes,
    row_prepared,
)
from datahub.services.import_staging import StagedFile, ThreadMover, mover_for, search_index_pending

# Rows per committed chunk: the unit of progress, of resuming, and of one COPY (setting DATAHUB_IMPORT_CHUNK_ROWS).
CHUNK_ROWS = 5000
STALE_AFTER = IMPORT_STALE_AFTER
DEFAULT_MAX_RECORD_CHARS = getattr(settings, "DATAHUB_MAX_RECORD_CHARS", MAX_RECORD_CHARS)

ProgressCallback = Callable[[int, int], None]

_FIELD_IN_MESSAGE = re.compile(r"field '([^']+)'")


def _stored_name(file_name: str) -> str:
    name = get_valid_filename(Path(file_name).name or "upload") or "upload"
    return name[-100:]


def import_job_create(
    *,
    dataset: Dataset,
    file_name: str,
    format: str = AUTO,
    source: Source | None = None,
    created_by=None,
    uploaded_file=None,
    path: Path | str | None = None,
    run_in_background: bool = True,
    container: str = "",
    column_map: dict | None = None,
    skip_invalid: bool = False,
    max_record_chars: int | None = None,
    dataset_is_new: bool = False,
) -> ImportJob:
    """Store the file (an upload, or a path on this machine) and queue its import.

    Give exactly one of `uploaded_file` (a Django UploadedFile) and `path`. With `run_in_background` the
    job is enqueued once the transaction commits; without, the caller runs `import_job_run` itself
    (the management command does, to show progress). `container` overrides detection of JSON / JSONL /
    CSV / TSV / Parquet; `column_map` renames file columns to the fields the format reads; `skip_invalid`
    keeps good rows and reports bad ones; `max_record_chars` bounds one record's size. `dataset_is_new` says the
    dataset was made for this import (dataset_import_new): should the import fail, the dataset goes with it.
    """
    if format not in ImportJob.Format.values:
        raise ApplicationError(
            f"unknown format {format!r}; choose one of {', '.join(ImportJob.Format.values)}", where="format"
        )
    container = container or ""
    if container not in ImportJob.Container.values:
        raise ApplicationError(
            f"unknown container {container!r}; choose one of {', '.join(v for v in ImportJob.Container.values if v)}",
            where="container",
        )
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
    folder = f"{workspace_storage_relative(dataset.workspace_id)}/imports/dataset-{dataset.pk}/{uuid.uuid4().hex}"
    relative = f"{folder}/{_stored_name(file_name)}"
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
                dataset=dataset,
                source=source,
                file_name=Path(file_name).name[:255],
                file_path=relative,
                format=format,
                container=container,
                column_map=column_map,
                skip_invalid=skip_invalid,
                max_record_chars=max_record_chars,
                dataset_is_new=dataset_is_new,
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
    from datahub.tasks import import_job_run_task

    transaction.on_commit(lambda: import_job_run_task.enqueue(import_job_id=job.pk))


def import_job_is_stale(job: ImportJob, *, now=None, stale_after: timedelta = STALE_AFTER) -> bool:
    """A running job whose progress has not been written for `stale_after`: its worker died."""
    return job.is_stale_at(now or timezone.now(), stale_after)


def import_job_resume(*, job: ImportJob, actor=None, run_in_background: bool = True, now=None,
                      stale_after: timedelta = STALE_AFTER) -> ImportJob:
    """Queue a stale running job again; it continues from its last committed row.

    Precondition: the job is stale (see import_job_is_stale); any other job is refused, so a live worker
    is never raced.
    """
    with transaction.atomic():
        job = ImportJob.objects.select_for_update().get(pk=job.pk)
        if not import_job_is_stale(job, now=now, stale_after=stale_after):
            raise ApplicationError(
                f"import job {job.pk} is {job.status} and still moving; only a stalled running import resumes",
                where="status",
                code="not_stale",
            )
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
    and is raised again. Records whose full-text indexing the move deferred are indexed before returning.
    """
    with transaction.atomic():
        job = ImportJob.objects.select_related("created_by").select_for_update(of=("self",)).get(pk=job.pk)
        if job.status != ImportJob.Status.QUEUED:
            return job
        job.status = ImportJob.Status.RUNNING
        job.save(update_fields=["status", "updated_at"])
        history_record(actor=job.created_by, target=job, verb="started", after={"resume_row": job.resume_row})
    if job.resume_row and not StagedFile(job).intact():
        _job_restart(job)
    mover = mover_for(job)
    try:
        # A resumed job's committed chunks move first, in file order, then the rest as it is read.
        if job.resume_row:
            mover.resume(job.staged_bytes)
        _rows_stage(job, on_progress, mover)
        mover.commit(
            lambda created, duplicates: _job_succeed(job, created, duplicates, search_pending=mover.defers_search)
        )
    except ApplicationError as exc:
        mover.abort()
        return _job_fail(job, message=exc.message, where=exc.where)
    except Exception as exc:
        mover.abort()
        _job_fail(job, message=f"unexpected error: {exc.__class__.__name__}: {exc}", where="")
        raise
    except BaseException:
        mover.abort()
        raise
    search_index_pending(dataset_id=job.dataset_id)
    tables_analyze_after_commit(Record)
    job.search_pending = False
    if on_progress is not None:
        on_progress(job.processed, job.total)
    return job


def _job_restart(job: ImportJob) -> None:
    """Start the file again: its staged records are gone or damaged (the machine went down before writing them out)."""
    with transaction.atomic():
        ImportRowError.objects.filter(job=job).delete()
        history_record(actor=job.created_by, target=job, verb="restarted",
                       after={"reason": "staged rows lost", "resume_row": job.resume_row})
        job.resume_row = job.processed = job.invalid_count = job.staged_bytes = job.staged_crc = 0
        ImportJob.objects.filter(pk=job.pk).update(
            resume_row=0, processed=0, invalid_count=0, staged_bytes=0, staged_crc=0, updated_at=timezone.now()
        )
    StagedFile(job).discard()


def _row_error(job: ImportJob, line: int, message: str, where: str) -> ImportRowError:
    """A row skip_invalid leaves out. Its field: what follows "line N, " in where, else a quoted field in the
    message."""
    where = where or ""
    if ", " in where:
        field = where.split(", ", 1)[1]
    else:
        found = _FIELD_IN_MESSAGE.search(message)
        field = found.group(1) if found else ""
    return ImportRowError(job_id=job.pk, line=_line_of(where) or line, field=field[:255], reason=message)


def _line_of(where: str) -> int:
    found = re.match(r"line (\d+)", where or "")
    return int(found.group(1)) if found else 0


def _rows_stage(job: ImportJob, on_progress: ProgressCallback | None, mover) -> None:
    path = Path(storage_path(job.file_path))
    if not path.is_file():
        raise ApplicationError("the stored file is missing", where=job.file_name, code="not_found")
    opened = file_rows(path, container=job.container or None, tolerant=job.skip_invalid)
    job.total, job.encoding, job.detected_container = opened.total, opened.encoding, opened.container
    ImportJob.objects.filter(pk=job.pk).update(
        total=job.total, encoding=job.encoding, detected_container=job.detected_container, updated_at=timezone.now()
    )
    if on_progress is not None:
        on_progress(job.resume_row, job.total)
    # A resumed job keeps the format its first run detected: a restart must read the file the same way.
    row_kind = job.detected_format or (None if job.format == AUTO else job.format)
    job.detected_format = row_kind or ""
    chunk_rows = getattr(settings, "DATAHUB_IMPORT_CHUNK_ROWS", CHUNK_ROWS)
    line_start = record_line_start(dataset_id=job.dataset_id, source_id=job.source_id, job_id=job.pk)
    rules = RowRules(column_map=job.column_map, max_record_chars=job.max_record_chars, skip_invalid=job.skip_invalid,
                     line_start=line_start, path=str(path), encoding=opened.encoding)
    parallel = _parser_process_fits(opened, job, mover, chunk_rows)
    if parallel:
        # Raw lines, parsed here for the first chunk and by the parser process after it.
        raw = jsonl_raw_lines(path, opened.encoding)
        rows = ((line, jsonl_line_parse(path, opened.encoding, job.skip_invalid, line, data)) for line, data in raw)
    else:
        rows = opened.rows
    for _ in zip(range(job.resume_row), raw if parallel else rows):
        pass  # rows already staged by an earlier run
    reader = _ChunkReader(job, rules, row_kind, rows, chunk_rows)
    staged = StagedFile(job)
    parser = None
    try:
        while True:
            with transaction.atomic():
                # A crash may lose this commit, but then it loses the chunk's resume point and staged length together
                # (the next run writes over the lines it finds past that length).
                _synchronous_commit_off()
                read, lines, records = reader.chunk() if parser is None else reader.chunk_from(parser)
                job.resume_row += read
                staged.append(lines)
                if reader.errors:
                    ImportRowError.objects.bulk_create(reader.errors, batch_size=2000)
                job.processed = job.resume_row
                job.invalid_count += len(reader.errors)
                ImportJob.objects.filter(pk=job.pk).update(
                    resume_row=job.resume_row,
                    processed=job.processed,
                    invalid_count=job.invalid_count,
                    staged_bytes=job.staged_bytes,
                    staged_crc=job.staged_crc,
                    detected_format=job.detected_format,
                    updated_at=timezone.now(),
                )
            if on_progress is not None:
                on_progress(job.processed, job.total)
            mover.move(lines, records)
            if read < chunk_rows:
                return
            if parallel and parser is None and reader.row_kind is not None:
                parser = ChunkParser(rules, reader.row_kind, raw, chunk_rows)
    finally:
        if parser is not None:
            parser.close()


def _parser_process_fits(opened, job: ImportJob, mover, chunk_rows: int) -> bool:
    """A parser process pays for its start (about a second) on long UTF-8 JSONL files moved by a ThreadMover."""
    return (isinstance(mover, ThreadMover) and opened.container == "jsonl" and opened.encoding in ("utf-8", "utf-8-sig")
            and getattr(settings, "DATAHUB_IMPORT_PARSER_PROCESS", True)
            and opened.total - job.resume_row > 2 * chunk_rows)


def _synchronous_commit_off() -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit TO OFF")


class _ChunkReader:
    """Reads and validates the file's rows a chunk at a time; keeps the format the first row decided."""

    def __init__(self, job: ImportJob, rules: RowRules, row_kind: str | None, rows, chunk_rows: int):
        self.job, self.rules, self.row_kind, self.rows, self.chunk_rows = job, rules, row_kind, rows, chunk_rows
        self.errors: list[ImportRowError] = []

    def chunk(self) -> tuple[int, str, int]:
        """(rows read, bad ones included; the record lines of the good ones; how many) of up to chunk_rows rows."""
        job = self.job
        self.errors = []
        lines = []
        read = 0
        for line, row in self.rows:
            read += 1
            try:
                row = row_prepared(self.rules, line, row)
                if self.row_kind is None:
                    # The first row decides for the whole file: a later row of another shape is an error, not a guess.
                    self.row_kind = job.detected_format = row_format(row, line=line)
                clean, parts = row_checked(self.rules, self.row_kind, line, row)
            except ApplicationError as exc:
                if not job.skip_invalid:
                    raise
                self.errors.append(_row_error(job, line, exc.message, exc.where))
            else:
                lines.append(record_line(self.rules, clean, parts, row, row_hashes(clean, parts), line))
            if read == self.chunk_rows:
                break
        return read, "".join(lines), len(lines)

    def chunk_from(self, parser: ChunkParser) -> tuple[int, str, int]:
        """The next chunk as the parser process read it."""
        read, lines, records, errors, stop = parser.next()
        if stop is not None:
            raise ApplicationError(stop[0], where=stop[1], code=stop[2])
        self.errors = [_row_error(self.job, line, message, where) for line, message, where in errors]
        return read, lines, records


def _job_succeed(job: ImportJob, created: int, duplicates: int, *, search_pending: bool) -> None:
    """Mark the job succeeded; called by the mover inside the transaction that makes its records visible.

    The staged records go now: should this commit be lost, the resumed job finds them gone and reads its file again."""
    StagedFile(job).discard()
    job.status = ImportJob.Status.SUCCEEDED
    job.processed = job.total
    job.created_count, job.duplicate_count = created, duplicates
    job.search_pending = search_pending and created > 0
    job.finished_at = timezone.now()
    ImportJob.objects.filter(pk=job.pk).update(status=job.status, processed=job.processed, created_count=created,
                                               duplicate_count=duplicates, search_pending=job.search_pending,
                                               finished_at=job.finished_at, detected_format=job.detected_format,
                                               updated_at=job.finished_at)
    history_record(
        actor=job.created_by,
        target=job,
        verb="succeeded",
        after={
            "created": created,
            "duplicates": duplicates,
            "invalid": job.invalid_count,
            "format": job.detected_format,
        },
    )


def _job_fail(job: ImportJob, *, message: str, where: str) -> ImportJob:
    StagedFile(job).discard()
    with transaction.atomic():
        ImportJob.objects.filter(pk=job.pk).update(
            status=ImportJob.Status.FAILED,
            error=message,
            error_where=where[:255],
            detected_format=job.detected_format or "",
            finished_at=timezone.now(),
            updated_at=timezone.now(),
        )
        history_record(actor=job.created_by, target=job, verb="failed", after={"error": message, "where": where})
    job.refresh_from_db()
    if job.dataset_is_new:
        _new_dataset_remove(job)
    return job


def _new_dataset_remove(job: ImportJob) -> None:
    """A dataset made for an import that failed goes too, unless something else has meanwhile put records, versions
    or another import into it. Its history row keeps the import's error, for the page that was waiting on the job."""
    from datahub.services.datasets import dataset_delete

    with transaction.atomic():
        dataset = Dataset.objects.select_for_update().filter(pk=job.dataset_id).first()
        if (
            dataset is None
            or dataset.records.exists()
            or dataset.versions.exists()
            or dataset.import_jobs.exclude(pk=job.pk).exists()
        ):
            return
        dataset_delete(
            dataset=dataset,
            deleted_by=job.created_by,
            reason={"import_job": job.pk, "file_name": job.file_name, "error": job.error, "where": job.error_where},
        )


@transaction.atomic
def dataset_import_new(*, workspace, name: str, description: str = "", created_by=None, **import_options) -> ImportJob:
    """Create a dataset together with its first import (import_job_create's options). A file refused at once
    creates nothing; an import that fails later removes the dataset again: no empty dataset is left behind."""
    from datahub.services.datasets import dataset_create

    dataset = dataset_create(workspace=workspace, name=name, description=description, created_by=created_by)
    return import_job_create(dataset=dataset, created_by=created_by, dataset_is_new=True, **import_options)

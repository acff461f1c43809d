"""Importing a file into a dataset: an ImportJob per file, run by the background worker or by a command.

All or nothing: rows are read and validated first (with progress saved as it goes), then every record is
inserted in one transaction at the end, so a bad row anywhere leaves the dataset untouched.
"""

import shutil
import uuid
from collections.abc import Callable
from pathlib import Path

from django.db import transaction
from django.utils import timezone
from django.utils.text import get_valid_filename

from common.errors import ApplicationError
from common.history import history_record
from common.storage import storage_path
from datahub.formats import AUTO, file_rows, row_canonical, row_format
from datahub.models import Dataset, ImportJob, Record, Source
from datahub.services.records import record_build, records_insert

# Progress is written every this many rows: often enough for a live bar, rarely enough to cost nothing.
PROGRESS_EVERY = 2000

ProgressCallback = Callable[[int, int], None]


def _stored_name(file_name: str) -> str:
    name = get_valid_filename(Path(file_name).name or "upload") or "upload"
    return name[-100:]


def import_job_create(*, dataset: Dataset, file_name: str, format: str = AUTO, source: Source | None = None, created_by=None,
                      uploaded_file=None, path: Path | str | None = None, run_in_background: bool = True) -> ImportJob:
    """Store the file (an upload, or a path on this machine) and queue its import.

    Give exactly one of `uploaded_file` (a Django UploadedFile) and `path`. With `run_in_background` the
    job is enqueued once the transaction commits; without, the caller runs `import_job_run` itself
    (the management command does, to show progress).
    """
    if format not in ImportJob.Format.values:
        raise ApplicationError(f"unknown format {format!r}; choose one of {', '.join(ImportJob.Format.values)}", where="format")
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
                created_by=created_by if created_by is not None and created_by.is_authenticated else None,
            )
            history_record(actor=created_by, target=job, verb="created", after={"file_name": job.file_name, "format": format})
            if run_in_background:
                from datahub.tasks import import_job_execute

                transaction.on_commit(lambda: import_job_execute.enqueue(import_job_id=job.pk))
    except BaseException:
        shutil.rmtree(destination.parent, ignore_errors=True)
        raise
    return job


def import_job_run(*, job: ImportJob, on_progress: ProgressCallback | None = None) -> ImportJob:
    """Read, validate and insert the job's file; return the job, succeeded or failed.

    Precondition: the job is queued; a job in any other state is returned untouched, so running a job
    twice (a retried task, a command racing the worker) imports it once. Bad data marks the job failed
    with the message and where it happened; an unexpected error does too, and is raised again.
    """
    with transaction.atomic():
        job = ImportJob.objects.select_for_update().get(pk=job.pk)
        if job.status != ImportJob.Status.QUEUED:
            return job
        job.status = ImportJob.Status.RUNNING
        job.save(update_fields=["status", "updated_at"])
        history_record(actor=job.created_by, target=job, verb="started")
    try:
        records = _records_read(job, on_progress)
        with transaction.atomic():
            # One import at a time per dataset, so duplicate counts are exact and the unique constraint never trips.
            Dataset.objects.select_for_update().filter(pk=job.dataset_id).first()
            created, duplicates = records_insert(dataset=job.dataset, records=records)
            job.status = ImportJob.Status.SUCCEEDED
            job.processed = job.total = len(records)
            job.created_count, job.duplicate_count = created, duplicates
            job.finished_at = timezone.now()
            job.save()
            history_record(actor=job.created_by, target=job, verb="succeeded",
                           after={"created": created, "duplicates": duplicates, "format": job.detected_format})
    except ApplicationError as exc:
        return _job_fail(job, message=exc.message, where=exc.where)
    except Exception as exc:
        _job_fail(job, message=f"unexpected error: {exc.__class__.__name__}: {exc}", where="")
        raise
    if on_progress is not None:
        on_progress(job.processed, job.total)
    return job


def _records_read(job: ImportJob, on_progress: ProgressCallback | None) -> list[Record]:
    path = Path(storage_path(job.file_path))
    if not path.is_file():
        raise ApplicationError("the stored file is missing", where=job.file_name, code="not_found")
    opened = file_rows(path)
    job.total = opened.total
    _progress_save(job, 0, on_progress)
    row_kind = None if job.format == AUTO else job.format
    job.detected_format = row_kind or ""
    records: list[Record] = []
    for count, (line, row) in enumerate(opened.rows, start=1):
        if row_kind is None:
            # The first row decides for the whole file: a later row of another shape is an error, not a guess.
            row_kind = row_format(row, line=line)
            job.detected_format = row_kind
        clean = row_canonical(row, format=row_kind, line=line)
        records.append(record_build(dataset=job.dataset, clean=clean, source=job.source, raw=row, import_job=job, line_number=line))
        if count % PROGRESS_EVERY == 0:
            _progress_save(job, count, on_progress)
    return records


def _progress_save(job: ImportJob, processed: int, on_progress: ProgressCallback | None) -> None:
    """Written outside any transaction, so pages and the API see the count while the job runs."""
    job.processed = processed
    ImportJob.objects.filter(pk=job.pk).update(processed=processed, total=job.total, detected_format=job.detected_format,
                                               updated_at=timezone.now())
    if on_progress is not None:
        on_progress(processed, job.total)


def _job_fail(job: ImportJob, *, message: str, where: str) -> ImportJob:
    with transaction.atomic():
        ImportJob.objects.filter(pk=job.pk).update(status=ImportJob.Status.FAILED, error=message, error_where=where[:255],
                                                   finished_at=timezone.now(), updated_at=timezone.now())
        history_record(actor=job.created_by, target=job, verb="failed", after={"error": message, "where": where})
    job.refresh_from_db()
    return job

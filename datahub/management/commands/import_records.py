"""Import a file (JSON, JSONL, CSV, TSV, Parquet; any supported format) into a dataset, through the same service as
uploads, or resume a stalled import with --resume JOB_ID."""

import time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from common.errors import ApplicationError
from accounts.lookups import workspace_named
from datahub.lookups import dataset_named
from datahub.models import ImportJob
from datahub.selectors import dataset_by_name, source_by_name
from datahub.services.datasets import source_create
from datahub.services.imports import dataset_import_new, import_job_create, import_job_resume, import_job_run


class Command(BaseCommand):
    help = (
        "Import records from a JSON, JSONL, CSV, TSV or Parquet file into a dataset (all or nothing unless "
        "--skip-invalid; "
        "exact duplicates are skipped)."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path, nargs="?", help="a .json, .jsonl, .csv, .tsv or .parquet file")
        parser.add_argument("--workspace", help="workspace name")
        parser.add_argument("--dataset", help="dataset name")
        parser.add_argument("--source", help="source name (created with --create when missing)")
        parser.add_argument("--format", default=ImportJob.Format.AUTO, choices=ImportJob.Format.values,
                            help="row format; auto detects it from the first row (default)")
        parser.add_argument("--container", default="", choices=[v for v in ImportJob.Container.values if v],
                            help="file container; detected from the extension and content when left out")
        parser.add_argument(
            "--map",
            action="append",
            default=[],
            metavar="FIELD=COLUMN",
            help="read the format's FIELD from the file's COLUMN (repeatable), e.g. --map instruction=question",
        )
        parser.add_argument(
            "--skip-invalid", action="store_true", help="keep good rows, report bad ones (default: all or nothing)"
        )
        parser.add_argument("--max-record-chars", type=int, help="reject records larger than this many characters")
        parser.add_argument(
            "--resume", type=int, metavar="JOB_ID", help="resume a stalled import job (its worker died)"
        )
        parser.add_argument("--create", action="store_true", help="create the dataset (and the source) when missing")

    def handle(self, *args, **options):
        if options["resume"] is not None:
            job = self._resumed(options["resume"])
            place = job.file_name
        else:
            job = self._created(options)
            place = str(options["file"])
        job = import_job_run(job=job, on_progress=self._progress())
        self.stderr.write("")
        if job.status != ImportJob.Status.SUCCEEDED:
            where = f", {job.error_where}" if job.error_where else ""
            removed = "; the dataset made for it was removed" if job.dataset_is_new else ""
            raise CommandError(f"{place}{where}: {job.error} (nothing was imported{removed})")
        invalid = (
            f", left out {job.invalid_count} invalid rows (report: import job {job.pk} errors)"
            if job.invalid_count
            else ""
        )
        self.stdout.write(f"created {job.created_count} records, skipped {job.duplicate_count} duplicates{invalid} "
                          f"({job.detected_format}, {job.detected_container}, {job.encoding}, import job {job.pk}, "
                          f"dataset {job.dataset.name!r})")

    def _resumed(self, job_id: int) -> ImportJob:
        job = ImportJob.objects.select_related("dataset").filter(pk=job_id).first()
        if job is None:
            raise CommandError(f"--resume: no import job {job_id}")
        try:
            job = import_job_resume(job=job, run_in_background=False)
        except ApplicationError as exc:
            raise CommandError(f"--resume {job_id}: {exc.message}") from exc
        self.stderr.write(f"resuming import job {job.pk} after row {job.resume_row}")
        return job

    def _created(self, options) -> ImportJob:
        path: Path | None = options["file"]
        if path is None or not options["workspace"] or not options["dataset"]:
            raise CommandError("give a file, --workspace and --dataset (or --resume JOB_ID)")
        if not path.is_file():
            raise CommandError(f"{path}: no such file")
        column_map = {}
        for pair in options["map"]:
            field, _, column = pair.partition("=")
            if not field or not column:
                raise CommandError(f"--map {pair!r}: expected FIELD=COLUMN")
            column_map[field] = column
        workspace = workspace_named(options["workspace"])
        name = options["dataset"]
        import_options = {
            "path": path,
            "file_name": path.name,
            "format": options["format"],
            "run_in_background": False,
            "container": options["container"],
            "column_map": column_map,
            "skip_invalid": options["skip_invalid"],
            "max_record_chars": options["max_record_chars"],
        }
        try:
            # One transaction: a refused file leaves no dataset or source made for it; a failed import removes the
            # dataset it made (dataset_import_new).
            with transaction.atomic():
                source = self._source(workspace, options["source"], create=options["create"])
                if options["create"] and dataset_by_name(workspace_name=workspace.name, dataset_name=name) is None:
                    self.stderr.write(f"creating dataset {name!r}")
                    return dataset_import_new(workspace=workspace, name=name, source=source, **import_options)
                return import_job_create(dataset=dataset_named(workspace, name), source=source, **import_options)
        except ApplicationError as exc:
            raise CommandError(str(exc)) from exc

    def _source(self, workspace, name: str | None, *, create: bool):
        if not name:
            return None
        source = source_by_name(workspace=workspace, name=name)
        if source is not None:
            return source
        if not create:
            raise CommandError(
                f"--source: no source named {name!r} in workspace {workspace.name!r} (add --create to create it)"
            )
        self.stderr.write(f"creating source {name!r}")
        return source_create(workspace=workspace, name=name)

    def _progress(self):
        started = time.monotonic()
        stream = self.stderr

        def report(processed: int, total: int) -> None:
            rate = processed / max(time.monotonic() - started, 1e-6)
            percent = 100 * processed // total if total else 100
            stream.write(f"\rread {processed}/{total} rows ({percent}%, {rate:,.0f} rows/s)", ending="")
            stream.flush()

        return report

"""Import an Alpaca / messages / preference / KTO file (JSON or JSONL) into a dataset, through the same service as uploads."""

import time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from common.errors import ApplicationError
from datahub.management.commands._lookup import dataset_named, workspace_named
from datahub.models import ImportJob
from datahub.selectors import dataset_by_name, source_by_name
from datahub.services.datasets import dataset_create, source_create
from datahub.services.imports import import_job_create, import_job_run


class Command(BaseCommand):
    help = "Import records from a JSON or JSONL file into a dataset (all or nothing; exact duplicates are skipped)."

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path, help="a .json (array of rows) or .jsonl (one row per line) file")
        parser.add_argument("--workspace", required=True, help="workspace name")
        parser.add_argument("--dataset", required=True, help="dataset name")
        parser.add_argument("--source", help="source name (created with --create when missing)")
        parser.add_argument("--format", default=ImportJob.Format.AUTO, choices=ImportJob.Format.values,
                            help="row format; auto detects it from the first row (default)")
        parser.add_argument("--create", action="store_true", help="create the dataset (and the source) when missing")

    def handle(self, *args, **options):
        path: Path = options["file"]
        if not path.is_file():
            raise CommandError(f"{path}: no such file")
        workspace = workspace_named(options["workspace"])
        try:
            dataset = self._dataset(workspace, options["dataset"], create=options["create"])
            source = self._source(workspace, options["source"], create=options["create"])
            job = import_job_create(dataset=dataset, path=path, file_name=path.name, format=options["format"], source=source,
                                    run_in_background=False)
        except ApplicationError as exc:
            raise CommandError(str(exc)) from exc
        job = import_job_run(job=job, on_progress=self._progress())
        self.stderr.write("")
        if job.status != ImportJob.Status.SUCCEEDED:
            where = f", {job.error_where}" if job.error_where else ""
            raise CommandError(f"{path}{where}: {job.error} (nothing was imported)")
        self.stdout.write(f"created {job.created_count} records, skipped {job.duplicate_count} duplicates "
                          f"({job.detected_format}, import job {job.pk}, dataset {dataset.name!r})")

    def _dataset(self, workspace, name: str, *, create: bool):
        if create and dataset_by_name(workspace_name=workspace.name, dataset_name=name) is None:
            self.stderr.write(f"creating dataset {name!r}")
            return dataset_create(workspace=workspace, name=name)
        return dataset_named(workspace, name)

    def _source(self, workspace, name: str | None, *, create: bool):
        if not name:
            return None
        source = source_by_name(workspace=workspace, name=name)
        if source is not None:
            return source
        if not create:
            raise CommandError(f"--source: no source named {name!r} in workspace {workspace.name!r} (add --create to create it)")
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

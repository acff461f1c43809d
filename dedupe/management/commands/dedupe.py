"""Dedupe a dataset's current records (or one version) through the same services as the browser and the API:
a dry run with a progress bar and a summary; --apply freezes the kept records as a new version."""

import time

from django.core.management.base import BaseCommand, CommandError

from accounts.lookups import workspace_named
from common.errors import ApplicationError
from datahub.lookups import dataset_named
from datahub.selectors import version_by_number
from dedupe.models import DedupeRun
from dedupe.services import dedupe_run_apply, dedupe_run_create, dedupe_run_execute


class Command(BaseCommand):
    help = ("Find exact, near-duplicate and semantic duplicates in a dataset (a dry run: nothing changes); "
            "--apply freezes the kept records as a new version.")

    def add_arguments(self, parser):
        # --version names the dataset version here, so Django's own --version (print Django's version) gives way.
        for action in list(parser._actions):
            if "--version" in action.option_strings:
                parser._handle_conflict_resolve(None, [("--version", action)])
        parser.add_argument("--workspace", required=True, help="workspace name")
        parser.add_argument("--dataset", required=True, help="dataset name")
        parser.add_argument("--version", type=int, help="dedupe this version number (default: the current records)")
        parser.add_argument(
            "--no-exact", action="store_true", help="skip the exact stage (content hash and normalised key)"
        )
        parser.add_argument("--no-near", action="store_true", help="skip the near-duplicate stage (MinHash LSH)")
        parser.add_argument("--no-semantic", action="store_true", help="skip the semantic stage (embeddings)")
        parser.add_argument("--near-threshold", type=float, default=0.8, help="Jaccard threshold (default 0.8)")
        parser.add_argument("--cosine", type=float, default=0.95, help="cosine threshold, 1 - epsilon (default 0.95)")
        parser.add_argument(
            "--model", default="", help="a local sentence-transformers directory (default all-MiniLM-L6-v2)"
        )
        parser.add_argument("--seed", type=int, default=0, help="split seed when applying over current records")
        parser.add_argument("--apply", action="store_true", help="apply the proposed decisions as a new version")

    def handle(self, *args, **options):
        workspace = workspace_named(options["workspace"])
        dataset = dataset_named(workspace, options["dataset"])
        version = None
        if options["version"] is not None:
            version = version_by_number(dataset=dataset, number=options["version"])
            if version is None:
                raise CommandError(f"--version: dataset {dataset.name!r} has no version {options['version']}")
        try:
            run = dedupe_run_create(dataset=dataset, version=version, use_exact=not options["no_exact"],
                                    use_near=not options["no_near"], use_semantic=not options["no_semantic"],
                                    near_threshold=options["near_threshold"], cosine_threshold=options["cosine"],
                                    embedding_model=options["model"], seed=options["seed"], run_in_background=False)
        except ApplicationError as exc:
            raise CommandError(f"--{exc.where.replace('_', '-')}: {exc.message}" if exc.where else exc.message) from exc
        run = dedupe_run_execute(run=run, on_progress=self._progress())
        self.stderr.write("")
        if run.status != DedupeRun.Status.DRY_RUN_READY:
            raise CommandError(f"dedupe run {run.pk} failed: {run.error}")
        leakage = run.leakage.get("pairs", 0)
        self.stdout.write(f"dedupe run {run.pk}: {run.record_count} records, {run.cluster_count} clusters, "
                          f"{run.drop_count} to drop, {leakage} duplicate pairs across splits, "
                          f"{run.embedded_count} texts embedded ({run.timings.get('total', 0):.1f} s)")
        if options["apply"]:
            try:
                applied = dedupe_run_apply(run=run)
            except ApplicationError as exc:
                raise CommandError(exc.message) from exc
            counts = applied.counts
            self.stdout.write(
                f"applied: version {applied.number} of {dataset.name!r} with {sum(counts.values())} records "
                f"({counts['train']} train, {counts['validation']} validation, {counts['test']} test)"
            )
        else:
            self.stdout.write("dry run only: review it in the browser, or run again with --apply")

    def _progress(self):
        started = time.monotonic()
        stream = self.stderr

        def report(phase: str, done: int, total: int) -> None:
            percent = 100 * done // total if total else 100
            filled = percent // 5
            stream.write(
                f"\r{phase:<7} [{'#' * filled}{'.' * (20 - filled)}] {done}/{total} ({time.monotonic() - started:.1f} "
                "s)",
                ending="",
            )
            stream.flush()

        return report

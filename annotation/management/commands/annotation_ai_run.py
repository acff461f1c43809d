"""Run an AI annotator of a project over its next items, in this process, with a progress line."""

import time

from django.core.management.base import BaseCommand, CommandError

from annotation.management.commands._lookup import project_numbered
from annotation.selectors import ai_annotator_by_name, ai_annotators_of
from annotation.services import ai_run_create, ai_run_execute
from annotation.services.ai_annotators import MAX_LIMIT
from common.errors import ApplicationError


class Command(BaseCommand):
    help = (
        "Let an AI annotator of a project label up to --limit items through the project's queue (the same claim and "
        "submit as people). Answers that name no usable label are recorded as failures and the item is given back."
    )

    def add_arguments(self, parser):
        parser.add_argument("--project", type=int, required=True, help="annotation project id")
        parser.add_argument("--annotator", required=True, help="name of the project's AI annotator")
        parser.add_argument(
            "--limit", type=int, default=100, help=f"items to label at most (1..{MAX_LIMIT}, default 100)"
        )

    def handle(self, *args, **options):
        project = project_numbered(options["project"])
        ai = ai_annotator_by_name(project=project, name=options["annotator"])
        if ai is None:
            names = [a.name for a in ai_annotators_of(project=project)]
            known = f"; its AI annotators: {', '.join(names)}" if names else "; it has no AI annotator yet"
            raise CommandError(
                f"--annotator: project {project.pk} has no AI annotator named {options['annotator']!r}{known}"
            )
        try:
            run = ai_run_create(ai_annotator=ai, limit=options["limit"], enqueue=False)
        except ApplicationError as error:
            option = {"limit": "--limit"}.get(error.where, error.where)
            raise CommandError(f"{option}: {error.message}") from None
        run = ai_run_execute(run=run, on_progress=self._progress())
        self.stderr.write("")
        summary = f"run {run.pk}: {run.annotated} annotated, {run.failed} failed, {run.processed} of {run.limit} items"
        if run.status == run.Status.FAILED:
            raise CommandError(f"{summary}; the run failed: {run.error}")
        self.stdout.write(
            summary if run.processed == run.limit else f"{summary} (nothing else is left for {ai.name!r})"
        )

    def _progress(self):
        started = time.monotonic()
        stream = self.stderr

        def report(processed: int, total: int) -> None:
            rate = processed / max(time.monotonic() - started, 1e-6)
            stream.write(
                f"\rlabelled {processed}/{total} items ({100 * processed // total}%, {rate:,.1f} items/s)", ending=""
            )
            stream.flush()

        return report

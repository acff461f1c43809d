"""Score every record of a source (rules or an LLM judge); print the mean, the suggested tier and the worst records."""

from django.core.management.base import BaseCommand, CommandError

from accounts.lookups import workspace_named
from augmentation.lookups import endpoint_named, error_text, progress_bar, source_named
from augmentation.models import GradingRun, JobStatus
from augmentation.selectors import source_quality_report
from augmentation.services.grading import grading_run_create, grading_run_execute
from common.errors import ApplicationError
from datahub.services.datasets import source_quality_tier_set


class Command(BaseCommand):
    help = "Grade a source's records (quality score 0-1 with reasons); --set-tier applies the suggested quality tier."

    def add_arguments(self, parser):
        parser.add_argument("--workspace", required=True)
        parser.add_argument("--source", required=True)
        parser.add_argument("--method", choices=GradingRun.Method.values, default=GradingRun.Method.RULES)
        parser.add_argument("--endpoint", help="model endpoint name (llm_judge)")
        parser.add_argument("--language", default="", help="expected answer language (en, zh); default: the prompt's")
        parser.add_argument("--set-tier", action="store_true", help="set the source's tier to the suggested one")
        parser.add_argument("--worst", type=int, default=5, help="how many of the worst records to print")

    def handle(self, *args, **options):
        workspace = workspace_named(options["workspace"])
        source = source_named(workspace, options["source"])
        try:
            run = grading_run_create(
                source=source,
                method=options["method"],
                endpoint=endpoint_named(workspace, options["endpoint"]),
                options={"language": options["language"]},
                run_in_background=False,
            )
        except ApplicationError as exc:
            raise CommandError(error_text(exc)) from exc
        run = grading_run_execute(run=run, on_progress=progress_bar(self.stderr, "grading"))
        self.stderr.write("")
        if run.status != JobStatus.SUCCEEDED:
            raise CommandError(f"grading run {run.pk} failed: {run.error}")
        mean = "-" if run.mean_score is None else f"{run.mean_score:.3f}"
        self.stdout.write(
            f"graded {run.processed} records of {source.name!r}: mean {mean}, {run.failed_count} without a score, "
            f"suggested tier {run.suggested_tier or '-'} (now {source.quality_tier})"
        )
        for grade in source_quality_report(source=source, worst=options["worst"])["worst"]:
            reasons = "; ".join(f"{r['code']}: {r['detail']}" for r in grade.reasons) or "no problem found"
            self.stdout.write(f"  record {grade.record_id}: {grade.score:.2f} ({reasons})")
        if options["set_tier"] and run.suggested_tier:
            source_quality_tier_set(source=source, tier=run.suggested_tier)
            self.stdout.write(f"tier of {source.name!r} set to {run.suggested_tier}")

"""Export a project's annotations as the next version of its dataset."""

from django.core.management.base import BaseCommand, CommandError

from accounts.lookups import user_named
from annotation.management.commands._lookup import project_numbered
from annotation.services import annotation_project_export
from annotation.services.export import AGGREGATION_RULE, AGGREGATIONS, OUTPUTS
from common.errors import ApplicationError
from datahub.splits import SPLITS


class Command(BaseCommand):
    help = (
        f"Freeze a project's labels and corrections as a new dataset version (several annotators: {AGGREGATION_RULE})."
    )

    def add_arguments(self, parser):
        parser.add_argument("--project", type=int, required=True, help="annotation project id")
        parser.add_argument("--user", help="user name recorded as the exporter")
        parser.add_argument(
            "--aggregation",
            default="majority",
            help=f"label rule for items several annotators labelled: {', '.join(AGGREGATIONS)} (default majority)",
        )
        parser.add_argument(
            "--output",
            default="records",
            choices=OUTPUTS,
            help="records: the records with their labels (default); preference_pairs: the rankings and A/B "
            "choices as preference records, ready for DPO",
        )

    def handle(self, *args, **options):
        project = project_numbered(options["project"])
        self.stderr.write(f"exporting project {project.name!r} over {project.dataset_version} ...")
        try:
            version = annotation_project_export(project=project, created_by=user_named(options["user"]),
                                                aggregation=options["aggregation"], output=options["output"])
        except ApplicationError as exc:
            if exc.where in ("project", "aggregation"):
                raise CommandError(f"--{exc.where}: {exc.message}") from exc
            raise CommandError(str(exc)) from exc
        detail = version.operation_detail
        counts = ", ".join(f"{split} {version.counts.get(split, 0)}" for split in SPLITS)
        if options["output"] == "preference_pairs":
            self.stdout.write(
                f"exported {version} (id {version.pk}, parent v{version.parent.number}): {detail['pairs']} "
                f"preference pairs ({detail['ranking_pairs']} from {detail['ranked']} ranked items, "
                f"{detail['swapped']} A/B pairs swapped); {counts}"
            )
            return
        self.stdout.write(
            f"exported {version} (id {version.pk}, parent v{version.parent.number}): {detail['annotated']} annotated, "
            f"{detail['corrected']} corrected ({detail['aggregation']}); {counts}"
        )

"""Print a project's agreement over time: Krippendorff's alpha per day or week."""

from django.core.management.base import BaseCommand, CommandError

from annotation.management.commands._lookup import project_numbered
from annotation.dashboard import AGREEMENT_PERIODS, agreement_over_time, ranking_agreement


class Command(BaseCommand):
    help = (
        "Print Krippendorff's alpha (nominal) per day or week over the items of a project with several annotations, "
        "each item counted when its last annotation came in; with a ranking question, Kendall's tau between rankings "
        "too."
    )

    def add_arguments(self, parser):
        parser.add_argument("--project", type=int, required=True, help="annotation project id")
        parser.add_argument("--period", default="week", help=f"{' or '.join(AGREEMENT_PERIODS)} (default week)")

    def handle(self, *args, **options):
        if options["period"] not in AGREEMENT_PERIODS:
            raise CommandError(f"--period: must be one of {', '.join(AGREEMENT_PERIODS)}")
        project = project_numbered(options["project"])
        points = agreement_over_time(project=project, period=options["period"])
        if project.schema.ranking_question:
            items, tau, _ = ranking_agreement(project=project)
            self.stdout.write(f"rankings: {items} items ranked by several annotators, mean Kendall tau "
                              f"{'-' if tau is None else f'{tau:.3f}'}")
        if not points:
            self.stdout.write(f"project {project.name!r}: no item has several annotations yet")
            return
        self.stdout.write(f"{'day' if options['period'] == 'day' else 'week of':<12}{'items':>7}  alpha")
        for point in points:
            alpha = "-" if point.alpha is None else f"{point.alpha:.3f}"
            self.stdout.write(f"{point.start.isoformat():<12}{point.items:>7}  {alpha}")

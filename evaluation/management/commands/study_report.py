"""Print a study's results as JSON, as GET /api/v1/studies/{id}/results/ answers: arms, counts, and per candidate the
support rate, interval, rates, sign test, verdict. A rating study prints what GET /api/v1/studies/{id}/ratings/
answers."""

import json

from django.core.management.base import BaseCommand, CommandError

from evaluation.api.serializers import StudyReportSerializer
from evaluation.models import Study
from evaluation.selectors import study_report


class Command(BaseCommand):
    help = "Print the results of a blind pairwise or 1–5 rating study as JSON."

    def add_arguments(self, parser):
        parser.add_argument("--study", type=int, required=True, help="the study id")

    def handle(self, *args, **options):
        study = Study.objects.filter(pk=options["study"]).first()
        if study is None:
            raise CommandError(f"--study {options['study']}: no study with this id")
        if study.status in (Study.Status.GENERATING, Study.Status.DRAFT):
            self.stderr.write(
                f"study {study.pk} is still {study.status} ({study.progress:.0%} of answers generated); no votes yet"
            )
        elif study.status == Study.Status.FAILED:
            raise CommandError(f"--study {study.pk}: the study failed: {study.error}")
        if study.kind == "rating":
            from evaluation.api.rating_views import RatingSummarySerializer
            from evaluation.rating_results import study_rating_summary

            report = RatingSummarySerializer(study_rating_summary(study=study)).data
        else:
            report = StudyReportSerializer(study_report(study=study)).data
        self.stdout.write(json.dumps(report, ensure_ascii=False, indent=2))

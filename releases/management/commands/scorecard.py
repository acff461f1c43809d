"""Compute a model artifact's scorecard against its base (or print an existing one) as JSON."""

import json

from django.core.management.base import BaseCommand, CommandError

from common.errors import ApplicationError
from releases.models import Scorecard
from releases.scoring import DIMENSIONS, READY_TO_SHIP, RULES
from releases.services.scorecards import scorecard_compute, scorecard_create
from training.models import ModelArtifact


def scorecard_json(scorecard: Scorecard) -> dict:
    return {
        "id": scorecard.pk,
        "artifact": {"id": scorecard.artifact_id, "name": scorecard.artifact.name},
        "baseline": {"id": scorecard.baseline_id, "name": scorecard.baseline.name},
        "status": scorecard.status,
        "error": scorecard.error,
        "weights": scorecard.weights,
        "dimensions": scorecard.dimensions,
        "total": scorecard.total,
        "is_complete": scorecard.is_complete,
        "is_ready_to_ship": scorecard.is_ready_to_ship,
        "ready_to_ship_at": READY_TO_SHIP,
        "rules": {key: str(RULES[key]) for key in DIMENSIONS},
    }


class Command(BaseCommand):
    help = ("Score a model artifact against its base on the five release dimensions (target task, general ability, "
            "speed, resources, deployment) and print the scorecard as JSON.")

    def add_arguments(self, parser):
        parser.add_argument("--artifact", type=int, help="the model artifact's id")
        parser.add_argument("--report", type=int, help="print this existing scorecard and stop")
        parser.add_argument("--queue", action="store_true", help="leave the work to a worker instead of running it")

    def handle(self, *args, **options):
        if options["report"] is not None:
            scorecard = Scorecard.objects.select_related("artifact", "baseline").filter(pk=options["report"]).first()
            if scorecard is None:
                raise CommandError(f"--report {options['report']}: no scorecard with this id")
            self.stdout.write(json.dumps(scorecard_json(scorecard), ensure_ascii=False, indent=2))
            return
        if options["artifact"] is None:
            raise CommandError("--artifact is required (or give --report ID)")
        artifact = ModelArtifact.objects.select_related("workspace", "base_model").filter(
            pk=options["artifact"]).first()
        if artifact is None:
            raise CommandError(f"--artifact {options['artifact']}: no model artifact with this id")
        try:
            scorecard = scorecard_create(artifact=artifact)
        except ApplicationError as error:
            raise CommandError(f"--artifact {options['artifact']}: {error.message}") from None
        if not options["queue"]:
            self.stderr.write(f"scorecard {scorecard.pk}: gathering evidence and measuring the model …")
            scorecard = scorecard_compute(scorecard=scorecard)
            if scorecard.status == Scorecard.Status.FAILED:
                raise CommandError(f"scorecard {scorecard.pk} failed: {scorecard.error}")
        self.stdout.write(json.dumps(scorecard_json(scorecard), ensure_ascii=False, indent=2))

"""Print a training run's probe set: each prompt with the base model's answer and the trained model's, side by side."""

from django.core.management.base import BaseCommand, CommandError

from training.management.commands.train import probes_write
from training.models import TrainingRun


class Command(BaseCommand):
    help = ("Show a training run's probe set: every prompt with the answer of the base model (before training) and of "
            "the trained model (after), greedy with the same settings.")

    def add_arguments(self, parser):
        parser.add_argument("run", type=int, help="training run id")

    def handle(self, *args, **options):
        run = TrainingRun.objects.filter(pk=options["run"]).first()
        if run is None:
            raise CommandError(f"no training run {options['run']}")
        if not run.probes:
            raise CommandError(f"run {run.pk} {run.name!r} has no probe set")
        self.stdout.write(f"run {run.pk} {run.name!r} ({run.status}): {len(run.probes)} probes")
        probes_write(self.stdout, run)

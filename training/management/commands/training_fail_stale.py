"""Fail the training runs whose worker died without a word (no heartbeat for a while)."""

from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError

from training.services.execution import STALE_AFTER, training_runs_fail_stale


class Command(BaseCommand):
    help = "Mark running training runs whose job has stopped beating its heartbeat as failed, with the reason."

    def add_arguments(self, parser):
        parser.add_argument("--minutes", type=float, default=STALE_AFTER.total_seconds() / 60,
                            help=f"silence that counts as dead (default: {STALE_AFTER.total_seconds() / 60:g})")

    def handle(self, *args, minutes: float, **options):
        if minutes <= 0:
            raise CommandError(f"--minutes: must be positive, not {minutes:g}")
        failed = training_runs_fail_stale(silent_for=timedelta(minutes=minutes))
        for run in failed:
            self.stdout.write(f"failed run {run.pk} {run.name!r}: {run.error}")
        self.stdout.write(f"{len(failed)} stale run(s) failed")

"""`manage.py monitoring_check [--day YYYY-MM-DD] [--slot ID]`: apply the drift rules to every slot (or one) for a day,
yesterday by default. Checking a day again raises nothing new."""

from datetime import date, timedelta

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from common.errors import ApplicationError
from monitoring.services import monitoring_check
from releases.models import Deployment


class Command(BaseCommand):
    help = "Apply the drift rules to deployment slots for one day."

    def add_arguments(self, parser):
        parser.add_argument("--day", help="the day to check (YYYY-MM-DD); yesterday by default")
        parser.add_argument("--slot", type=int, help="one slot's id; every slot by default")

    def handle(self, *args, day=None, slot=None, **options):
        try:
            checked = date.fromisoformat(day) if day else timezone.localdate() - timedelta(days=1)
        except ValueError as error:
            raise CommandError(f"--day: {error}; expected YYYY-MM-DD") from error
        slots = Deployment.objects.select_related("workspace").order_by("pk")
        if slot is not None:
            slots = slots.filter(pk=slot)
        for deployment in slots:
            try:
                raised = monitoring_check(deployment=deployment, day=checked)
            except ApplicationError as error:
                raise CommandError(f"{deployment.name} ({error.where}): {error.message}") from error
            self.stdout.write(f"{deployment.name} {checked}: {len(raised)} alert(s) raised")

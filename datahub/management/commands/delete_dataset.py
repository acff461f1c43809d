"""Delete a dataset with its records, versions and imports; refused while a training run, study, annotation project
or running job uses it."""

from django.core.management.base import BaseCommand, CommandError

from accounts.lookups import workspace_named
from common.errors import ApplicationError
from datahub.lookups import dataset_named
from datahub.services.datasets import dataset_delete


class Command(BaseCommand):
    help = "Delete a dataset (records, versions, imports, its dedupe / augmentation / mix runs) that nothing uses."

    def add_arguments(self, parser):
        parser.add_argument("--workspace", required=True, help="workspace name")
        parser.add_argument("--dataset", required=True, help="dataset name")

    def handle(self, *args, **options):
        dataset = dataset_named(workspace_named(options["workspace"]), options["dataset"])
        try:
            dataset_delete(dataset=dataset)
        except ApplicationError as exc:
            if exc.code == "in_use":
                raise CommandError(
                    f"--dataset {dataset.name!r} is in use by:\n  " + "\n  ".join(exc.extra["used_by"])
                ) from exc
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"deleted dataset {dataset.name!r}")

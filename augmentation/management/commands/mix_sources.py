"""Build a version of a dataset from several sources and versions by target ratios and a total size."""

from django.core.management.base import BaseCommand, CommandError

from accounts.lookups import workspace_named
from augmentation.lookups import error_text, progress_bar, source_named, version_of
from augmentation.models import JobStatus
from augmentation.services.mixing import mix_run_create, mix_run_execute
from common.errors import ApplicationError
from datahub.lookups import dataset_named
from datahub.selectors import dataset_by_name
from datahub.services.datasets import dataset_create


def _ratio(text: str, option: str) -> tuple[str, float]:
    name, _, ratio = text.rpartition("=")
    try:
        value = float(ratio)
    except ValueError:
        value = None
    if not name or value is None:
        raise CommandError(f"{option} {text!r}: expected NAME=RATIO, e.g. {option} 'Help desk=0.6'")
    return name, value


class Command(BaseCommand):
    help = (
        "Mix sources (--source NAME=RATIO) and versions (--from-version DATASET:N=RATIO) into a new version of "
        "--dataset."
    )

    def add_arguments(self, parser):
        parser.add_argument("--workspace", required=True)
        parser.add_argument("--dataset", required=True, help="the dataset the mixed version belongs to")
        parser.add_argument("--create", action="store_true", help="create the dataset when missing")
        parser.add_argument("--source", action="append", default=[], metavar="NAME=RATIO")
        parser.add_argument("--from-version", action="append", default=[], metavar="DATASET:N=RATIO")
        parser.add_argument("--total", type=int, required=True, help="records in the mix")
        parser.add_argument("--seed", type=int, default=0)

    def handle(self, *args, **options):
        workspace = workspace_named(options["workspace"])
        ingredients = []
        for text in options["source"]:
            name, ratio = _ratio(text, "--source")
            ingredients.append({"kind": "source", "id": source_named(workspace, name).pk, "ratio": ratio})
        for text in options["from_version"]:
            name, ratio = _ratio(text, "--from-version")
            dataset_name, _, number = name.rpartition(":")
            if not dataset_name or not number.isdigit():
                raise CommandError(f"--from-version {text!r}: expected DATASET:N=RATIO")
            version = version_of(dataset_named(workspace, dataset_name), int(number), option="--from-version")
            ingredients.append({"kind": "version", "id": version.pk, "ratio": ratio})
        if not ingredients:
            raise CommandError("give at least one --source or --from-version")
        dataset = dataset_by_name(workspace_name=workspace.name, dataset_name=options["dataset"])
        try:
            if dataset is None and options["create"]:
                dataset = dataset_create(workspace=workspace, name=options["dataset"])
            elif dataset is None:
                dataset = dataset_named(workspace, options["dataset"])
            run = mix_run_create(
                dataset=dataset,
                ingredients=ingredients,
                total_size=options["total"],
                seed=options["seed"],
                run_in_background=False,
            )
        except ApplicationError as exc:
            raise CommandError(error_text(exc)) from exc
        run = mix_run_execute(run=run, on_progress=progress_bar(self.stderr, "mixing"))
        self.stderr.write("")
        if run.status != JobStatus.SUCCEEDED:
            raise CommandError(f"mix run {run.pk} failed: {run.error}")
        parts = ", ".join(f"{i['name']} {i['taken']}/{i['requested']} ({i['achieved_ratio']:.3f} of {i['ratio']:.3f})"
                          for i in run.achieved["ingredients"])
        self.stdout.write(
            f"mixed {run.achieved['total']} records into {dataset.name!r} v{run.result_version.number}: {parts}"
        )

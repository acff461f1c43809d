"""Freeze a dataset's records as its next immutable version, with a seeded split grouped by prompt."""

from django.core.management.base import BaseCommand, CommandError

from common.errors import ApplicationError
from accounts.lookups import workspace_named
from datahub.lookups import dataset_named
from datahub.services.versions import dataset_version_freeze
from datahub.splits import SPLITS


def ratios_parse(text: str) -> dict:
    """"0.8,0.1,0.1" (train, validation, test) or "train=0.9,test=0.1"."""
    parts = [p.strip() for p in text.split(",") if p.strip()]
    try:
        if all("=" in p for p in parts):
            return {name.strip(): float(value) for name, value in (p.split("=", 1) for p in parts)}
        if len(parts) != len(SPLITS):
            raise CommandError(
                f"--ratios: give three numbers for train, validation and test (e.g. 0.8,0.1,0.1), not {text!r}"
            )
        return dict(zip(SPLITS, (float(p) for p in parts), strict=True))
    except ValueError as exc:
        raise CommandError(f"--ratios: {text!r} is not a list of numbers") from exc


class Command(BaseCommand):
    help = "Freeze every record of a dataset as its next version (train / validation / test, no prompt in two splits)."

    def add_arguments(self, parser):
        parser.add_argument("--workspace", required=True, help="workspace name")
        parser.add_argument("--dataset", required=True, help="dataset name")
        parser.add_argument(
            "--seed", type=int, default=0, help="split seed (default 0): the same seed gives the same split"
        )
        parser.add_argument(
            "--ratios", default="0.8,0.1,0.1", help="train,validation,test shares adding up to 1 (default 0.8,0.1,0.1)"
        )
        parser.add_argument("--note", default="", help="a note kept with the version")

    def handle(self, *args, **options):
        dataset = dataset_named(workspace_named(options["workspace"]), options["dataset"])
        ratios = ratios_parse(options["ratios"])
        self.stderr.write(f"freezing {dataset.name!r} (seed {options['seed']}) ...")
        try:
            version = dataset_version_freeze(dataset=dataset, seed=options["seed"], ratios=ratios, note=options["note"])
        except ApplicationError as exc:
            raise CommandError(f"--{exc.where}: {exc.message}" if exc.where == "ratios" else str(exc)) from exc
        counts = ", ".join(f"{split} {version.counts.get(split, 0)}" for split in SPLITS)
        parent = f", parent v{version.parent.number}" if version.parent else ""
        self.stdout.write(
            f"frozen {dataset.name!r} v{version.number}: {counts}; manifest {version.manifest_hash}{parent}"
        )

"""Augment the train split of a dataset version (EDA, LLM paraphrase, back-translation), filter every candidate and,
with --accept-passing, freeze the passing ones as a new version. Without it the candidates wait for review."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from accounts.lookups import workspace_named
from augmentation.lookups import endpoint_named, error_text, progress_bar, version_of
from augmentation.models import AugmentationRun, JobStatus
from augmentation.services.review import augmentation_run_accept, candidates_accept_passing
from augmentation.services.runs import augmentation_run_create, augmentation_run_execute
from augmentation.services.synonyms import synonym_table_create
from common.errors import ApplicationError
from datahub.lookups import dataset_named


class Command(BaseCommand):
    help = (
        "Augment a version's train split; print kept / rejected counts by reason; --accept-passing makes the new "
        "version."
    )

    def add_arguments(self, parser):
        parser.add_argument("--workspace", required=True, help="workspace name")
        parser.add_argument("--dataset", required=True, help="dataset name")
        parser.add_argument("--dataset-version", type=int, help="version number (default: the latest)")
        parser.add_argument("--method", action="append", choices=AugmentationRun.Method.values, required=True,
                            help="eda, paraphrase or back_translation (repeatable)")
        parser.add_argument("--endpoint", help="model endpoint name (paraphrase, LLM back-translation)")
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--limit", type=int, default=0, help="augment at most this many train records (0: all)")
        parser.add_argument("--variants", type=int, default=4, help="EDA variants per record (default 4)")
        parser.add_argument("--alpha", type=float, default=0.1, help="EDA: share of words changed (default 0.1)")
        parser.add_argument(
            "--operations",
            default="synonym,insert,swap,delete",
            help="EDA operations, comma-separated; add shuffle for word-order shuffling (off by default)",
        )
        parser.add_argument(
            "--synonyms", type=Path, help="a synonym table (TSV word<TAB>syn1,syn2 or JSON) to use in EDA"
        )
        parser.add_argument("--paraphrases", type=int, default=2, help="paraphrases per record (default 2)")
        parser.add_argument("--pivot", default="German", help="pivot language of back-translation (default German)")
        parser.add_argument("--seq2seq", nargs=2, metavar=("FORWARD_DIR", "BACK_DIR"),
                            help="back-translate with two local translation model directories instead of an endpoint")
        parser.add_argument(
            "--accept-passing", action="store_true", help="accept every passing candidate and freeze the new version"
        )

    def handle(self, *args, **options):
        workspace = workspace_named(options["workspace"])
        version = version_of(
            dataset_named(workspace, options["dataset"]), options["dataset_version"], option="--dataset-version"
        )
        endpoint = endpoint_named(workspace, options["endpoint"])
        run_options = {
            "seed": options["seed"],
            "limit": options["limit"],
            "eda_variants": options["variants"],
            "eda_alpha": options["alpha"],
            "paraphrase_n": options["paraphrases"],
            "pivot_language": options["pivot"],
            "eda_operations": [op.strip() for op in options["operations"].split(",") if op.strip()],
        }
        if options["seq2seq"]:
            run_options.update(back_translation_engine="seq2seq", seq2seq_forward_dir=options["seq2seq"][0],
                               seq2seq_back_dir=options["seq2seq"][1])
        try:
            table = None
            if options["synonyms"]:
                path = options["synonyms"]
                if not path.is_file():
                    raise CommandError(f"--synonyms: {path}: no such file")
                table = synonym_table_create(
                    workspace=workspace, name=f"{path.name} ({version})", content=path.read_bytes(), file_name=path.name
                )
            run = augmentation_run_create(
                version=version,
                methods=options["method"],
                options=run_options,
                endpoint=endpoint,
                synonym_table=table,
                run_in_background=False,
            )
        except ApplicationError as exc:
            raise CommandError(error_text(exc)) from exc
        run = augmentation_run_execute(run=run, on_progress=progress_bar(self.stderr, "augmenting"))
        self.stderr.write("")
        if run.status != JobStatus.SUCCEEDED:
            raise CommandError(f"augmentation run {run.pk} failed: {run.error}")
        reasons = {}
        for reason in run.candidates.values_list("reason", flat=True):
            reasons[reason] = reasons.get(reason, 0) + 1
        summary = ", ".join(f"{reason} {count}" for reason, count in sorted(reasons.items()))
        self.stdout.write(
            f"augmentation run {run.pk}: {run.candidate_count} candidates, {run.passing_count} passing ({summary})"
        )
        if options["accept_passing"]:
            try:
                candidates_accept_passing(run=run)
                new = augmentation_run_accept(run=run)
            except ApplicationError as exc:
                raise CommandError(str(exc)) from exc
            self.stdout.write(f"accepted as {new.dataset.name!r} v{new.number}: "
                              + ", ".join(f"{split} {count}" for split, count in new.counts.items()))

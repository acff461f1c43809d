"""Run a general-capability check from the command line, or print one's report, as JSON."""

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from accounts.models import Workspace
from common.errors import ApplicationError
from evaluation.general.selectors import general_eval_report, model_ref
from evaluation.models import GeneralEval
from evaluation.services.general_eval import FILE_SUFFIXES, general_eval_create, general_eval_run
from training.models import BaseModel, ModelArtifact


def _files(path: str, option: str) -> list[tuple[str, bytes]]:
    target = Path(path)
    if target.is_file():
        return [(target.name, target.read_bytes())]
    if target.is_dir():
        files = sorted(p for p in target.iterdir() if p.is_file() and p.suffix.lower() in FILE_SUFFIXES)
        if files:
            return [(p.name, p.read_bytes()) for p in files]
        raise CommandError(f"{option} {path}: the folder holds no .csv or .jsonl file")
    raise CommandError(f"{option} {path}: no such file or folder")


def _model(workspace: Workspace, name: str, option: str):
    if name.startswith("artifact:"):
        model = (
            ModelArtifact.objects.filter(workspace=workspace, name=name.removeprefix("artifact:"))
            .select_related("base_model")
            .first()
        )
    else:
        model = BaseModel.objects.filter(workspace=workspace, name=name).first()
    if model is None:
        raise CommandError(
            f"{option} {name}: no base model (or, with artifact:NAME, model artifact) of that name in "
            f"{workspace.name!r}"
        )
    return model


def report_json(general_eval: GeneralEval) -> dict:
    report = general_eval_report(general_eval=general_eval)
    return {
        "id": general_eval.pk,
        "name": general_eval.name,
        "status": general_eval.status,
        "error": general_eval.error,
        "baseline": model_ref(general_eval, "baseline"),
        "candidate": model_ref(general_eval, "candidate"),
        "shots": general_eval.shots,
        "tolerance": general_eval.tolerance,
        "items_per_s": general_eval.items_per_s,
        "overall": report.overall.as_dict() if report.overall else None,
        "subjects": [s.as_dict() for s in report.subjects],
    }


class Command(BaseCommand):
    help = (
        "Score a base model or model artifact (and optionally a candidate) on MMLU/CMMLU/C-Eval-style files the way "
        "lm-evaluation-harness does, and print accuracy per subject with the paired change as JSON."
    )

    def add_arguments(self, parser):
        parser.add_argument("--report", type=int, help="print the report of this existing check and stop")
        parser.add_argument("--workspace", help="the workspace's name")
        parser.add_argument("--name", default="general check")
        parser.add_argument("--baseline", help="a base model's name, or artifact:NAME")
        parser.add_argument("--candidate", help="a base model's name, or artifact:NAME (optional)")
        parser.add_argument("--test", help="a test file, or a folder of them")
        parser.add_argument("--dev", help="a dev file, or a folder of them (the k shots per subject)")
        parser.add_argument("--shots", type=int, default=5, help="k, the number of dev rows shown before each question")
        parser.add_argument(
            "--tolerance", type=float, default=0.02, help="accuracy drop (0..1) that is a regression when significant"
        )
        parser.add_argument(
            "--queue", action="store_true", help="leave the scoring to a worker instead of running it here"
        )

    def handle(self, *args, **options):
        if options["report"] is not None:
            general_eval = GeneralEval.objects.filter(pk=options["report"]).first()
            if general_eval is None:
                raise CommandError(f"--report {options['report']}: no check with this id")
            self.stdout.write(json.dumps(report_json(general_eval), ensure_ascii=False, indent=2))
            return
        for option in ("workspace", "baseline", "test"):
            if not options[option]:
                raise CommandError(f"--{option} is required (or give --report ID)")
        workspace = Workspace.objects.filter(name=options["workspace"]).first()
        if workspace is None:
            raise CommandError(f"--workspace {options['workspace']}: no workspace of that name")
        baseline = _model(workspace, options["baseline"], "--baseline")
        candidate = _model(workspace, options["candidate"], "--candidate") if options["candidate"] else None
        try:
            general_eval = general_eval_create(
                workspace=workspace,
                name=options["name"],
                baseline=baseline,
                candidate=candidate,
                shots=options["shots"],
                tolerance=options["tolerance"],
                test_uploads=_files(options["test"], "--test"),
                dev_uploads=_files(options["dev"], "--dev") if options["dev"] else [],
            )
        except ApplicationError as error:
            raise CommandError(str(error)) from None
        self.stderr.write(f"check {general_eval.pk}: {general_eval.items.count()} questions")
        if options["queue"]:
            self.stdout.write(json.dumps(report_json(general_eval), ensure_ascii=False, indent=2))
            return
        general_eval = general_eval_run(general_eval=general_eval, progress=self._progress)
        self.stderr.write("")
        if general_eval.status == GeneralEval.Status.FAILED:
            raise CommandError(f"check {general_eval.pk} failed: {general_eval.error}")
        self.stdout.write(json.dumps(report_json(general_eval), ensure_ascii=False, indent=2))

    def _progress(self, fraction: float) -> None:
        filled = int(fraction * 30)
        self.stderr.write(f"\r[{'#' * filled}{'.' * (30 - filled)}] {fraction:.0%}", ending="")
        self.stderr.flush()

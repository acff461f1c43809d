"""Launch an SFT run from the command line, and optionally train it here and now with live progress."""

import json

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from accounts.lookups import workspace_named
from common.errors import ApplicationError
from datahub.models import DatasetVersion
from training.models import BaseModel, TrainingRun
from training.services.execution import training_run_supervise
from graders.selectors import grader_named
from training.services.hyperparameters import HYPERPARAMETERS
from training.services.recommendations import GOALS, training_run_recommend
from training.services.runs import training_run_create

TEXT_SETTINGS = {spec.name for spec in HYPERPARAMETERS if spec.kind is str}


def setting_parse(text: str) -> tuple[str, float | int | str]:
    """"learning_rate=5e-5" → ("learning_rate", 5e-05), "packing=true" → ("packing", True), "loss_type=dapo" →
    ("loss_type", "dapo"); the service checks names and ranges."""
    name, separator, value = text.partition("=")
    if not separator or not name.strip():
        raise CommandError(f"--set: expected name=value, not {text!r}")
    if name.strip() in TEXT_SETTINGS:
        return name.strip(), value.strip()
    try:
        number = json.loads(value)
    except json.JSONDecodeError as exc:
        raise CommandError(f"--set {name.strip()}: {value!r} is not a number") from exc
    return name.strip(), number


def settings_help() -> str:
    """--set's help: every hyperparameter with its default and allowed values, from their one declaration."""
    described = []
    for spec in HYPERPARAMETERS:
        if spec.kind is bool:
            allowed = "true or false"
        elif spec.kind is str:
            allowed = " or ".join(spec.choices) or "a text"
        elif spec.kind is int:
            allowed = f"{spec.minimum} to {spec.maximum}"
        else:
            allowed = f"{spec.minimum:g} to {spec.maximum:g}"
        described.append(f"{spec.name} (default {json.dumps(spec.default)}, {allowed})")
    return "a hyperparameter, repeatable; one of: " + ", ".join(described)


def _flag_for(where: str) -> str:
    """The command-line option that a service error's field comes from."""
    if where.startswith("hyperparameters."):
        return "--set " + where.removeprefix("hyperparameters.")
    return {"dataset_version": "--dataset/--version", "base_model": "--base-model", "memory": "--override-memory",
            "probe_prompts": "--probe", "probe_test_count": "--probe-test", "graders": "--grader"}.get(
        where, f"--{where}")


def probes_write(out, run: TrainingRun) -> None:
    """The run's probe set, each prompt with the base model's answer and the trained model's, one block each."""
    if run.probe_error:
        out.write(f"probe set not answered: {run.probe_error}")
    for number, probe in enumerate(run.probes, start=1):
        out.write(f"probe {number}: {probe['prompt']}")
        for stage in ("base", "trained"):
            answer = probe.get(stage)
            out.write(f"  {stage:<8}{answer if answer is not None else '(not answered)'}")


class Command(BaseCommand):
    help = (
        "Launch a training run (SFT, DPO, KTO or GRPO with LoRA, QLoRA, prompt tuning or full fine-tuning) of a base "
        "model on a frozen dataset version. It is queued for a \"gpu\" worker, or, with --now, trained in this process "
        "with its progress printed. The memory estimate is printed first; a run that does not fit is refused unless "
        "--override-memory."
    )

    def add_arguments(self, parser):
        for action in list(parser._actions):
            # --version names the dataset version here, so Django's own --version gives way.
            if "--version" in action.option_strings:
                parser._handle_conflict_resolve(None, [("--version", action)])
        parser.add_argument("--workspace", required=True, help="workspace name")
        parser.add_argument(
            "--base-model", required=True, help="base model name (see build_tiny_model or the base models page)"
        )
        parser.add_argument("--dataset", required=True, help="dataset name")
        parser.add_argument("--version", required=True, type=int, help="dataset version number")
        parser.add_argument("--name", help="run name (not needed with --recommend)")
        parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE", help=settings_help())
        parser.add_argument(
            "--method", default=TrainingRun.Method.SFT, choices=TrainingRun.Method.values, help="training method"
        )
        parser.add_argument(
            "--adapter", default=TrainingRun.Adapter.LORA, choices=TrainingRun.Adapter.values, help="what is trained"
        )
        parser.add_argument("--grader", action="append", default=[], metavar="NAME",
                            help="GRPO: a grader of the workspace (by name) that rewards the answers, repeatable")
        parser.add_argument("--override-memory", action="store_true",
                            help="launch even when the memory estimate exceeds the training device")
        parser.add_argument(
            "--probe",
            action="append",
            default=[],
            metavar="PROMPT",
            help="a probe prompt, repeatable: answered by the base model before training and the trained one after",
        )
        parser.add_argument("--probe-test", type=int, default=0, metavar="N",
                            help="also probe with the first N prompts of the version's test split")
        parser.add_argument(
            "--now", action="store_true", help="train in this process and wait for the end (no worker needed)"
        )
        parser.add_argument("--recommend", action="store_true",
                            help="print the settings recommended for this version and model, each with its reason, "
                                 "and the warnings, then stop (nothing is launched); --set lora_r and max_length are "
                                 "checked too")
        parser.add_argument("--goal", choices=GOALS,
                            help="with --recommend: what the data teaches (default: read from the data)")

    def _recommend(self, *, version, base_model, goal, chosen) -> None:
        try:
            result = training_run_recommend(version=version, base_model=base_model, goal=goal,
                                            chosen={k: v for k, v in chosen.items() if k in ("lora_r", "max_length")})
        except ApplicationError as exc:
            raise CommandError(f"{_flag_for(exc.where)}: {exc.message}") from exc
        facts = result["facts"]
        self.stdout.write(f"{base_model.name} on {version}: {facts['records']} train records, {facts['validation']} "
                          f"validation, p95 {facts['p95']} tokens, {facts['parameters']:,} parameters, "
                          f"{facts['device_gib']} GiB device")
        for item in result["items"]:
            self.stdout.write(f"  {item['name']:<28} {json.dumps(item['value']):<12} {item['reason']}")
        for warning in result["warnings"]:
            self.stdout.write(self.style.WARNING(f"warning: {warning}"))
        flags = " ".join(f"--set {name}={json.dumps(value)}" for name, value in result["hyperparameters"].items())
        self.stdout.write(f"to launch: --adapter {result['adapter']} {flags}")

    def handle(self, *args, **options):
        workspace = workspace_named(options["workspace"])
        base_model = BaseModel.objects.filter(workspace=workspace, name=options["base_model"]).first()
        if base_model is None:
            raise CommandError(
                f"--base-model: no base model named {options['base_model']!r} in workspace {workspace.name!r}"
            )
        version = (
            DatasetVersion.objects.select_related("dataset")
            .filter(dataset__workspace=workspace, dataset__name=options["dataset"], number=options["version"])
            .first()
        )
        if version is None:
            raise CommandError(
                f"--dataset/--version: no version {options['version']} of a dataset named {options['dataset']!r} "
                f"in workspace {workspace.name!r}"
            )
        hyperparameters = dict(setting_parse(text) for text in options["set"])
        if options["recommend"]:
            self._recommend(version=version, base_model=base_model, goal=options["goal"], chosen=hyperparameters)
            return
        if options["name"] is None:
            raise CommandError("--name: a run needs a name")
        graders = []
        for grader_name in options["grader"]:
            grader = grader_named(workspace=workspace, name=grader_name)
            if grader is None:
                raise CommandError(f"--grader: no grader named {grader_name!r} in workspace {workspace.name!r}")
            graders.append(grader)
        try:
            with transaction.atomic():
                run = training_run_create(
                    workspace=workspace,
                    name=options["name"],
                    base_model=base_model,
                    dataset_version=version,
                    method=options["method"],
                    adapter=options["adapter"],
                    hyperparameters=hyperparameters,
                    override_memory=options["override_memory"],
                    probe_prompts=options["probe"],
                    probe_test_count=options["probe_test"],
                    graders=graders,
                )
        except ApplicationError as exc:
            raise CommandError(f"{_flag_for(exc.where)}: {exc.message}") from exc
        self.stdout.write(f"run {run.pk} {run.name!r} queued: {base_model.name} on {version}, "
                          + ", ".join(f"{k}={v}" for k, v in run.hyperparameters.items()))
        parts = run.memory_estimate["parts"]
        self.stdout.write(
            f"memory estimate {parts['total']} GiB of {run.memory_estimate['device_gib']} GiB (weights "
            f"{parts['weights']}, trainable and optimizer {parts['trainable']}, activations {parts['activations']}, "
            f"logits {parts['logits']}, overhead {parts['overhead']})"
        )
        if not options["now"]:
            self.stdout.write("a worker of the \"gpu\" queue will train it: manage.py db_worker --queue-name gpu")
            return
        run = training_run_supervise(run=run, on_poll=self._progress)
        self.stderr.write("")
        if run.status == TrainingRun.Status.FAILED:
            raise CommandError(f"run {run.pk} failed: {run.error}")
        artifact = getattr(run, "artifact", None)
        self.stdout.write(
            self.style.SUCCESS(
                f"run {run.pk} {run.status}; {run.metric_points.count()} metric points"
                + (f"; {artifact.get_kind_display().lower()} at {artifact.path}" if artifact else "")
            )
        )
        probes_write(self.stdout, run)

    def _progress(self, progress: float | None, rows: list[dict]) -> None:
        losses = [row["values"]["loss"] for row in rows if isinstance(row.get("values", {}).get("loss"), (int, float))]
        if progress is None and not losses:
            return
        loss = f"  loss {losses[-1]:.4f}" if losses else ""
        self.stderr.write(f"\r{(progress or 0) * 100:5.1f}%{loss}", ending="")
        self.stderr.flush()

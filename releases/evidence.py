"""The evidence a scorecard is computed from, found in the other apps' records (read only, through their selectors
where they have one). Each finder returns plain figures and references to the rows they came from, so every number
on a scorecard links to its evidence: {"kind": "study" | "general_eval" | "training_run" | "artifact" |
"base_model" | "scorecard", "id", "name"}.
"""

import json
from dataclasses import dataclass, field
from pathlib import Path

from evaluation.general.selectors import general_eval_report
from evaluation.models import Arm, GeneralEval, Study
from evaluation.rating_results import study_rating_summary
from evaluation.selectors import study_results
from training.models import ModelArtifact, ModelExport
from training.runner.files import RESULT_FILE
from training.selectors import model_export_list
from training.services.base_models import base_model_directory, model_directory

STUDY_STATES_WITH_RESULTS = (Study.Status.OPEN, Study.Status.CLOSED)
PORTABLE_FORMAT_SUFFIXES = {".onnx": "onnx", ".gguf": "gguf"}
# Formats that run without PyTorch and Hugging Face (on CPUs and edge devices): a further point of deployability.
PORTABLE_FORMATS = ("onnx", "gguf")


def ref(kind: str, row, name: str = "") -> dict:
    return {"kind": kind, "id": row.pk, "name": name or str(row)}


@dataclass
class Evidence:
    figures: dict = field(default_factory=dict)
    refs: list[dict] = field(default_factory=list)


def latest_study_against_base(*, artifact: ModelArtifact) -> tuple[Study | None, Arm | None]:
    """The newest open or closed study with an arm answering as `artifact` and a baseline arm of its base model."""
    arm = (Arm.objects.filter(artifact=artifact, is_baseline=False, study__kind="pairwise",
                              study__status__in=STUDY_STATES_WITH_RESULTS,
                              study__arms__is_baseline=True, study__arms__base_model_id=artifact.base_model_id)
           .select_related("study").order_by("-study__created_at", "-study_id").first())
    return (arm.study, arm) if arm is not None else (None, None)


def task_rating_study_mean(*, artifact: ModelArtifact) -> tuple[float | None, dict | None]:
    """The newest open or closed blind rating study's mean score (1–5, the mean of its criteria's means over the
    prompts) of `artifact`, with a reference to the study; (None, None) without one or before any rating counts."""
    arm = (Arm.objects.filter(artifact=artifact, study__kind="rating", study__status__in=STUDY_STATES_WITH_RESULTS)
           .select_related("study").order_by("-study__created_at", "-study_id").first())
    if arm is None:
        return None, None
    rated = next((row for row in study_rating_summary(study=arm.study).arms if row.arm_id == arm.pk), None)
    means = [criterion.mean for criterion in rated.criteria.values() if criterion.mean is not None] if rated else []
    if not means:
        return None, None
    return sum(means) / len(means), ref("study", arm.study)


def task_evidence(*, artifact: ModelArtifact) -> Evidence:
    evidence = Evidence()
    study, arm = latest_study_against_base(artifact=artifact)
    if study is None:
        return evidence
    result = next((r for r in study_results(study=study) if r.candidate.pk == arm.pk), None)
    evidence.refs.append(ref("study", study))
    if result is not None:
        summary = result.summary
        evidence.figures.update(band=summary.verdict.band, verdict=summary.verdict.text, votes=summary.votes,
                                support_rate=summary.support_rate, interval_low=summary.interval_low,
                                interval_high=summary.interval_high)
    mean, rating_ref = task_rating_study_mean(artifact=artifact)
    if mean is not None:
        evidence.figures["rating_mean"] = mean
        evidence.refs.append(rating_ref)
    return evidence


def latest_general_eval(*, candidate: ModelArtifact, baseline_base_model_id: int) -> GeneralEval | None:
    return (GeneralEval.objects.filter(candidate_artifact=candidate, baseline_base_model_id=baseline_base_model_id,
                                       status=GeneralEval.Status.DONE)
            .order_by("-created_at", "-pk").first())


def general_evidence(*, artifact: ModelArtifact) -> Evidence:
    evidence = Evidence()
    check = latest_general_eval(candidate=artifact, baseline_base_model_id=artifact.base_model_id)
    if check is None:
        return evidence
    evidence.refs.append(ref("general_eval", check))
    overall = general_eval_report(general_eval=check).overall
    if overall is not None and overall.verdict:
        evidence.figures.update(verdict=overall.verdict, change=overall.change, tolerance=check.tolerance,
                                baseline_accuracy=overall.baseline_accuracy,
                                candidate_accuracy=overall.candidate_accuracy, p_value=overall.p_value,
                                items=overall.items)
    return evidence


def directory_bytes(directory: Path) -> int | None:
    if not directory.is_dir():
        return None
    return sum(path.stat().st_size for path in directory.rglob("*") if path.is_file())


def merged_export(*, artifact: ModelArtifact) -> ModelArtifact | None:
    """The merged weights of `artifact`: itself when it is merged or full weights, else the newest merge of it."""
    if artifact.kind != ModelArtifact.Kind.ADAPTER:
        return artifact
    return (ModelArtifact.objects.filter(source=artifact, kind=ModelArtifact.Kind.MERGED)
            .select_related("base_model", "workspace").order_by("-created_at", "-pk").first())


def export_formats(*, artifact: ModelArtifact, merged: ModelArtifact | None) -> list[str]:
    """The formats the model exists in: "adapter", "merged" (safetensors), the exports that loaded back and answered
    as the source model did (training's model exports: "merged_bf16", "onnx", "vllm"), and portable files found beside
    the merged weights (.onnx, .gguf)."""
    formats = ["adapter"] if artifact.kind == ModelArtifact.Kind.ADAPTER else []
    if merged is not None:
        formats.append("merged")
        directory = model_directory(merged.path)
        if directory.is_dir():
            formats += sorted({PORTABLE_FORMAT_SUFFIXES[p.suffix] for p in directory.rglob("*")
                               if p.suffix in PORTABLE_FORMAT_SUFFIXES})
    verified = [export.format for export in model_export_list(artifact=artifact)
                if export.status == ModelExport.Status.SUCCEEDED and export.is_verified]
    return formats + sorted(set(verified) - set(formats))


def run_peak_memory_bytes(artifact: ModelArtifact) -> int | None:
    """The peak memory the runner recorded in its result.json (peak_memory_bytes), when the run left one."""
    run = artifact.run if artifact.run_id else (artifact.source.run if artifact.source_id else None)
    if run is None or not run.output_dir:
        return None
    try:
        result = json.loads((model_directory(run.output_dir) / RESULT_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    peak = result.get("peak_memory_bytes")
    return int(peak) if isinstance(peak, int | float) and peak > 0 else None


def resources_evidence(*, artifact: ModelArtifact, merged: ModelArtifact | None) -> Evidence:
    evidence = Evidence()
    run = artifact.run if artifact.run_id else (artifact.source.run if artifact.source_id else None)
    if run is not None:
        evidence.refs.append(ref("training_run", run))
    evidence.figures["peak_memory_bytes"] = run_peak_memory_bytes(artifact)
    own = directory_bytes(model_directory(artifact.path))
    evidence.figures["artifact_bytes"] = own
    evidence.refs.append(ref("artifact", artifact))
    if merged is not None:
        evidence.figures["merged_bytes"] = directory_bytes(model_directory(merged.path))
        evidence.figures["serving_bytes"] = evidence.figures["merged_bytes"]
        if merged.pk != artifact.pk:
            evidence.refs.append(ref("artifact", merged))
    else:
        base = directory_bytes(base_model_directory(artifact.base_model))
        evidence.figures["base_bytes"] = base
        evidence.figures["serving_bytes"] = base + own if base is not None and own is not None else None
    return evidence

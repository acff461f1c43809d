"""Reads of general-capability checks: the list a user may see, the models a check may use, the per-subject report."""

from dataclasses import dataclass

from django.db.models import Count, QuerySet

from accounts.models import Workspace
from evaluation.access import STUDY_VIEW_CAPABILITIES, scope_to_any_capability
from evaluation.general.statistics import SubjectResult, results_by_subject
from evaluation.models import GeneralEval, GeneralEvalItem
from training.models import BaseModel, ModelArtifact


def general_eval_list_for_user(*, user) -> QuerySet:
    """Checks in workspaces where the user manages studies or reads their results, newest first, each with its
    item count (`item_count`) and models loaded: one query per page whatever the row count."""
    return (
        scope_to_any_capability(GeneralEval.objects.all(), user=user, capabilities=STUDY_VIEW_CAPABILITIES)
        .select_related(
            "workspace", "baseline_base_model", "baseline_artifact", "candidate_base_model", "candidate_artifact"
        )
        .annotate(item_count=Count("items"))
        .order_by("-created_at", "-pk")
    )


def general_eval_models(*, workspace: Workspace) -> tuple[list[BaseModel], list[ModelArtifact]]:
    """The base models and the model artifacts of `workspace` a check may score, by name."""
    return (list(BaseModel.objects.filter(workspace=workspace).order_by("name", "pk")),
            list(ModelArtifact.objects.filter(workspace=workspace).select_related("base_model").order_by("name", "pk")))


def base_model_for_general_eval(*, workspace: Workspace, pk) -> BaseModel | None:
    return BaseModel.objects.filter(workspace=workspace, pk=pk).first() if str(pk).isdigit() else None


def artifact_for_general_eval(*, workspace: Workspace, pk) -> ModelArtifact | None:
    return (
        ModelArtifact.objects.select_related("base_model").filter(workspace=workspace, pk=pk).first()
        if str(pk).isdigit()
        else None
    )


def model_label(general_eval: GeneralEval, slot: str) -> str:
    artifact = getattr(general_eval, f"{slot}_artifact")
    model = artifact or getattr(general_eval, f"{slot}_base_model")
    return model.name if model is not None else ""


def model_ref(general_eval: GeneralEval, slot: str) -> dict | None:
    artifact = getattr(general_eval, f"{slot}_artifact")
    if artifact is not None:
        return {"kind": "artifact", "id": artifact.pk, "name": artifact.name}
    base = getattr(general_eval, f"{slot}_base_model")
    return {"kind": "base_model", "id": base.pk, "name": base.name} if base is not None else None


@dataclass(frozen=True)
class GeneralEvalReport:
    subjects: list[SubjectResult]
    overall: SubjectResult | None
    scored: bool  # every item has every model's score


def general_eval_report(*, general_eval: GeneralEval) -> GeneralEvalReport:
    """Per-subject and overall accuracy (with Wilson intervals) and the paired change. One query."""
    rows = list(GeneralEvalItem.objects.filter(general_eval=general_eval).order_by("order")
                .values_list("subject", "baseline_correct", "candidate_correct"))
    has_candidate = general_eval.has_candidate
    scored = bool(rows) and all(b is not None and (c is not None or not has_candidate) for _, b, c in rows)
    if not scored:
        return GeneralEvalReport(subjects=[], overall=None, scored=False)
    subjects, overall = results_by_subject([(s, b, c if has_candidate else None) for s, b, c in rows],
                                           tolerance=general_eval.tolerance)
    return GeneralEvalReport(subjects=subjects, overall=overall, scored=True)

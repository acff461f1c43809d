"""The model registry and a model's lineage both ways: sources → dataset version → run → artifact (→ merged) →
studies and their verdicts → general checks → scorecards → slots.

Verdicts come from the votes through evaluation's own study_results (the same figures as the study pages); the votes
of every study concerned are read in one query, so the registry and a version's model list cost a fixed number of
queries whatever the number of models and studies.
"""

from collections import defaultdict
from dataclasses import dataclass, field

from django.db.models import Q, QuerySet

from accounts.access import scope_to_capability
from datahub.models import DatasetVersion, Source
from evaluation.general.statistics import results_by_subject
from evaluation.models import Arm, GeneralEval, GeneralEvalItem, Study
from evaluation.selectors import CandidateResult, study_results, study_vote_rows_by_study
from releases.evidence import STUDY_STATES_WITH_RESULTS
from releases.models import Deployment, Scorecard
from releases.selectors import artifacts_with_latest_scorecard
from training.models import BaseModel, ModelArtifact

VIEW = "training.view"


@dataclass
class ModelStudy:
    """A study a model took part in, with the model's arm and, when it was a candidate, its result."""

    study: Study
    arm: Arm
    result: CandidateResult | None


def studies_of_models(*, base_model_ids=(), artifact_ids=()) -> dict[tuple[str, int], list[ModelStudy]]:
    """(kind, id) → the studies (open or closed) the model was an arm of, newest first, each with its result when the
    model was a candidate. Two queries (arms with their studies and models; votes)."""
    if not base_model_ids and not artifact_ids:
        return {}
    concerned = Arm.objects.filter(Q(base_model_id__in=base_model_ids) | Q(artifact_id__in=artifact_ids),
                                   study__status__in=STUDY_STATES_WITH_RESULTS).values("study_id")
    arms = list(Arm.objects.filter(study_id__in=concerned).select_related("study", "base_model", "artifact",
                                                                          "endpoint")
                .order_by("-is_baseline", "name"))
    arms_by_study: dict[int, list[Arm]] = defaultdict(list)
    for arm in arms:
        arms_by_study[arm.study_id].append(arm)
    rows = study_vote_rows_by_study(study_ids=list(arms_by_study))
    found: dict[tuple[str, int], list[ModelStudy]] = defaultdict(list)
    wanted = {("base_model", pk) for pk in base_model_ids} | {("artifact", pk) for pk in artifact_ids}
    for study_id, study_arms in arms_by_study.items():
        study = study_arms[0].study
        results = {r.candidate.pk: r for r in study_results(study=study, arms=study_arms, rows=rows.get(study_id, []))}
        for arm in study_arms:
            key = ("artifact", arm.artifact_id) if arm.artifact_id else ("base_model", arm.base_model_id)
            if key in wanted:
                found[key].append(ModelStudy(study=study, arm=arm, result=results.get(arm.pk)))
    for entries in found.values():
        entries.sort(key=lambda entry: (entry.study.created_at, entry.study.pk), reverse=True)
    return found


def latest_verdict(entries: list[ModelStudy]) -> ModelStudy | None:
    """The newest study in which the model was a candidate."""
    return next((entry for entry in entries if entry.result is not None), None)


@dataclass
class RegistryRow:
    kind: str  # "base_model" or "artifact"
    model: BaseModel | ModelArtifact
    latest: ModelStudy | None
    scorecard_id: int | None = None
    scorecard_total: float | None = None
    scorecard_ready: bool = False
    scorecard_complete: bool = False


def _artifacts(queryset: QuerySet) -> QuerySet:
    return artifacts_with_latest_scorecard(
        queryset.select_related("workspace", "base_model", "run", "dataset_version__dataset", "source"))


def _rows_for(base_models: list[BaseModel], artifacts: list[ModelArtifact]) -> list[RegistryRow]:
    studies = studies_of_models(base_model_ids=[m.pk for m in base_models], artifact_ids=[a.pk for a in artifacts])
    rows = [RegistryRow("base_model", m, latest_verdict(studies.get(("base_model", m.pk), []))) for m in base_models]
    for artifact in artifacts:
        rows.append(RegistryRow("artifact", artifact, latest_verdict(studies.get(("artifact", artifact.pk), [])),
                                scorecard_id=artifact.scorecard_id, scorecard_total=artifact.scorecard_total,
                                scorecard_ready=bool(artifact.scorecard_ready),
                                scorecard_complete=bool(artifact.scorecard_complete)))
    return rows


def model_registry(*, user) -> list[RegistryRow]:
    """Every model the user may see (training.view): base models, then trained and merged artifacts, each with its
    latest verdict (the newest study where it was a candidate) and latest finished scorecard. Four queries."""
    base_models = list(scope_to_capability(BaseModel.objects.select_related("workspace"), user=user, capability=VIEW)
                       .order_by("workspace_id", "name", "pk"))
    artifacts = list(_artifacts(scope_to_capability(ModelArtifact.objects.all(), user=user, capability=VIEW))
                     .order_by("workspace_id", "-created_at", "-pk"))
    return _rows_for(base_models, artifacts)


def version_models(*, version: DatasetVersion) -> list[RegistryRow]:
    """The models trained on `version` (artifacts and their merges), newest first, with verdict and score. Three
    queries."""
    artifacts = list(_artifacts(ModelArtifact.objects.filter(dataset_version=version)).order_by("-created_at", "-pk"))
    return _rows_for([], artifacts)


@dataclass
class CheckRow:
    check: GeneralEval
    role: str  # "baseline" or "candidate"
    overall: object | None  # evaluation.general.statistics.SubjectResult


def general_checks_of(*, model) -> list[CheckRow]:
    """The general-capability checks `model` took part in, newest first, with their overall result. Two queries."""
    field = "base_model" if isinstance(model, BaseModel) else "artifact"
    checks = list(GeneralEval.objects.filter(Q(**{f"baseline_{field}": model}) | Q(**{f"candidate_{field}": model}))
                  .select_related("baseline_base_model", "baseline_artifact", "candidate_base_model",
                                  "candidate_artifact").order_by("-created_at", "-pk"))
    items: dict[int, list] = defaultdict(list)
    for row in (GeneralEvalItem.objects.filter(general_eval__in=[c.pk for c in checks]).order_by("order")
                .values_list("general_eval_id", "subject", "baseline_correct", "candidate_correct")):
        items[row[0]].append(row[1:])
    rows = []
    for check in checks:
        role = "candidate" if getattr(check, f"candidate_{field}_id") == model.pk else "baseline"
        scored = items[check.pk]
        complete = bool(scored) and all(b is not None and (c is not None or not check.has_candidate)
                                        for _, b, c in scored)
        overall = (results_by_subject([(s, b, c if check.has_candidate else None) for s, b, c in scored],
                                      tolerance=check.tolerance)[1] if complete else None)
        rows.append(CheckRow(check=check, role=role, overall=overall))
    return rows


@dataclass
class Lineage:
    model: BaseModel | ModelArtifact
    kind: str
    run: object | None = None  # the training run: the artifact's own, or for a merge its adapter's
    sources: list[Source] = field(default_factory=list)
    derived: list[ModelArtifact] = field(default_factory=list)  # merges of an adapter / artifacts of a base model
    studies: list[ModelStudy] = field(default_factory=list)
    checks: list[CheckRow] = field(default_factory=list)
    scorecards: list[Scorecard] = field(default_factory=list)
    deployments: list[Deployment] = field(default_factory=list)


def model_lineage(*, model: BaseModel | ModelArtifact) -> Lineage:
    """Everything on a model's page, up and down its lineage. A fixed number of queries."""
    kind = "base_model" if isinstance(model, BaseModel) else "artifact"
    lineage = Lineage(model=model, kind=kind)
    if kind == "artifact":
        lineage.run = model.run if model.run_id else (model.source.run if model.source_id else None)
        version_id = model.dataset_version_id
        if version_id is not None:
            lineage.sources = list(Source.objects.filter(records__version_entries__version_id=version_id)
                                   .distinct().order_by("name", "pk"))
        lineage.derived = list(_artifacts(ModelArtifact.objects.filter(source=model)).order_by("-created_at"))
        lineage.studies = studies_of_models(artifact_ids=[model.pk]).get(("artifact", model.pk), [])
        lineage.scorecards = list(Scorecard.objects.filter(artifact=model).order_by("-created_at", "-pk"))
    else:
        lineage.derived = list(_artifacts(ModelArtifact.objects.filter(base_model=model)).order_by("-created_at"))
        lineage.studies = studies_of_models(base_model_ids=[model.pk]).get(("base_model", model.pk), [])
    lineage.checks = general_checks_of(model=model)
    field_name = "base_model" if kind == "base_model" else "artifact"
    lineage.deployments = list(Deployment.objects.filter(Q(**{f"production_{field_name}": model})
                                                         | Q(**{f"candidate_{field_name}": model}))
                               .order_by("name"))
    return lineage

"""Reads for the training app. Each selector owns its query shape, so list pages cost a fixed number of queries."""

from django.db.models import OuterRef, QuerySet, Subquery

from accounts.access import scope_to_capability
from accounts.models import Workspace
from datahub.models import DatasetVersion, VersionRecord
from training.access import LAUNCH, VIEW
from training.models import BaseModel, Checkpoint, MetricPoint, ModelArtifact, TrainingRun
from training.services.execution import LOG_FILE, log_tail, run_directory

METRICS_LIMIT = 5000


def training_workspaces_for(*, user, capability: str = LAUNCH) -> QuerySet[Workspace]:
    """Workspaces where the user holds `capability` (the workspace choice of a launch or register form)."""
    return scope_to_capability(Workspace.objects.all(), user=user, capability=capability, workspace_path="pk").order_by("name")


def base_model_list(*, user, workspace: Workspace | None = None) -> QuerySet[BaseModel]:
    base_models = scope_to_capability(BaseModel.objects.select_related("workspace"), user=user, capability=VIEW)
    if workspace is not None:
        base_models = base_models.filter(workspace=workspace)
    return base_models.order_by("workspace__name", "name")


def training_run_list(*, user, workspace: Workspace | None = None, status: str | None = None) -> QuerySet[TrainingRun]:
    runs = scope_to_capability(
        TrainingRun.objects.select_related("workspace", "base_model", "dataset_version__dataset", "created_by", "artifact",
                                           "resume_from"),
        user=user, capability=VIEW,
    )
    if workspace is not None:
        runs = runs.filter(workspace=workspace)
    if status:
        runs = runs.filter(status=status)
    return runs.order_by("-created_at", "-pk")


def model_artifact_list(*, user, workspace: Workspace | None = None) -> QuerySet[ModelArtifact]:
    artifacts = scope_to_capability(
        ModelArtifact.objects.select_related("workspace", "base_model", "run", "dataset_version__dataset"), user=user, capability=VIEW,
    )
    if workspace is not None:
        artifacts = artifacts.filter(workspace=workspace)
    return artifacts.order_by("-created_at", "-pk")


def training_run_metric_points(*, run: TrainingRun, after_id: int = 0, limit: int = METRICS_LIMIT) -> list[MetricPoint]:
    """The run's metric points after `after_id`, oldest first, at most `limit` (poll again with the last id)."""
    return list(MetricPoint.objects.filter(run=run, pk__gt=after_id).order_by("pk")[:limit])


CHART_METRICS = ("loss", "eval_loss", "rewards/accuracies", "rewards/margins", "learning_rate")


def metric_series(points: list[MetricPoint], names: tuple[str, ...] = CHART_METRICS) -> dict[str, dict[str, list]]:
    """{"loss": {"step": [...], "value": [...]}, ...}: the chart's traces, one per metric present."""
    series: dict[str, dict[str, list]] = {}
    for point in points:
        for name in names:
            value = point.values.get(name)
            if isinstance(value, (int, float)):
                trace = series.setdefault(name, {"step": [], "value": []})
                trace["step"].append(point.step)
                trace["value"].append(value)
    return series


def training_run_checkpoints(*, run: TrainingRun) -> list[Checkpoint]:
    """The run's recorded checkpoints, oldest first (the last one is what a resume continues from)."""
    return list(Checkpoint.objects.filter(run=run).order_by("step"))


def training_run_log_tail(*, run: TrainingRun, lines: int = 40) -> str:
    return log_tail(run_directory(run) / LOG_FILE, lines=lines)


def dataset_version_choices(*, workspace_ids) -> QuerySet[DatasetVersion]:
    """Frozen versions with a train split in the given workspaces, newest first (what a run may train on), each with
    `train_kind`: the record kind of its first train row (one index lookup), which says the method it fits."""
    first_kind = (VersionRecord.objects.filter(version=OuterRef("pk"), split=VersionRecord.Split.TRAIN)
                  .order_by("pk").values("record__kind")[:1])
    return (DatasetVersion.objects.filter(dataset__workspace_id__in=workspace_ids, counts__train__gt=0)
            .select_related("dataset__workspace").annotate(train_kind=Subquery(first_kind))
            .order_by("dataset__workspace__name", "dataset__name", "-number"))


def dataset_version_newest_of_kind(versions, *, kind: str) -> DatasetVersion | None:
    """The newest of `versions` (from dataset_version_choices, already loaded) whose train rows are of `kind`, or None."""
    fitting = [version for version in versions if version.train_kind == kind]
    return max(fitting, key=lambda version: (version.created_at, version.pk)) if fitting else None


def base_model_choices(*, workspace_ids) -> QuerySet[BaseModel]:
    return BaseModel.objects.filter(workspace_id__in=workspace_ids).select_related("workspace").order_by("workspace__name", "name")


COMPARE_LIMIT = 8
FINAL_METRICS = ("loss", "eval_loss", "train_loss", "train_runtime", "rewards/accuracies", "rewards/margins")


def training_runs_compare(*, user, run_ids: list[int]) -> list[dict]:
    """The runs the user may see among `run_ids` (at most COMPARE_LIMIT, in the order asked), each as
    {"run", "series" (metric_series), "final" (the last value of each FINAL_METRICS name)}. Two queries, whatever the count.
    """
    wanted = [pk for pk in dict.fromkeys(run_ids)][:COMPARE_LIMIT]
    runs = {run.pk: run for run in training_run_list(user=user).filter(pk__in=wanted)}
    points: dict[int, list[MetricPoint]] = {pk: [] for pk in runs}
    for point in MetricPoint.objects.filter(run_id__in=list(runs)).order_by("run_id", "pk"):
        points[point.run_id].append(point)
    compared = []
    for pk in wanted:
        if pk not in runs:
            continue
        final = {}
        for point in points[pk]:
            for name in FINAL_METRICS:
                if isinstance(point.values.get(name), (int, float)):
                    final[name] = point.values[name]
        compared.append({"run": runs[pk], "series": metric_series(points[pk]), "final": final})
    return compared

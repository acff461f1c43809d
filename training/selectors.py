"""Reads for the training app. Each selector owns its query shape, so list pages cost a fixed number of queries."""

import random
import statistics

from django.db.models import Case, IntegerField, OuterRef, Q, QuerySet, Subquery, Value, When
from django.http import Http404

from accounts.access import scope_to_capability
from accounts.models import Workspace
from common.text_similarity import percentile
from datahub.models import DatasetVersion, VersionRecord
from datahub.selectors import length_bucket, length_histogram_empty
from training.access import LAUNCH, VIEW
from training.models import BaseModel, Checkpoint, MetricPoint, ModelArtifact, ModelExport, TrainingRun
from training.services.execution import LOG_FILE, log_tail, run_directory

METRICS_LIMIT = 5000


def training_workspaces_for(*, user, capability: str = LAUNCH) -> QuerySet[Workspace]:
    """Workspaces where the user holds `capability` (the workspace choice of a launch or register form)."""
    return scope_to_capability(Workspace.objects.all(), user=user, capability=capability, workspace_path="pk").order_by(
        "name"
    )


def base_model_list(*, user, workspace: Workspace | None = None) -> QuerySet[BaseModel]:
    base_models = scope_to_capability(BaseModel.objects.select_related("workspace"), user=user, capability=VIEW)
    if workspace is not None:
        base_models = base_models.filter(workspace=workspace)
    return base_models.order_by("workspace__name", "name")


def training_run_list(*, user, workspace: Workspace | None = None, status: str | None = None) -> QuerySet[TrainingRun]:
    runs = scope_to_capability(
        TrainingRun.objects.select_related(
            "workspace", "base_model", "dataset_version__dataset", "created_by", "artifact", "resume_from"
        ),
        user=user,
        capability=VIEW,
    )
    if workspace is not None:
        runs = runs.filter(workspace=workspace)
    if status:
        runs = runs.filter(status=status)
    return runs.order_by("-created_at", "-pk")


def model_artifact_list(*, user, workspace: Workspace | None = None) -> QuerySet[ModelArtifact]:
    artifacts = scope_to_capability(
        ModelArtifact.objects.select_related("workspace", "base_model", "run", "dataset_version__dataset"),
        user=user,
        capability=VIEW,
    )
    if workspace is not None:
        artifacts = artifacts.filter(workspace=workspace)
    return artifacts.order_by("-created_at", "-pk")


def training_run_metric_points(*, run: TrainingRun, after_id: int = 0, limit: int = METRICS_LIMIT) -> list[MetricPoint]:
    """The run's metric points after `after_id`, oldest first, at most `limit` (poll again with the last id)."""
    return list(MetricPoint.objects.filter(run=run, pk__gt=after_id).order_by("pk")[:limit])


CHART_METRICS = ("loss", "eval_loss", "rewards/accuracies", "rewards/margins", "learning_rate",
                 # GRPO: the mean reward, the KL to the reference, completion lengths and the share cut at the limit
                 "reward", "kl", "completions/mean_length", "completions/clipped_ratio")


def _grader_reward(name: str) -> bool:
    """GRPO's reward of one grader, as TRL logs it: rewards/<grader>/mean."""
    return name.startswith("rewards/") and name.endswith("/mean")


def metric_series(points: list[MetricPoint], names: tuple[str, ...] = CHART_METRICS) -> dict[str, dict[str, list]]:
    """{"loss": {"step": [...], "value": [...]}, ...}: the chart's traces, one per metric present (and each GRPO
    grader's reward when the chart's metrics are asked for)."""
    series: dict[str, dict[str, list]] = {}
    for point in points:
        graders = sorted(name for name in point.values if _grader_reward(name)) if names is CHART_METRICS else []
        for name in (*names, *graders):
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
    """The newest of `versions` (from dataset_version_choices, already loaded) whose train rows are of `kind`, or
    None."""
    fitting = [version for version in versions if version.train_kind == kind]
    return max(fitting, key=lambda version: (version.created_at, version.pk)) if fitting else None


def base_model_choices(*, workspace_ids) -> QuerySet[BaseModel]:
    return (
        BaseModel.objects.filter(workspace_id__in=workspace_ids)
        .select_related("workspace")
        .order_by("workspace__name", "name")
    )


COMPARE_LIMIT = 8
FINAL_METRICS = ("loss", "eval_loss", "train_loss", "train_runtime", "rewards/accuracies", "rewards/margins")


def training_runs_compare(*, user, run_ids: list[int]) -> list[dict]:
    """The runs the user may see among `run_ids` (at most COMPARE_LIMIT, in the order asked), each as {"run", "series"
    (metric_series), "final" (the last value of each FINAL_METRICS name)}. Two queries, whatever the count.
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


# Token lengths on the dataset card: bucket edges, the max_length values people commonly train with, and how many
# records are tokenized at most (a seeded sample above it; enough for a stable 95th percentile, a few seconds).
TOKEN_BUCKETS = (64, 128, 256, 512, 1024, 2048, 4096, 8192)
COMMON_MAX_LENGTHS = (512, 1024, 2048)
TOKEN_SAMPLE = 5000


def token_length_summary(lengths: list[int]) -> dict | None:
    """{"count", "min", "mean", "median", "p95", "max"} of token lengths (nearest-rank percentiles), None for none:
    the one summary the run preview and the dataset card show."""
    if not lengths:
        return None
    ordered = sorted(lengths)
    return {"count": len(ordered), "min": ordered[0], "mean": round(statistics.fmean(ordered), 1),
            "median": percentile(ordered, 0.5), "p95": percentile(ordered, 0.95), "max": ordered[-1]}


def version_card_base_models(*, user, version: DatasetVersion) -> QuerySet[BaseModel]:
    """The base models of the version's workspace the user may see: the tokenizers the card can count tokens with."""
    return scope_to_capability(BaseModel.objects.filter(workspace_id=version.dataset.workspace_id), user=user,
                               capability=VIEW).order_by("name")


def version_card_base_model(*, user, version: DatasetVersion, base_model_id) -> BaseModel:
    """The base model `base_model_id` if it belongs to the version's workspace and the user may see it; else Http404,
    the same as a wrong id (a base model of another workspace tells nothing about it)."""
    base_model = version_card_base_models(user=user, version=version).filter(pk=base_model_id).first() \
        if str(base_model_id).isdigit() else None
    if base_model is None:
        raise Http404
    return base_model


def version_token_lengths(*, version: DatasetVersion, base_model: BaseModel, limit: int | None = None) -> dict:
    """Token lengths of the version's records (all splits) as training sees them: each record as its TRL row,
    rendered by the base model's chat template and tokenized (training.services.preview.row_length; a preference
    row counts its prompt and chosen answer). Above `limit` (TOKEN_SAMPLE) records, a sample of `limit` drawn with
    the version's seed.

    Returns {"base_model", "total", "measured", "sampled", "seed", "histogram" (bucket → records), "p50", "p95", "max",
    "over": [{"max_length", "records" (longer than it)}], "unrendered" (rows the template refused), "warnings"}.
    One query (two when sampled), whatever the version's size. Raises ApplicationError when the tokenizer cannot load.
    """
    # Imported here: transformers loads only when a card asks for tokens.
    from datahub.export import trl_row, version_entries
    from training.services.preview import row_length, run_plan, tokenizer_load

    limit = TOKEN_SAMPLE if limit is None else limit
    tokenizer = tokenizer_load(base_model)
    total = sum(version.counts.values())
    result = {
        "base_model": base_model.name,
        "total": total,
        "measured": 0,
        "sampled": total > limit,
        "seed": version.seed,
        "histogram": length_histogram_empty(TOKEN_BUCKETS),
        "p50": None,
        "p95": None,
        "max": None,
        "over": [{"max_length": length, "records": 0} for length in COMMON_MAX_LENGTHS],
        "unrendered": 0,
        "warnings": list(base_model.warnings or []),
    }
    if not getattr(tokenizer, "chat_template", None):
        result["warnings"].append(
            "the tokenizer has no chat template, so conversations cannot be rendered as training sees them"
        )
        return result
    if result["sampled"]:
        entry_ids = list(VersionRecord.objects.filter(version=version).order_by("pk").values_list("pk", flat=True))
        chosen = random.Random(version.seed).sample(entry_ids, min(limit, len(entry_ids)))
        entries = VersionRecord.objects.filter(pk__in=chosen).select_related("record").order_by("pk")
    else:
        entries = version_entries(version)
    lengths, first_error = [], None
    plan = run_plan(tokenizer, {})
    for entry in entries.iterator(chunk_size=2000):
        try:
            length = row_length(tokenizer, trl_row(entry.record), plan)
        except Exception as error:  # a template may refuse a row (e.g. a system turn); training would refuse it too
            result["unrendered"] += 1
            first_error = first_error or f"record {entry.record_id}: {error}"
            continue
        lengths.append(length)
    if first_error:
        result["warnings"].append(
            f"the chat template could not render {result['unrendered']} record(s); first: {first_error}"
        )
    summary = token_length_summary(lengths)
    if summary is None:
        return result
    for length in lengths:
        result["histogram"][length_bucket(length, TOKEN_BUCKETS)] += 1
    result.update(measured=summary["count"], p50=summary["median"], p95=summary["p95"], max=summary["max"])
    for over in result["over"]:
        over["records"] = sum(1 for length in lengths if length > over["max_length"])
    return result


def model_export_list(*, artifact: ModelArtifact) -> QuerySet:
    """The artifact's exports in the order of ModelExport.Format, with who asked for each (one query)."""
    order = Case(*(When(format=value, then=Value(index)) for index, value in enumerate(ModelExport.Format.values)),
                 output_field=IntegerField())
    return ModelExport.objects.filter(artifact=artifact).select_related("requested_by").order_by(order, "pk")


def version_reasoning_share(*, version: DatasetVersion) -> float:
    """The share of the version's records whose conversation carries the assistant's reasoning ("reasoning_content",
    or a <think> block): read as a complex-reasoning goal by training.services.recommendations. Two queries."""
    entries = VersionRecord.objects.filter(version=version)
    total = entries.count()
    if not total:
        return 0.0
    reasoning = entries.filter(Q(record__messages__icontains="reasoning_content")
                               | Q(record__messages__icontains="<think>")).count()
    return reasoning / total

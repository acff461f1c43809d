"""Creating a study and moving it through its states: generating → open, or failed with the reason."""

import random
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from accounts.models import Workspace
from common.errors import ApplicationError
from common.history import history_record
from datahub.models import DatasetVersion, Record, VersionRecord
from datahub.splits import SPLITS
from evaluation.models import Answer, Arm, Study, StudyPrompt
from evaluation.services.prompt_upload import prompts_check
from evaluation.services.quality import rate_check
from evaluation.services.rubric import rubric_check, significance_level_check
from llm.models import ModelEndpoint
from training.models import BaseModel, ModelArtifact

NAME_MAX = 200
MAX_PROMPTS_LIMIT = 5000
MAX_NEW_TOKENS_LIMIT = 4096
VOTES_PER_COMPARISON_LIMIT = 50
LABELS_LIMIT = 20
LABEL_MAX = 64


def _positive(value: int, *, where: str, limit: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ApplicationError(f"must be a whole number of at least 1; got {value!r}", where=where)
    if value > limit:
        raise ApplicationError(f"must be at most {limit}; got {value}", where=where)
    return value


MODEL_KINDS = ("base_model", "artifact", "endpoint")
MODEL_KIND_NAMES = {"base_model": "base model", "artifact": "model artifact", "endpoint": "model endpoint"}


def _arms_check(*, workspace: Workspace, arms: list[dict]) -> list[dict]:
    """Each arm: a unique name, exactly one of base_model / artifact / endpoint, in `workspace`; exactly one
    baseline."""
    if len(arms) < 2:
        raise ApplicationError(f"a study needs at least two arms; got {len(arms)}", where="arms")
    clean, names = [], set()
    for i, arm in enumerate(arms):
        where = f"arms[{i}]"
        name = (arm.get("name") or "").strip()
        if not name:
            raise ApplicationError("an arm needs a name", where=f"{where}.name")
        if len(name) > NAME_MAX:
            raise ApplicationError(
                f"the name is {len(name)} characters; the limit is {NAME_MAX}", where=f"{where}.name"
            )
        if name in names:
            raise ApplicationError(f"two arms are named {name!r}; arm names must differ", where=f"{where}.name")
        names.add(name)
        given = [kind for kind in MODEL_KINDS if arm.get(kind) is not None]
        if len(given) != 1:
            raise ApplicationError(
                "an arm needs exactly one model: a base model, a model artifact or a model endpoint", where=where
            )
        kind = given[0]
        model: BaseModel | ModelArtifact | ModelEndpoint = arm[kind]
        if model.workspace_id != workspace.pk:
            raise ApplicationError(f"{MODEL_KIND_NAMES[kind]} {model.name!r} belongs to another workspace", where=where)
        clean.append({"name": name, "base_model": None, "artifact": None, "endpoint": None, kind: model,
                      "is_baseline": bool(arm.get("is_baseline"))})
    baselines = sum(arm["is_baseline"] for arm in clean)
    if baselines != 1:
        raise ApplicationError(f"a study needs exactly one baseline arm; got {baselines}", where="arms")
    return clean


def labels_check(labels: list[str] | None) -> list[str]:
    """The study's vote labels: stripped, non-empty, distinct, at most LABELS_LIMIT of at most LABEL_MAX characters."""
    clean: list[str] = []
    for i, label in enumerate(labels or []):
        label = (label or "").strip() if isinstance(label, str) else label
        if not isinstance(label, str) or not label:
            raise ApplicationError("a label must be non-empty text", where=f"labels[{i}]")
        if len(label) > LABEL_MAX:
            raise ApplicationError(
                f"the label is {len(label)} characters; the limit is {LABEL_MAX}", where=f"labels[{i}]"
            )
        if label in clean:
            raise ApplicationError(f"the label {label!r} is given twice", where=f"labels[{i}]")
        clean.append(label)
    if len(clean) > LABELS_LIMIT:
        raise ApplicationError(f"{len(clean)} labels; the limit is {LABELS_LIMIT}", where="labels")
    return clean


def _prompt_records(*, dataset_version: DatasetVersion, split: str, max_prompts: int, seed: int) -> list[Record]:
    """A seeded sample of up to `max_prompts` records of the split, in a stable order."""
    ids = list(
        VersionRecord.objects.filter(version=dataset_version, split=split)
        .order_by("record_id")
        .values_list("record_id", flat=True)
    )
    if len(ids) > max_prompts:
        ids = sorted(random.Random(seed).sample(ids, max_prompts))
    records = Record.objects.in_bulk(ids)
    return [records[i] for i in ids]


@transaction.atomic
def study_create(
    *,
    workspace: Workspace,
    name: str,
    arms: list[dict],
    dataset_version: DatasetVersion | None = None,
    prompts: list | None = None,
    upload_name: str = "",
    split: str = "test",
    max_prompts: int = 50,
    max_new_tokens: int = 64,
    votes_per_comparison: int = 1,
    seed: int = 0,
    question: str = "",
    labels: list[str] | None = None,
    gold_rate: float = 0.0,
    repeat_rate: float = 0.0,
    gold_threshold: float = 0.7,
    kind: str = "pairwise",
    rubric: list | None = None,
    significance_level: float = 0.05,
    created_by=None,
) -> Study:
    """Create a study over the prompts of one split of a frozen version, or over uploaded `prompts` (conversations as
    prompts_parse_jsonl returns them, named `upload_name`); exactly one of the two. Queues answer generation.

    `arms` holds dicts of name, base_model or artifact or endpoint (exactly one), is_baseline. Each candidate is
    compared with the baseline (not every pair): the verdict a product manager needs is per candidate against what
    ships today, and with several candidates the Bradley–Terry ranking orders them all through the shared baseline.
    The prompt of a conversation is everything before its last assistant answer; a preference record's prompt is its
    prompt turns. `labels` are the categories raters may tag a vote with (optional), for the per-label breakdown.
    The study starts in status "generating"; the `study_generate_task` job runs after commit.

    `kind` "rating" makes a blind 1–5 rating study: every arm's answers are rated one at a time on `rubric` (criteria,
    see services/rubric.py) instead of compared in pairs. `significance_level` is the level at which every comparison
    between arms (ratings, automatic metrics) is called significant.
    """
    name = (name or "").strip()
    if not name:
        raise ApplicationError("a name is required", where="name")
    if len(name) > NAME_MAX:
        raise ApplicationError(f"the name is {len(name)} characters; the limit is {NAME_MAX}", where="name")
    if (dataset_version is None) == (prompts is None):
        raise ApplicationError("give the prompts either as a dataset version or as an upload, not both or neither",
                               where="dataset_version")
    _positive(max_prompts, where="max_prompts", limit=MAX_PROMPTS_LIMIT)
    _positive(max_new_tokens, where="max_new_tokens", limit=MAX_NEW_TOKENS_LIMIT)
    _positive(votes_per_comparison, where="votes_per_comparison", limit=VOTES_PER_COMPARISON_LIMIT)
    clean_arms = _arms_check(workspace=workspace, arms=arms)
    clean_labels = labels_check(labels)
    gold_rate = rate_check(gold_rate, where="gold_rate", upper_inclusive=False)
    repeat_rate = rate_check(repeat_rate, where="repeat_rate")
    gold_threshold = rate_check(gold_threshold, where="gold_threshold")
    if kind not in ("pairwise", "rating"):
        raise ApplicationError(f"unknown kind {kind!r}; use pairwise or rating", where="kind")
    clean_rubric = rubric_check(rubric) if kind == "rating" else []
    if kind == "pairwise" and rubric:
        raise ApplicationError("a rubric belongs to a rating study; this one is pairwise", where="rubric")
    significance_level = significance_level_check(significance_level)
    if dataset_version is not None:
        if dataset_version.dataset.workspace_id != workspace.pk:
            raise ApplicationError(
                f"dataset version {dataset_version} belongs to another workspace", where="dataset_version"
            )
        if split not in SPLITS:
            raise ApplicationError(f"unknown split {split!r}; use train, validation or test", where="split")
        records = _prompt_records(dataset_version=dataset_version, split=split, max_prompts=max_prompts, seed=seed)
        if not records:
            raise ApplicationError(
                f"the {split} split of {dataset_version} has no records to use as prompts", where="split"
            )
        conversations = [(record.prompt_messages, record.pk) for record in records]
        upload_name = ""
    else:
        checked = prompts_check(prompts)
        if len(checked) > max_prompts:  # the same seeded sample as from a split, in file order
            keep = sorted(random.Random(seed).sample(range(len(checked)), max_prompts))
            checked = [checked[i] for i in keep]
        conversations = [(messages, None) for messages in checked]
        upload_name = (upload_name or "").strip()[:255] or "upload.jsonl"
        split = ""

    study = Study.objects.create(
        workspace=workspace,
        name=name,
        question=question.strip(),
        dataset_version=dataset_version,
        upload_name=upload_name,
        split=split,
        max_prompts=max_prompts,
        max_new_tokens=max_new_tokens,
        votes_per_comparison=votes_per_comparison,
        seed=seed,
        labels=clean_labels,
        gold_rate=gold_rate,
        repeat_rate=repeat_rate,
        gold_threshold=gold_threshold,
        kind=kind,
        rubric=clean_rubric,
        significance_level=significance_level,
        status=Study.Status.GENERATING,
        progress=0.0,
        created_by=created_by if created_by is not None and created_by.is_authenticated else None,
    )
    Arm.objects.bulk_create([Arm(study=study, **arm) for arm in clean_arms])
    StudyPrompt.objects.bulk_create(
        [
            StudyPrompt(study=study, messages=messages, record_id=record_id, order=i)
            for i, (messages, record_id) in enumerate(conversations)
        ]
    )
    history_record(
        actor=created_by,
        target=study,
        verb="created",
        after={
            "name": name,
            "dataset_version": dataset_version.pk if dataset_version else None,
            "upload": upload_name,
            "split": split,
            "prompts": len(conversations),
            "labels": clean_labels,
            "gold_rate": gold_rate,
            "repeat_rate": repeat_rate,
            "gold_threshold": gold_threshold,
            "kind": kind,
            "rubric": [criterion["name"] for criterion in clean_rubric],
            "significance_level": significance_level,
            "arms": [{"name": a["name"], "is_baseline": a["is_baseline"]} for a in clean_arms],
        },
    )

    from evaluation.tasks import study_generate_task  # here, not at the top: tasks.py imports the services

    study_id = study.pk
    transaction.on_commit(lambda: study_generate_task.enqueue(study_id=study_id))
    return study


@transaction.atomic
def study_open(*, study: Study) -> Study:
    """Mark a study whose comparisons are built as open for votes."""
    before = study.status
    study.status, study.progress, study.error = Study.Status.OPEN, 1.0, ""
    study.save(update_fields=["status", "progress", "error", "updated_at"])
    history_record(actor=None, target=study, verb="opened", before={"status": before}, after={"status": study.status})
    return study


@transaction.atomic
def study_fail(*, study: Study, reason: str, actor=None) -> Study:
    """Mark the study failed with `reason`, dropping any half-written answers and comparisons."""
    before = study.status
    study.comparisons.all().delete()
    Answer.objects.filter(prompt__study=study).delete()
    study.status, study.error = Study.Status.FAILED, reason
    study.save(update_fields=["status", "error", "updated_at"])
    history_record(
        actor=actor,
        target=study,
        verb="failed",
        before={"status": before},
        after={"status": study.status, "error": reason},
    )
    return study


# A generating study whose row has not changed for this long has lost its worker (a crash or a restart): the
# generation job writes progress after every arm, so a live job touches the row far more often.
STALE_AFTER = timedelta(minutes=30)


def study_is_stale(*, study: Study, now=None) -> bool:
    """True for a generating study that has not been touched for STALE_AFTER."""
    now = now or timezone.now()
    return study.status == Study.Status.GENERATING and now - study.updated_at >= STALE_AFTER


@transaction.atomic
def study_close(*, study: Study, actor) -> Study:
    """Close an open study: no more votes are taken; the results stay readable. Only an open study can close."""
    study = Study.objects.select_for_update().get(pk=study.pk)
    if study.status != Study.Status.OPEN:
        raise ApplicationError(
            f"only an open study can be closed; this one is {study.status}", where="status", code="not_open"
        )
    study.status = Study.Status.CLOSED
    study.save(update_fields=["status", "updated_at"])
    history_record(
        actor=actor, target=study, verb="closed", before={"status": Study.Status.OPEN}, after={"status": study.status}
    )
    return study


@transaction.atomic
def study_retry(*, study: Study, actor) -> Study:
    """Generate again: a failed study, or a stale generating one (its worker died). Answers already stored are kept
    and the job resumes after them; the job is queued after commit.
    """
    study = Study.objects.select_for_update().get(pk=study.pk)
    if not (study.status == Study.Status.FAILED or study_is_stale(study=study)):
        raise ApplicationError(
            f"only a failed study, or one generating without progress for {int(STALE_AFTER.total_seconds() // 60)} "
            "minutes, "
            f"can be retried; this one is {study.status}",
            where="status",
            code="not_retryable",
        )
    before = study.status
    study.status, study.error = Study.Status.GENERATING, ""
    if before == Study.Status.FAILED:
        study.progress = 0.0  # failing dropped every answer
    study.save(update_fields=["status", "error", "progress", "updated_at"])
    history_record(actor=actor, target=study, verb="retried", before={"status": before}, after={"status": study.status})

    from evaluation.tasks import study_generate_task

    study_id = study.pk
    transaction.on_commit(lambda: study_generate_task.enqueue(study_id=study_id))
    return study


@transaction.atomic
def study_abandon(*, study: Study, actor) -> Study:
    """Mark a stale generating study failed (its worker died), so its manager can read why and retry or start again."""
    study = Study.objects.select_for_update().get(pk=study.pk)
    if not study_is_stale(study=study):
        raise ApplicationError("only a study generating without progress for "
                               f"{int(STALE_AFTER.total_seconds() // 60)} minutes can be marked failed", where="status",
                               code="not_stale")
    return study_fail(
        study=study, reason="generation stopped making progress (the worker was probably restarted)", actor=actor
    )

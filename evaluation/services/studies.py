"""Creating a study and moving it through its states: generating → open, or failed with the reason."""

import random

from django.db import transaction

from accounts.models import Workspace
from common.errors import ApplicationError
from common.history import history_record
from datahub.models import DatasetVersion, Record, VersionRecord
from datahub.splits import SPLITS
from evaluation.models import Answer, Arm, Study, StudyPrompt
from training.models import BaseModel, ModelArtifact

NAME_MAX = 200
MAX_PROMPTS_LIMIT = 5000
MAX_NEW_TOKENS_LIMIT = 4096
VOTES_PER_COMPARISON_LIMIT = 50


def _positive(value: int, *, where: str, limit: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ApplicationError(f"must be a whole number of at least 1; got {value!r}", where=where)
    if value > limit:
        raise ApplicationError(f"must be at most {limit}; got {value}", where=where)
    return value


def _arms_check(*, workspace: Workspace, arms: list[dict]) -> list[dict]:
    """Each arm: a unique name, exactly one of base_model / artifact, in `workspace`; exactly one baseline."""
    if len(arms) < 2:
        raise ApplicationError(f"a study needs at least two arms; got {len(arms)}", where="arms")
    clean, names = [], set()
    for i, arm in enumerate(arms):
        where = f"arms[{i}]"
        name = (arm.get("name") or "").strip()
        if not name:
            raise ApplicationError("an arm needs a name", where=f"{where}.name")
        if len(name) > NAME_MAX:
            raise ApplicationError(f"the name is {len(name)} characters; the limit is {NAME_MAX}", where=f"{where}.name")
        if name in names:
            raise ApplicationError(f"two arms are named {name!r}; arm names must differ", where=f"{where}.name")
        names.add(name)
        base_model: BaseModel | None = arm.get("base_model")
        artifact: ModelArtifact | None = arm.get("artifact")
        if (base_model is None) == (artifact is None):
            raise ApplicationError("an arm needs exactly one model: a base model or a model artifact", where=where)
        model = base_model or artifact
        if model.workspace_id != workspace.pk:
            kind = "base model" if base_model is not None else "model artifact"
            raise ApplicationError(f"{kind} {model.name!r} belongs to another workspace", where=where)
        clean.append({"name": name, "base_model": base_model, "artifact": artifact, "is_baseline": bool(arm.get("is_baseline"))})
    baselines = sum(arm["is_baseline"] for arm in clean)
    if baselines != 1:
        raise ApplicationError(f"a study needs exactly one baseline arm; got {baselines}", where="arms")
    return clean


def _prompt_records(*, dataset_version: DatasetVersion, split: str, max_prompts: int, seed: int) -> list[Record]:
    """A seeded sample of up to `max_prompts` records of the split, in a stable order."""
    ids = list(VersionRecord.objects.filter(version=dataset_version, split=split).order_by("record_id").values_list("record_id", flat=True))
    if len(ids) > max_prompts:
        ids = sorted(random.Random(seed).sample(ids, max_prompts))
    records = Record.objects.in_bulk(ids)
    return [records[i] for i in ids]


@transaction.atomic
def study_create(*, workspace: Workspace, name: str, dataset_version: DatasetVersion, arms: list[dict], split: str = "test",
                 max_prompts: int = 50, max_new_tokens: int = 64, votes_per_comparison: int = 1, seed: int = 0, question: str = "",
                 created_by=None) -> Study:
    """Create a study over the prompts of one split of a frozen version and queue answer generation.

    `arms` holds dicts of name, base_model or artifact (exactly one), is_baseline. The prompt of a conversation is
    everything before its last assistant answer; a preference record's prompt is its prompt turns. The study starts
    in status "generating"; the `study_generate` job runs after commit.
    """
    name = (name or "").strip()
    if not name:
        raise ApplicationError("a name is required", where="name")
    if len(name) > NAME_MAX:
        raise ApplicationError(f"the name is {len(name)} characters; the limit is {NAME_MAX}", where="name")
    if dataset_version.dataset.workspace_id != workspace.pk:
        raise ApplicationError(f"dataset version {dataset_version} belongs to another workspace", where="dataset_version")
    if split not in SPLITS:
        raise ApplicationError(f"unknown split {split!r}; use train, validation or test", where="split")
    _positive(max_prompts, where="max_prompts", limit=MAX_PROMPTS_LIMIT)
    _positive(max_new_tokens, where="max_new_tokens", limit=MAX_NEW_TOKENS_LIMIT)
    _positive(votes_per_comparison, where="votes_per_comparison", limit=VOTES_PER_COMPARISON_LIMIT)
    clean_arms = _arms_check(workspace=workspace, arms=arms)
    records = _prompt_records(dataset_version=dataset_version, split=split, max_prompts=max_prompts, seed=seed)
    if not records:
        raise ApplicationError(f"the {split} split of {dataset_version} has no records to use as prompts", where="split")

    study = Study.objects.create(
        workspace=workspace, name=name, question=question.strip(), dataset_version=dataset_version, split=split,
        max_prompts=max_prompts, max_new_tokens=max_new_tokens, votes_per_comparison=votes_per_comparison, seed=seed,
        status=Study.Status.GENERATING, progress=0.0,
        created_by=created_by if created_by is not None and created_by.is_authenticated else None,
    )
    Arm.objects.bulk_create([Arm(study=study, **arm) for arm in clean_arms])
    StudyPrompt.objects.bulk_create(
        [StudyPrompt(study=study, messages=record.prompt_messages, record_id=record.pk, order=i) for i, record in enumerate(records)]
    )
    history_record(actor=created_by, target=study, verb="created", after={
        "name": name, "dataset_version": dataset_version.pk, "split": split, "prompts": len(records),
        "arms": [{"name": a["name"], "is_baseline": a["is_baseline"]} for a in clean_arms],
    })

    from evaluation.tasks import study_generate  # here, not at the top: tasks.py imports the services

    study_id = study.pk
    transaction.on_commit(lambda: study_generate.enqueue(study_id=study_id))
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
def study_fail(*, study: Study, reason: str) -> Study:
    """Mark the study failed with `reason`, dropping any half-written answers and comparisons."""
    before = study.status
    study.comparisons.all().delete()
    Answer.objects.filter(prompt__study=study).delete()
    study.status, study.error = Study.Status.FAILED, reason
    study.save(update_fields=["status", "error", "updated_at"])
    history_record(actor=None, target=study, verb="failed", before={"status": before}, after={"status": study.status, "error": reason})
    return study

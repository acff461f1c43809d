"""The general-capability check: create one from benchmark files, run it (the `general_eval_run_task` job), fail it.

Files come uploaded (kept in the workspace's storage) or named on the server (a file or a folder of .csv/.jsonl
files, allowed by common.paths like model directories). Test files give the items; dev files give each subject's
first k rows as the shots, matched by subject name (the file name without _test/_dev/_val, or a JSONL `subject`).
"""

import secrets
import time
from pathlib import Path

from django.db import transaction
from django.utils import timezone

from accounts.models import Workspace
from common.errors import ApplicationError
from common.history import history_record
from common.paths import stored_path, user_directory
from common.storage import storage_path, workspace_storage_relative
from evaluation.general.benchmark_files import ChoiceItem, benchmark_file_read
from evaluation.models import GeneralEval, GeneralEvalItem
from training.models import BaseModel, ModelArtifact

NAME_MAX = 200
SHOTS_LIMIT = 25
ITEMS_LIMIT = 100_000
FILE_SUFFIXES = (".csv", ".jsonl", ".json")
MODEL_SLOTS = ("baseline", "candidate")


def _model_check(model, *, workspace: Workspace, where: str) -> dict:
    if isinstance(model, BaseModel):
        kind = "base_model"
    elif isinstance(model, ModelArtifact):
        kind = "artifact"
    else:
        raise ApplicationError("choose a base model or a model artifact", where=where)
    if model.workspace_id != workspace.pk:
        raise ApplicationError(f"{model.name!r} belongs to another workspace", where=where)
    return {kind: model}


def _named_files(*, workspace: Workspace, path: str, where: str) -> list[tuple[str, Path]]:
    """(name, path) of the file named, or of the benchmark files in the folder named (not recursive, sorted)."""
    resolved = user_directory(workspace_id=workspace.pk, path=path, where=where)
    if resolved.is_file():
        return [(resolved.name, resolved)]
    if resolved.is_dir():
        files = sorted(p for p in resolved.iterdir() if p.is_file() and p.suffix.lower() in FILE_SUFFIXES)
        if not files:
            raise ApplicationError(f"{path} holds no .csv or .jsonl file", where=where)
        return [(p.name, p) for p in files]
    raise ApplicationError(f"{path} is neither a file nor a folder on the server", where=where)


def _read_all(sources: list[tuple[str, bytes]]) -> list[ChoiceItem]:
    items: list[ChoiceItem] = []
    for name, data in sources:
        items.extend(benchmark_file_read(name=name, data=data))
        if len(items) > ITEMS_LIMIT:
            raise ApplicationError(f"more than {ITEMS_LIMIT} questions", where=name)
    return items


def _shot_dict(item: ChoiceItem) -> dict:
    return {"question": item.question, "choices": list(item.choices), "gold": item.gold, "style": item.style}


def general_eval_create(*, workspace: Workspace, name: str, baseline, candidate=None, shots: int = 5,
                        tolerance: float = 0.02, test_uploads: list[tuple[str, bytes]] | None = None,
                        dev_uploads: list[tuple[str, bytes]] | None = None, test_path: str = "", dev_path: str = "",
                        created_by=None) -> GeneralEval:
    """Read and check every file, store the uploads and the items, and queue the scoring job after commit.

    `baseline` / `candidate`: a BaseModel or ModelArtifact of `workspace` (the candidate is optional). Test files come
    from `test_uploads` (name, bytes) and/or `test_path`; dev files likewise. Nothing is kept when a file is bad.
    """
    name = (name or "").strip()
    if not name:
        raise ApplicationError("give the check a name", where="name")
    if len(name) > NAME_MAX:
        raise ApplicationError(f"the name is {len(name)} characters; the limit is {NAME_MAX}", where="name")
    models = {f"baseline_{k}": v for k, v in _model_check(baseline, workspace=workspace, where="baseline").items()}
    if candidate is not None:
        models.update(
            {f"candidate_{k}": v for k, v in _model_check(candidate, workspace=workspace, where="candidate").items()}
        )
    if not isinstance(shots, int) or isinstance(shots, bool) or not 0 <= shots <= SHOTS_LIMIT:
        raise ApplicationError(f"k must be a whole number from 0 to {SHOTS_LIMIT}; got {shots!r}", where="shots")
    if not isinstance(tolerance, int | float) or not 0.0 <= tolerance <= 1.0:
        raise ApplicationError(f"the tolerance must lie between 0 and 1; got {tolerance!r}", where="tolerance")

    files: list[dict] = []
    sources: dict[str, list[tuple[str, bytes]]] = {"test": [], "dev": []}
    for role, uploads, path in (("test", test_uploads or [], test_path), ("dev", dev_uploads or [], dev_path)):
        for upload_name, data in uploads:
            sources[role].append((Path(upload_name).name, data))
            files.append({"name": Path(upload_name).name, "role": role, "source": "upload", "data": data})
        if path and path.strip():
            for file_name, file_path in _named_files(workspace=workspace, path=path, where=f"{role}_path"):
                sources[role].append((file_name, file_path.read_bytes()))
                files.append({"name": file_name, "role": role, "source": "path", "path": stored_path(file_path)})
    if not sources["test"]:
        raise ApplicationError("give at least one test file (uploaded or a path on the server)", where="test_files")
    test_items = _read_all(sources["test"])
    dev_items = _read_all(sources["dev"])
    fewshot: dict[str, list[dict]] = {}
    if shots:
        by_subject: dict[str, list[ChoiceItem]] = {}
        for item in dev_items:
            by_subject.setdefault(item.subject, []).append(item)
        for subject in dict.fromkeys(item.subject for item in test_items):
            dev = by_subject.get(subject, [])
            if len(dev) < shots:
                raise ApplicationError(f"subject {subject!r} has {len(dev)} dev rows; {shots}-shot needs {shots}",
                                       where="dev_files")
            fewshot[subject] = [_shot_dict(item) for item in dev[:shots]]

    with transaction.atomic():
        general_eval = GeneralEval.objects.create(
            workspace=workspace,
            name=name,
            shots=shots,
            tolerance=float(tolerance),
            fewshot=fewshot,
            created_by=created_by,
            **models,
        )
        folder = f"{workspace_storage_relative(workspace.pk)}/general_eval/{general_eval.pk}-{secrets.token_hex(4)}"
        stored = []
        for number, entry in enumerate(files):
            if entry["source"] == "upload":
                relative = f"{folder}/{entry['role']}/{number:03d}-{entry['name']}"
                storage_path(relative).write_bytes(entry.pop("data"))
                entry["path"] = relative
            stored.append(entry)
        general_eval.files = stored
        general_eval.save(update_fields=["files"])
        GeneralEvalItem.objects.bulk_create([
            GeneralEvalItem(general_eval=general_eval, order=order, subject=item.subject, style=item.style,
                            question=item.question, choices=list(item.choices), gold=item.gold, source=item.where[:300])
            for order, item in enumerate(test_items)
        ], batch_size=2000)
        history_record(actor=created_by, target=general_eval, verb="created",
                       after={"items": len(test_items), "shots": shots, "tolerance": tolerance,
                              "files": [f["name"] for f in stored]})
        transaction.on_commit(lambda: _enqueue(general_eval.pk))
    return general_eval


def _enqueue(general_eval_id: int) -> None:
    from evaluation.tasks import general_eval_run_task

    general_eval_run_task.enqueue(general_eval_id=general_eval_id)


def general_eval_fail(*, general_eval: GeneralEval, reason: str) -> GeneralEval:
    with transaction.atomic():
        GeneralEval.objects.filter(pk=general_eval.pk).update(status=GeneralEval.Status.FAILED, error=reason[:4000],
                                                              updated_at=timezone.now())
        history_record(actor=None, target=general_eval, verb="failed", after={"error": reason[:4000]})
    general_eval.refresh_from_db()
    return general_eval


def _model_of(general_eval: GeneralEval, slot: str) -> tuple[BaseModel, ModelArtifact | None] | None:
    artifact = getattr(general_eval, f"{slot}_artifact")
    if artifact is not None:
        return artifact.base_model, artifact
    base_model = getattr(general_eval, f"{slot}_base_model")
    return (base_model, None) if base_model is not None else None


def _item_of(row: GeneralEvalItem) -> ChoiceItem:
    return ChoiceItem(
        subject=row.subject, style=row.style, question=row.question, choices=tuple(row.choices), gold=row.gold
    )


def _slot_score(*, general_eval: GeneralEval, slot: str, done: int, total: int, progress=None) -> int:
    """Score the items this slot's model has not scored yet; return how many items of the job are done."""
    from evaluation.general import prompts
    from evaluation.general.scoring import ScoreRequest, loglikelihoods
    from training.services.base_models import base_model_directory, model_directory
    from training.services.generation import model_load

    rows = list(general_eval.items.filter(**{f"{slot}_scores__isnull": True}).order_by("order"))
    if not rows:
        return done + general_eval.items.count()
    base_model, artifact = _model_of(general_eval, slot)
    if artifact is not None and artifact.kind != ModelArtifact.Kind.ADAPTER:
        model, tokenizer = model_load(base_dir=model_directory(artifact.path), adapter_dir=None)
    else:
        model, tokenizer = model_load(base_dir=base_model_directory(base_model),
                                      adapter_dir=model_directory(artifact.path) if artifact is not None else None)
    shots = {
        subject: [
            ChoiceItem(
                subject=subject, style=s["style"], question=s["question"], choices=tuple(s["choices"]), gold=s["gold"]
            )
            for s in shot_list
        ]
        for subject, shot_list in general_eval.fewshot.items()
    }
    already = done + general_eval.items.count() - len(rows)
    chunk = 256  # scored and saved in chunks, so a resumed job keeps what is done and the page shows progress
    started = time.perf_counter()
    for start in range(0, len(rows), chunk):
        part = rows[start:start + chunk]
        requests = []
        for row in part:
            item = _item_of(row)
            requests.append(ScoreRequest(context=prompts.context(item, shots.get(item.subject, [])),
                                         continuations=tuple(prompts.continuations(item)), group=item.subject))
        scores = loglikelihoods(model, tokenizer, requests)
        for row, values in zip(part, scores, strict=True):
            setattr(row, f"{slot}_scores", values)
            # argmax, the first on a tie: what lm-eval's acc takes (numpy argmax)
            setattr(row, f"{slot}_correct", max(range(len(values)), key=lambda i: (values[i], -i)) == row.gold)
        with transaction.atomic():
            GeneralEvalItem.objects.bulk_update(part, [f"{slot}_scores", f"{slot}_correct"])
            GeneralEval.objects.filter(pk=general_eval.pk).update(
                progress=min(1.0, (already + start + len(part)) / total), updated_at=timezone.now(),
                items_per_s=(start + len(part)) / max(time.perf_counter() - started, 1e-9))
        if progress is not None:
            progress(min(1.0, (already + start + len(part)) / total))
    return done + general_eval.items.count()


def general_eval_run(*, general_eval: GeneralEval, progress=None) -> GeneralEval:
    """Score every item with each model; on any failure, mark the check failed with the reason. Idempotent: a done
    or failed check is left alone, and a resumed one keeps the scores already stored. `progress(fraction)`, when
    given, is called after each saved chunk (the command's progress bar)."""
    if general_eval.status not in (GeneralEval.Status.QUEUED, GeneralEval.Status.RUNNING):
        return general_eval
    with transaction.atomic():
        GeneralEval.objects.filter(pk=general_eval.pk).update(
            status=GeneralEval.Status.RUNNING, updated_at=timezone.now()
        )
        history_record(actor=None, target=general_eval, verb="started")
    slots = [slot for slot in MODEL_SLOTS if _model_of(general_eval, slot) is not None]
    total = general_eval.items.count() * len(slots)
    done = 0
    for slot in slots:
        try:
            done = _slot_score(general_eval=general_eval, slot=slot, done=done, total=total, progress=progress)
        except Exception as error:  # terminal: the reason is shown and the engineer starts a new check
            return general_eval_fail(general_eval=general_eval, reason=f"scoring the {slot} model failed: {error}")
    with transaction.atomic():
        GeneralEval.objects.filter(pk=general_eval.pk).update(
            status=GeneralEval.Status.DONE, progress=1.0, updated_at=timezone.now()
        )
        history_record(actor=None, target=general_eval, verb="done")
    general_eval.refresh_from_db()
    return general_eval

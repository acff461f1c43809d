"""AI annotators: a model endpoint that labels a project's items through the same queue as people.

An AI annotator works as its own service user, so claim, overlap, leases, submit, gold scoring, agreement and the
review layers apply to it unchanged; its annotations carry the kind "ai". A run claims items in batches, asks the
endpoint about each one (llm.client.chat_complete_many: bounded concurrency, and cached when the temperature is 0, so
a rerun does not pay twice), and turns each answer into label paths:
- an answer that names known labels, within the schema's rules, is submitted like a person's answer;
- any other answer (unknown label, several labels on a single-choice schema, a label with sub-labels on a leaf-only
  schema, no label at all) is recorded as a failure with its reason, and the item is skipped, so its slot frees at once
  for someone else and this annotator is not offered it again (the same prompt would give the same answer);
- a call that fails (network, 5xx, timeout) gives the batch's items back unskipped and marks the run failed: a rerun
  retries them.
Every answer row keeps the model, the prompt version (hash of the template) and the raw text.
"""

import json
import re
from collections.abc import Callable
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.text import slugify

from annotation.models import AIAnnotator, AIAnswer, AIRun, AnnotationProject
from annotation.services.annotations import MAX_TIME_SPENT_MS, annotation_submit, schema_labels
from annotation.services.queue import assignment_claim_batch, assignment_release, assignment_skip
from common.errors import ApplicationError
from common.history import history_record
from datahub.models import Record
from llm.models import ModelEndpoint

PROMPT_MAX = 20_000
PLACEHOLDERS = ("{conversation}", "{labels}")
MAX_LIMIT = 100_000
BATCH_PER_CONCURRENCY = 2
STALE_AFTER = timedelta(minutes=15)
DEFAULT_PROMPT = """You label conversations. Read the conversation and pick the label that fits it best.

[Labels]
{labels}

[Conversation]
{conversation}

Answer with the label path only, exactly as written in the list (for example: {example}). Do not explain."""


def prompt_version(template: str) -> str:
    """A short, stable name of a prompt template (AIAnnotator.prompt_version)."""
    return AIAnnotator(prompt_template=template).prompt_version


# ---------------------------------------------------------------------------------------------------------------
# Setup


@transaction.atomic
def ai_annotator_create(*, project: AnnotationProject, name: str, endpoint: ModelEndpoint, prompt_template: str = "",
                        temperature: float = 0.0, max_tokens: int = 64, created_by=None) -> AIAnnotator:
    """Add an AI annotator to `project`, with its own service user (inactive, no password, no membership: it cannot
    log in or act anywhere but through its runs). `prompt_template` defaults to DEFAULT_PROMPT and must hold
    {conversation} and {labels}; {example} is optional."""
    name = " ".join((name or "").split())
    if not name or len(name) > 100:
        raise ApplicationError("give a name of 1 to 100 characters", where="name")
    if AIAnnotator.objects.filter(project=project, name=name).exists():
        raise ApplicationError(f"the project already has an AI annotator named {name!r}", where="name", code="exists")
    if endpoint.workspace_id != project.workspace_id:
        raise ApplicationError(f"model endpoint {endpoint.name!r} belongs to another workspace", where="endpoint")
    template = (prompt_template or "").strip() or DEFAULT_PROMPT
    if len(template) > PROMPT_MAX:
        raise ApplicationError(f"the prompt is {len(template)} characters; the limit is {PROMPT_MAX}", where="prompt_template")
    missing = [p for p in PLACEHOLDERS if p not in template]
    if missing:
        raise ApplicationError(f"the prompt must contain {', '.join(missing)}", where="prompt_template")
    if isinstance(temperature, bool) or not isinstance(temperature, int | float) or not 0 <= temperature <= 2:
        raise ApplicationError("must be a number between 0 and 2", where="temperature")
    if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or not 1 <= max_tokens <= 4096:
        raise ApplicationError("must be a whole number between 1 and 4096", where="max_tokens")
    user = _service_user(project=project, name=name)
    ai = AIAnnotator.objects.create(project=project, name=name, user=user, endpoint=endpoint, prompt_template=template,
                                    temperature=float(temperature), max_tokens=max_tokens,
                                    created_by=created_by if created_by is not None and created_by.is_authenticated else None)
    history_record(actor=created_by, target=ai, verb="created",
                   after={"project": project.pk, "endpoint": endpoint.pk, "user": user.pk, "prompt_version": prompt_version(template),
                          "temperature": ai.temperature})
    return ai


def _service_user(*, project: AnnotationProject, name: str):
    User = get_user_model()
    base = f"ai-{project.pk}-{slugify(name)[:100] or 'annotator'}"
    username, n = base, 1
    while User.objects.filter(username=username).exists():
        n += 1
        username = f"{base}-{n}"
    user = User(username=username, is_active=False)
    user.set_unusable_password()
    user.save()
    return user


# ---------------------------------------------------------------------------------------------------------------
# Prompt and answer


_PLACEHOLDER = re.compile(r"\{(conversation|labels|example)\}")


def ai_prompt_fill(*, template: str, record: Record, choices: list[tuple[str, str]], multiple: bool) -> str:
    """The prompt for one record, placeholders filled in one pass (braces inside the texts stay as they are).
    `choices`: (path, description) of every label that may be picked."""
    messages = list(record.messages or [])
    if record.kind == Record.Kind.PREFERENCE and record.chosen:
        messages = [*record.prompt_messages, record.chosen]
    conversation = "\n".join(f"{m.get('role', '')}: {m.get('content') or ''}" for m in messages)
    labels = "\n".join(f"- {path}: {description}" if description else f"- {path}" for path, description in choices)
    example = choices[0][0] if choices else ""
    if multiple and len(choices) > 1:
        example = f"{choices[0][0]}, {choices[1][0]}"
    values = {"conversation": conversation, "labels": labels, "example": example}
    return _PLACEHOLDER.sub(lambda match: values[match.group(1)], template)


class AnswerUnusable(Exception):
    """The model's answer does not name labels the schema accepts; `reason` says why."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


_FENCE = re.compile(r"^```[a-zA-Z]*\s*|\s*```$")
_BULLET = re.compile(r"^\s*(?:[-*•]|\d+[.)])\s+")
_PREFIX = re.compile(r"^\s*(?:final\s+)?(?:answer|labels?|category|topic)\s*[:=-]\s*", re.IGNORECASE)
_TRIM = " \t\"'`“”‘’[](){}<>.;:!?*"


def _clean(piece: str) -> str:
    piece = _PREFIX.sub("", _BULLET.sub("", piece.strip()))
    piece = piece.strip(_TRIM)
    # "Billing > Refund", "billing / refund" and "billing.refund"-free forms all mean the path billing/refund.
    piece = re.sub(r"\s*[>/]\s*", "/", piece)
    return " ".join(piece.split()).lower()


def _candidates(text: str) -> list[str]:
    """Label-like pieces of an answer: a JSON string, list, or object with "label"/"labels", else its lines split at
    commas and semicolons."""
    body = _FENCE.sub("", text.strip()).strip()
    try:
        data = json.loads(body)
    except ValueError:
        data = None
    if isinstance(data, dict):
        data = data.get("labels", data.get("label"))
    if isinstance(data, str):
        data = [data]
    if isinstance(data, list) and data and all(isinstance(x, str) for x in data):
        pieces = data
    else:
        pieces = [part for line in body.splitlines() for part in re.split(r"[,;]", line)]
    return [c for c in (_clean(p) for p in pieces) if c]


def ai_answer_parse(text: str, *, paths: list[str], multiple: bool, leaf_paths: set[str] | None = None) -> list[str]:
    """The label paths an answer names, checked against the schema; raises AnswerUnusable with the reason otherwise.

    `paths`: every label path that may be picked (case is ignored); `leaf_paths`, when given, are the only paths
    allowed (leaf-only schemas), so naming a parent is refused with that reason. A bare label name counts when exactly
    one path ends with it. When the pieces of the answer are not all labels, the answer is searched for full paths as
    words ("The topic is billing/refund."); an answer with no known label is never guessed into one.
    """
    if not (text or "").strip():
        raise AnswerUnusable("empty answer")
    by_lower = {path.lower(): path for path in paths}
    by_name: dict[str, list[str]] = {}
    for path in paths:
        by_name.setdefault(path.rsplit("/", 1)[-1].lower(), []).append(path)
    candidates = _candidates(text)

    def resolve(piece: str) -> str | None:
        if piece in by_lower:
            return by_lower[piece]
        named = by_name.get(piece, [])
        return named[0] if len(named) == 1 else None

    found = [resolve(piece) for piece in candidates]
    if candidates and all(found):
        chosen = list(dict.fromkeys(found))
    else:
        # Free text: the paths written out in it (longest first, so billing/refund is not also read as billing).
        lowered = text.lower()
        chosen = []
        for path in sorted(by_lower, key=len, reverse=True):
            pattern = r"(?<![\w/])" + re.escape(path) + r"(?![\w/])"
            if "/" in path and re.search(pattern, lowered) and not any(c.lower().startswith(path + "/") for c in chosen):
                chosen.append(by_lower[path])
        if not chosen:
            unknown = next((piece for piece, hit in zip(candidates, found) if hit is None), "")
            if len(candidates) == 1 and len(unknown) <= 60:
                raise AnswerUnusable(f"unknown label {unknown!r}")
            raise AnswerUnusable(f"no known label in the answer {_excerpt(text)!r}")
        chosen.sort(key=lambda path: lowered.find(path.lower()))
    if not multiple and len(chosen) > 1:
        raise AnswerUnusable(f"one label expected, the answer names {len(chosen)}: {', '.join(chosen)}")
    if leaf_paths is not None:
        parents = [path for path in chosen if path not in leaf_paths]
        if parents:
            raise AnswerUnusable(f"{parents[0]!r} has sub-labels; a more specific label is needed")
    return chosen


def _excerpt(text: str, limit: int = 80) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


# ---------------------------------------------------------------------------------------------------------------
# Runs


@transaction.atomic
def ai_run_create(*, ai_annotator: AIAnnotator, limit: int, created_by=None, enqueue: bool = True) -> AIRun:
    """A run of `ai_annotator` over up to `limit` items, queued as a background job after commit (`enqueue=False`: the
    caller runs it, e.g. the command). Refused while another run of the same annotator is queued or running and still
    moving; one that stopped moving for STALE_AFTER (its worker died) is marked failed first."""
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise ApplicationError(f"must be a whole number between 1 and {MAX_LIMIT}", where="limit")
    project = ai_annotator.project
    if project.status != AnnotationProject.Status.OPEN:
        raise ApplicationError("the project is closed", where="project", code="closed")
    human_only_check(project)
    live = list(AIRun.objects.select_for_update().filter(ai_annotator=ai_annotator, status__in=[AIRun.Status.QUEUED, AIRun.Status.RUNNING]))
    for run in live:
        if run.updated_at > timezone.now() - STALE_AFTER:
            raise ApplicationError(f"run {run.pk} of {ai_annotator.name!r} is still {run.status}; wait for it to finish",
                                   where="ai_annotator", code="busy")
        _finish(run, status=AIRun.Status.FAILED, error="stopped making progress (the worker was probably restarted)")
    run = AIRun.objects.create(ai_annotator=ai_annotator, limit=limit,
                               created_by=created_by if created_by is not None and created_by.is_authenticated else None)
    history_record(actor=created_by, target=run, verb="queued", after={"ai_annotator": ai_annotator.pk, "limit": limit})
    if enqueue:
        from annotation.tasks import ai_run_execute_job

        run_id = run.pk
        transaction.on_commit(lambda: ai_run_execute_job.enqueue(ai_run_id=run_id))
    return run


def human_only_check(project: AnnotationProject) -> None:
    """Refuse AI work in a project whose mode is human only."""
    if project.mode == AnnotationProject.Mode.HUMAN_ONLY:
        raise ApplicationError("this project is labelled by people only; choose the mode \"AI first, human verifies\" or "
                               "\"AI labels beside people\" in its layers to run AI annotators", where="project", code="human_only")


def _finish(run: AIRun, *, status: str, error: str = "") -> None:
    run.status, run.error, run.finished_at = status, error, timezone.now()
    run.save(update_fields=["status", "error", "finished_at", "updated_at"])
    history_record(actor=None, target=run, verb=status,
                   after={"processed": run.processed, "annotated": run.annotated, "failed": run.failed, "error": error})


def ai_run_execute(*, run: AIRun, on_progress: Callable[[int, int], None] | None = None) -> AIRun:
    """Label up to run.limit items; see the module docstring for what happens to each answer. Idempotent: a run that
    is not queued is returned as it is. `on_progress(processed, limit)` is called after every batch.

    Not inside a transaction: it waits on the network. Each submit and skip is its own transaction, so a crash loses
    at most the batch in flight (its leases run out and the items go back to the queue).
    """
    from llm.client import chat_complete_many
    from llm.errors import ModelCallError

    if not AIRun.objects.filter(pk=run.pk, status=AIRun.Status.QUEUED).update(status=AIRun.Status.RUNNING, started_at=timezone.now(),
                                                                            updated_at=timezone.now()):
        run.refresh_from_db()
        return run
    run.refresh_from_db()
    ai = AIAnnotator.objects.select_related("project__workspace", "project__schema", "endpoint", "user").get(pk=run.ai_annotator_id)
    project, schema = ai.project, ai.project.schema
    if project.mode == AnnotationProject.Mode.HUMAN_ONLY:
        # The mode changed after the run was queued.
        _finish(run, status=AIRun.Status.FAILED, error="the project is labelled by people only")
        return run
    labels = schema_labels(schema=schema)
    selectable = [label for label in sorted(labels.values(), key=lambda label: label.path)
                  if not (schema.leaf_only and label.has_children)]
    label_by_path = {label.path: label for label in labels.values()}
    paths = sorted(label_by_path)
    leaf_paths = {label.path for label in selectable} if schema.leaf_only else None
    choices = [(label.path, label.description) for label in selectable]
    version = prompt_version(ai.prompt_template)
    batch_size = max(1, ai.endpoint.concurrency * BATCH_PER_CONCURRENCY)
    purpose = f"ai annotator {ai.pk} run {run.pk}"
    try:
        while run.processed < run.limit:
            need = min(batch_size, run.limit - run.processed)
            held = assignment_claim_batch(project=project, annotator=ai.user, size=need)
            for extra in held[need:]:
                assignment_release(assignment=extra, released_by=ai.user, reason="more leases than the run needs")
            batch = held[:need]
            if not batch:
                break
            records = _records_of(batch)
            requests = [{"messages": [{"role": "user", "content": ai_prompt_fill(template=ai.prompt_template, record=records[a.task_id],
                                                                                choices=choices, multiple=schema.multiple)}],
                         "max_tokens": ai.max_tokens, "temperature": ai.temperature} for a in batch]
            try:
                results = chat_complete_many(endpoint=ai.endpoint, requests=requests, purpose=purpose)
            except ModelCallError as error:
                for assignment in batch:
                    assignment_release(assignment=assignment, released_by=ai.user, reason="the model call failed")
                _finish(run, status=AIRun.Status.FAILED, error=error.message)
                return run
            annotated = failed = 0
            for assignment, result in zip(batch, results):
                answer = AIAnswer(run=run, task_id=assignment.task_id, model=result.model or ai.endpoint.model, prompt_version=version,
                                  response_text=result.text[:20_000])
                try:
                    chosen = ai_answer_parse(result.text, paths=paths, multiple=schema.multiple, leaf_paths=leaf_paths)
                except AnswerUnusable as problem:
                    answer.outcome, answer.reason = AIAnswer.Outcome.FAILED, problem.reason[:500]
                    assignment_skip(assignment=assignment, reason=f"AI answer unusable: {problem.reason}"[:500], skipped_by=ai.user)
                else:
                    answer.label_paths = chosen
                    try:
                        answer.annotation = annotation_submit(
                            assignment=assignment, label_ids=[label_by_path[path].pk for path in chosen],
                            time_spent_ms=min(int(result.latency_ms), MAX_TIME_SPENT_MS), submitted_by=ai.user)
                        answer.outcome = AIAnswer.Outcome.ANNOTATED
                    except ApplicationError as refused:
                        # E.g. the lease ran out while the model answered: the item goes back to the queue, this
                        # annotator included.
                        answer.outcome, answer.reason = AIAnswer.Outcome.FAILED, f"submit refused: {refused.message}"[:500]
                        assignment_release(assignment=assignment, released_by=ai.user, reason=answer.reason)
                if answer.outcome == AIAnswer.Outcome.ANNOTATED:
                    annotated += 1
                else:
                    failed += 1
                answer.save()
            AIRun.objects.filter(pk=run.pk).update(processed=F("processed") + annotated + failed, annotated=F("annotated") + annotated,
                                                   failed=F("failed") + failed, updated_at=timezone.now())
            run.refresh_from_db()
            if on_progress is not None:
                on_progress(run.processed, run.limit)
    except ApplicationError as error:
        # The project closed, or the pools no longer include AI annotators: terminal for this run.
        _finish(run, status=AIRun.Status.FAILED, error=str(error))
        return run
    _finish(run, status=AIRun.Status.DONE)
    return run


def _records_of(assignments) -> dict[int, Record]:
    """task id -> its record, for a batch (one query)."""
    records = Record.objects.filter(version_entries__annotation_tasks__pk__in=[a.task_id for a in assignments]).annotate(
        task_id=F("version_entries__annotation_tasks__pk"))
    return {record.task_id: record for record in records}

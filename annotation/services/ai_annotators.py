"""AI annotators: a model endpoint that labels a project's items through the same queue as people.

An AI annotator works as its own service user, so claim, overlap, leases, submit, gold scoring, agreement and the
review layers apply to it unchanged; its annotations carry the kind "ai". A run claims items in batches, asks the
endpoint about each one (llm.client.chat_complete_many: bounded concurrency, and cached when the temperature is 0, so
a rerun does not pay twice), and turns each answer into label paths, plus the answers to the schema's other
questions (rating, free text, the pairwise preference on records with two answers; see ai_answers):
- an answer that names known labels, within the schema's rules, and answers the asked questions usably is submitted
  like a person's answer;
- any other answer (unknown label, several labels on a single-choice schema, a label with sub-labels on a leaf-only
  schema, no label at all, a rating out of range, no preference...) is recorded as a failure with its reason, and the
  item is skipped, so its slot frees at once for someone else and this annotator is not offered it again (the same
  prompt would give the same answer);
- a call that fails (network, 5xx, timeout) gives the batch's items back unskipped and marks the run failed: a rerun
  retries them.
Every answer row keeps the model, the prompt version (hash of the template), the raw text and what it was read as.

A schema that asks questions beside the labels needs {questions} in the template (it expands to the questions and the
JSON answer format): creating an annotator, and starting or running a run, is refused without it, rather than asking a
model for fields its prompt never mentions. The default template of such a schema holds it.
"""

from collections.abc import Callable
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.text import slugify

from annotation.models import AIAnnotator, AIAnswer, AIRun, AnnotationProject, AnnotationTask, LabelSchema
from annotation.services.ai_answers import (
    DEFAULT_PROMPT,
    DEFAULT_PROMPT_QUESTIONS_ONLY,
    DEFAULT_PROMPT_WITH_QUESTIONS,
    QUESTIONS_PLACEHOLDER,
    AnswerUnusable,
    ai_answer_read,
    ai_prompt_fill,
    ai_questions,
    schema_questions,
)
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
MAX_TOKENS_LABELS, MAX_TOKENS_QUESTIONS = 64, 256


def prompt_version(template: str) -> str:
    """A short, stable name of a prompt template (AIAnnotator.prompt_version)."""
    return AIAnnotator(prompt_template=template).prompt_version


# ---------------------------------------------------------------------------------------------------------------
# Setup


@transaction.atomic
def ai_annotator_create(*, project: AnnotationProject, name: str, endpoint: ModelEndpoint, prompt_template: str = "",
                        temperature: float = 0.0, max_tokens: int | None = None, created_by=None) -> AIAnnotator:
    """Add an AI annotator to `project`, with its own service user (inactive, no password, no membership: it cannot
    log in or act anywhere but through its runs). `prompt_template` defaults to ai_default_prompt(schema) and must
    hold {conversation}, {labels} (unless the schema has no labels), and {questions} when the schema asks more than
    labels; {example} is optional.
    `max_tokens` defaults to MAX_TOKENS_LABELS, or MAX_TOKENS_QUESTIONS when the schema asks more (a JSON answer)."""
    name = " ".join((name or "").split())
    if not name or len(name) > 100:
        raise ApplicationError("give a name of 1 to 100 characters", where="name")
    if AIAnnotator.objects.filter(project=project, name=name).exists():
        raise ApplicationError(f"the project already has an AI annotator named {name!r}", where="name", code="exists")
    if endpoint.workspace_id != project.workspace_id:
        raise ApplicationError(f"model endpoint {endpoint.name!r} belongs to another workspace", where="endpoint")
    schema = project.schema
    template = (prompt_template or "").strip() or ai_default_prompt(schema)
    if len(template) > PROMPT_MAX:
        raise ApplicationError(
            f"the prompt is {len(template)} characters; the limit is {PROMPT_MAX}", where="prompt_template"
        )
    has_labels = bool(schema_labels(schema=schema))
    missing = [p for p in PLACEHOLDERS if p not in template and (p != "{labels}" or has_labels)]
    if missing:
        raise ApplicationError(f"the prompt must contain {', '.join(missing)}", where="prompt_template")
    questions_placeholder_check(template=template, schema=schema)
    if max_tokens is None:
        max_tokens = MAX_TOKENS_QUESTIONS if schema_questions(schema) else MAX_TOKENS_LABELS
    if isinstance(temperature, bool) or not isinstance(temperature, int | float) or not 0 <= temperature <= 2:
        raise ApplicationError("must be a number between 0 and 2", where="temperature")
    if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or not 1 <= max_tokens <= 4096:
        raise ApplicationError("must be a whole number between 1 and 4096", where="max_tokens")
    user = _service_user(project=project, name=name)
    ai = AIAnnotator.objects.create(
        project=project,
        name=name,
        user=user,
        endpoint=endpoint,
        prompt_template=template,
        temperature=float(temperature),
        max_tokens=max_tokens,
        created_by=created_by if created_by is not None and created_by.is_authenticated else None,
    )
    history_record(
        actor=created_by,
        target=ai,
        verb="created",
        after={
            "project": project.pk,
            "endpoint": endpoint.pk,
            "user": user.pk,
            "prompt_version": prompt_version(template),
            "temperature": ai.temperature,
        },
    )
    return ai


def ai_default_prompt(schema: LabelSchema) -> str:
    """The template an annotator gets when none is given: DEFAULT_PROMPT for labels only (unchanged, so its prompt
    version stays), DEFAULT_PROMPT_WITH_QUESTIONS when the schema asks more, DEFAULT_PROMPT_QUESTIONS_ONLY when it
    has no labels."""
    if not schema_questions(schema):
        return DEFAULT_PROMPT
    # A schema not saved yet (a draft) has its labels still to come.
    has_labels = schema.pk is None or bool(schema_labels(schema=schema))
    return DEFAULT_PROMPT_WITH_QUESTIONS if has_labels else DEFAULT_PROMPT_QUESTIONS_ONLY


_QUESTION_NAMES = {
    "rating": "a rating",
    "free_text": "a free-text answer",
    "preference": "a preference between two answers",
    "ranking": "a ranking of several answers",
}


def questions_placeholder_check(*, template: str, schema: LabelSchema) -> None:
    """Refuse a template without {questions} when the schema asks more than labels: such a prompt would never tell the
    model about the questions, and every answer would fail."""
    keys = schema_questions(schema)
    if keys and QUESTIONS_PLACEHOLDER not in template:
        asked = ", ".join(_QUESTION_NAMES.get(key, key) for key in keys)
        raise ApplicationError(
            f"the schema {schema} also asks for {asked}; the prompt must contain {QUESTIONS_PLACEHOLDER}, "
            "which is replaced by the questions and the answer format",
            where="prompt_template",
        )


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
# Runs


@transaction.atomic
def ai_run_create(*, ai_annotator: AIAnnotator, limit: int, created_by=None, enqueue: bool = True) -> AIRun:
    """A run of `ai_annotator` over up to `limit` items, queued as a background job after commit (`enqueue=False`: the
    caller runs it, e.g. the command). Refused while another run of the same annotator is queued or running and still
    moving; one that stopped moving for STALE_AFTER (its worker died) is marked failed first. Refused too when the
    schema now asks questions its template cannot ask (questions_placeholder_check; e.g. after a schema move)."""
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise ApplicationError(f"must be a whole number between 1 and {MAX_LIMIT}", where="limit")
    project = ai_annotator.project
    if project.status != AnnotationProject.Status.OPEN:
        raise ApplicationError("the project is closed", where="project", code="closed")
    human_only_check(project)
    questions_placeholder_check(template=ai_annotator.prompt_template, schema=project.schema)
    live = list(
        AIRun.objects.select_for_update().filter(
            ai_annotator=ai_annotator, status__in=[AIRun.Status.QUEUED, AIRun.Status.RUNNING]
        )
    )
    for run in live:
        if run.updated_at > timezone.now() - STALE_AFTER:
            raise ApplicationError(
                f"run {run.pk} of {ai_annotator.name!r} is still {run.status}; wait for it to finish",
                where="ai_annotator",
                code="busy",
            )
        _finish(run, status=AIRun.Status.FAILED, error="stopped making progress (the worker was probably restarted)")
    run = AIRun.objects.create(
        ai_annotator=ai_annotator,
        limit=limit,
        created_by=created_by if created_by is not None and created_by.is_authenticated else None,
    )
    history_record(actor=created_by, target=run, verb="queued", after={"ai_annotator": ai_annotator.pk, "limit": limit})
    if enqueue:
        from annotation.tasks import ai_run_execute_task

        run_id = run.pk
        transaction.on_commit(lambda: ai_run_execute_task.enqueue(ai_run_id=run_id))
    return run


def human_only_check(project: AnnotationProject) -> None:
    """Refuse AI work in a project whose mode is human only."""
    if project.mode == AnnotationProject.Mode.HUMAN_ONLY:
        raise ApplicationError(
            "this project is labelled by people only; choose the mode \"AI first, human verifies\" or "
            "\"AI labels beside people\" in its layers to run AI annotators",
            where="project",
            code="human_only",
        )


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

    if not AIRun.objects.filter(pk=run.pk, status=AIRun.Status.QUEUED).update(
        status=AIRun.Status.RUNNING, started_at=timezone.now(), updated_at=timezone.now()
    ):
        run.refresh_from_db()
        return run
    run.refresh_from_db()
    ai = AIAnnotator.objects.select_related("project__workspace", "project__schema", "endpoint", "user").get(
        pk=run.ai_annotator_id
    )
    project, schema = ai.project, ai.project.schema
    if project.mode == AnnotationProject.Mode.HUMAN_ONLY:
        # The mode changed after the run was queued.
        _finish(run, status=AIRun.Status.FAILED, error="the project is labelled by people only")
        return run
    try:
        # The schema may have moved to a version with questions since the run was queued.
        questions_placeholder_check(template=ai.prompt_template, schema=schema)
    except ApplicationError as error:
        _finish(run, status=AIRun.Status.FAILED, error=str(error))
        return run
    labels = schema_labels(schema=schema)
    label_by_path = {label.path: label for label in labels.values()}
    paths = sorted(label_by_path)
    choices = label_choices(schema=schema)
    leaf_paths = {path for path, _ in choices} if schema.leaf_only else None
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
            candidates = _candidates_of(batch) if schema.ranking_question else {}
            questions = {
                a.task_id: ai_questions(
                    schema=schema, record=records[a.task_id], candidates=candidates.get(a.task_id, [])
                )
                for a in batch
            }
            requests = [
                {
                    "messages": [
                        {
                            "role": "user",
                            "content": ai_prompt_fill(
                                template=ai.prompt_template,
                                record=records[a.task_id],
                                choices=choices,
                                multiple=schema.multiple,
                                questions=questions[a.task_id],
                            ),
                        }
                    ],
                    "max_tokens": ai.max_tokens,
                    "temperature": ai.temperature,
                }
                for a in batch
            ]
            try:
                results = chat_complete_many(endpoint=ai.endpoint, requests=requests, purpose=purpose)
            except ModelCallError as error:
                for assignment in batch:
                    assignment_release(assignment=assignment, released_by=ai.user, reason="the model call failed")
                _finish(run, status=AIRun.Status.FAILED, error=error.message)
                return run
            annotated = failed = 0
            for assignment, result in zip(batch, results):
                answer = AIAnswer(
                    run=run,
                    task_id=assignment.task_id,
                    model=result.model or ai.endpoint.model,
                    prompt_version=version,
                    response_text=result.text[:20_000],
                )
                try:
                    reading = ai_answer_read(result.text, paths=paths, multiple=schema.multiple, leaf_paths=leaf_paths,
                                             questions=questions[assignment.task_id])
                except AnswerUnusable as problem:
                    answer.outcome, answer.reason = AIAnswer.Outcome.FAILED, problem.reason[:500]
                    assignment_skip(
                        assignment=assignment, reason=f"AI answer unusable: {problem.reason}"[:500], skipped_by=ai.user
                    )
                else:
                    answer.label_paths = reading.label_paths
                    # Each read field has the same name on AIAnswer and in annotation_submit.
                    for key, value in reading.fields.items():
                        setattr(answer, key, value)
                    try:
                        answer.annotation = annotation_submit(
                            assignment=assignment,
                            label_ids=[label_by_path[path].pk for path in reading.label_paths],
                            time_spent_ms=min(int(result.latency_ms), MAX_TIME_SPENT_MS),
                            submitted_by=ai.user,
                            **reading.fields,
                        )
                        answer.outcome = AIAnswer.Outcome.ANNOTATED
                    except ApplicationError as refused:
                        # E.g. the lease ran out while the model answered: the item goes back to the queue, this
                        # annotator included.
                        answer.outcome, answer.reason = (
                            AIAnswer.Outcome.FAILED,
                            f"submit refused: {refused.message}"[:500],
                        )
                        assignment_release(assignment=assignment, released_by=ai.user, reason=answer.reason)
                if answer.outcome == AIAnswer.Outcome.ANNOTATED:
                    annotated += 1
                else:
                    failed += 1
                answer.save()
            AIRun.objects.filter(pk=run.pk).update(
                processed=F("processed") + annotated + failed,
                annotated=F("annotated") + annotated,
                failed=F("failed") + failed,
                updated_at=timezone.now(),
            )
            run.refresh_from_db()
            if on_progress is not None:
                on_progress(run.processed, run.limit)
    except ApplicationError as error:
        # The project closed, or the pools no longer include AI annotators: terminal for this run.
        _finish(run, status=AIRun.Status.FAILED, error=str(error))
        return run
    _finish(run, status=AIRun.Status.DONE)
    return run


def label_choices(*, schema: LabelSchema) -> list[tuple[str, str]]:
    """(path, what the prompt says of it) for every label the schema lets an annotator pick, by path: its description,
    and its examples when it has some (`billing/refund: Money back. Examples: "Where is my refund?"`)."""
    labels = sorted(schema_labels(schema=schema).values(), key=lambda label: label.path)
    choices = []
    for label in labels:
        if schema.leaf_only and label.has_children:
            continue
        hint = label.description
        if label.examples:
            examples = "; ".join(f'"{example}"' for example in label.examples)
            hint = f"{hint.rstrip('.')}. Examples: {examples}" if hint else f"Examples: {examples}"
        choices.append((label.path, hint))
    return choices


def _candidates_of(assignments) -> dict[int, list]:
    """task id -> a ranking item's answers in entry order, numbered 1..N (two queries; empty lists for other items)."""
    from annotation.selectors import candidate_answers, candidates_shown

    tasks = dict(AnnotationTask.objects.filter(pk__in=[a.task_id for a in assignments]).values_list("pk", "candidates"))
    texts = candidate_answers(entry_ids=[entry for entries in tasks.values() for entry in entries])
    return {task_id: candidates_shown(entries, texts, seed=None) for task_id, entries in tasks.items()}


def _records_of(assignments) -> dict[int, Record]:
    """task id -> its record, for a batch (one query)."""
    records = Record.objects.filter(
        version_entries__annotation_tasks__pk__in=[a.task_id for a in assignments]
    ).annotate(task_id=F("version_entries__annotation_tasks__pk"))
    return {record.task_id: record for record in records}

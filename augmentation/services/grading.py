"""Source grading: a quality score per record of a source (rules or an LLM judge) and a suggested tier; a person sets
the tier with datahub.services.datasets.source_quality_tier_set."""

from django.db import transaction
from django.utils import timezone

from augmentation.grading_rules import JUDGE_PROMPT, RULES_DEFAULT, judge_score_parse, rules_grade, tier_suggest
from augmentation.models import GradingRun, JobStatus, RecordGrade
from common.errors import ApplicationError
from common.history import history_record
from datahub.models import Record, Source
from datahub.selectors import source_records
from datahub.services.records import records_quality_score_set

CHUNK = 200
JUDGE_BATCH = 32
OPTIONS_DEFAULT = {**RULES_DEFAULT, "judge_max_tokens": 32, "seed": 0}


def grading_run_create(
    *,
    source: Source,
    method: str = GradingRun.Method.RULES,
    options: dict | None = None,
    endpoint=None,
    created_by=None,
    run_in_background: bool = True,
) -> GradingRun:
    if method not in GradingRun.Method.values:
        raise ApplicationError(f"method is one of {', '.join(GradingRun.Method.values)}", where="method")
    unknown = set(options or {}) - set(OPTIONS_DEFAULT)
    if unknown:
        raise ApplicationError(f"unknown option {sorted(unknown)[0]!r}", where="options")
    clean = {**OPTIONS_DEFAULT, **(options or {})}
    if clean["language"] not in ("", "en", "zh"):
        raise ApplicationError("language is en, zh or empty (the prompt's own)", where="language")
    if method == GradingRun.Method.LLM_JUDGE and endpoint is None:
        raise ApplicationError("an LLM judge needs a model endpoint", where="endpoint")
    if endpoint is not None and endpoint.workspace_id != source.workspace_id:
        raise ApplicationError("the model endpoint belongs to another workspace", where="endpoint")
    with transaction.atomic():
        run = GradingRun.objects.create(
            source=source, method=method, options=clean, endpoint=endpoint, created_by=created_by
        )
        history_record(actor=created_by, target=run, verb="created", after={"source": source.pk, "method": method})
        if run_in_background:
            from augmentation.tasks import grading_run_execute_task

            transaction.on_commit(lambda: grading_run_execute_task.enqueue(run_id=run.pk))
    return run


def record_texts(record: Record) -> tuple[str, str]:
    """(the prompt's user turns, the answer) of a record, as the grader reads them."""
    prompt = "\n".join(m.get("content") or "" for m in record.prompt_messages if m.get("role") == "user")
    return prompt, record.response_text


def _judge(run: GradingRun, records: list[Record]) -> list[tuple[float | None, list, str]]:
    """(score, reasons, error) per record. A batch with failed calls is retried one by one (successes are cached)
    so each failure is recorded against its own record."""
    from llm.client import chat_complete, chat_complete_many
    from llm.errors import ModelCallError

    requests = []
    for record in records:
        prompt, response = record_texts(record)
        requests.append(
            {
                "messages": [{"role": "user", "content": JUDGE_PROMPT.format(prompt=prompt, response=response)}],
                "max_tokens": run.options["judge_max_tokens"],
                "temperature": 0.0,
                "seed": run.options["seed"],
            }
        )
    purpose = f"grading {run.pk}"
    try:
        replies: list = [r.text for r in chat_complete_many(endpoint=run.endpoint, requests=requests, purpose=purpose)]
    except ModelCallError:
        replies = []
        for request in requests:
            try:
                replies.append(chat_complete(endpoint=run.endpoint, purpose=purpose, **request).text)
            except ModelCallError as exc:
                replies.append(exc)
    out = []
    for reply in replies:
        if isinstance(reply, ModelCallError):
            out.append((None, [], f"the call failed: {reply.message}"))
            continue
        score = judge_score_parse(reply)
        if score is None:
            out.append((None, [], f"no score from 1 to 10 in the reply: {reply[:200]!r}"))
        else:
            out.append((score, [{"code": "judge", "penalty": round(1 - score, 4), "detail": reply.strip()[:300]}], ""))
    return out


def grading_run_execute(*, run: GradingRun, on_progress=None) -> GradingRun:
    """Score every record of the source, store a RecordGrade each and the record's quality_score, then the run's mean
    and suggested tier. Idempotent: only a queued run is executed; a re-run replaces its own grades."""
    claimed = GradingRun.objects.filter(pk=run.pk, status=JobStatus.QUEUED).update(
        status=JobStatus.RUNNING, updated_at=timezone.now()
    )
    if not claimed:
        return GradingRun.objects.get(pk=run.pk)
    run.refresh_from_db()
    records = source_records(source=run.source)
    total = records.count()
    GradingRun.objects.filter(pk=run.pk).update(total=total)
    RecordGrade.objects.filter(run=run).delete()
    done = failed = 0
    try:
        for start in range(0, total, CHUNK):
            chunk = list(records[start:start + CHUNK])
            if run.method == GradingRun.Method.RULES:
                results = [(*rules_grade(*record_texts(r), run.options), "") for r in chunk]
            else:
                results = []
                for batch_start in range(0, len(chunk), JUDGE_BATCH):
                    results.extend(_judge(run, chunk[batch_start:batch_start + JUDGE_BATCH]))
            with transaction.atomic():
                RecordGrade.objects.bulk_create(
                    [
                        RecordGrade(run=run, record=r, score=score, reasons=reasons, error=error)
                        for r, (score, reasons, error) in zip(chunk, results)
                    ]
                )
                scored = []
                for record, (score, _, _) in zip(chunk, results):
                    if score is not None:
                        record.quality_score = score
                        scored.append(record)
                records_quality_score_set(records=scored)
                done += len(chunk)
                failed += sum(1 for score, _, _ in results if score is None)
                GradingRun.objects.filter(pk=run.pk).update(
                    processed=done, failed_count=failed, updated_at=timezone.now()
                )
            if on_progress:
                on_progress(done, total)
    except Exception as exc:  # noqa: BLE001 - the run ends with its reason; grades written so far stay visible
        GradingRun.objects.filter(pk=run.pk).update(
            status=JobStatus.FAILED, error=str(exc)[:2000], finished_at=timezone.now()
        )
        run.refresh_from_db()
        return run
    from django.db.models import Avg

    mean = RecordGrade.objects.filter(run=run, score__isnull=False).aggregate(m=Avg("score"))["m"]
    with transaction.atomic():
        GradingRun.objects.filter(pk=run.pk).update(
            status=JobStatus.SUCCEEDED,
            mean_score=None if mean is None else round(mean, 4),
            suggested_tier=tier_suggest(mean),
            finished_at=timezone.now(),
        )
        run.refresh_from_db()
        history_record(
            actor=None,
            target=run,
            verb="graded",
            after={"records": done, "failed": failed, "mean": run.mean_score, "suggested_tier": run.suggested_tier},
        )
    return run

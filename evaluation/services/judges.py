"""LLM judges: an endpoint judges every shown comparison of a study in both orders.

MT-Bench found GPT-4 kept its verdict after a swap only 65% of the time, so each comparison is asked twice — the
left answer as A, then the right answer as A — and a verdict that flips with the order counts as a tie. A reply
without a readable verdict is "invalid"; it too counts as a tie in the judge's support rate, and is reported apart.
"""

import re

from django.db import transaction

from common.errors import ApplicationError
from common.history import history_record
from evaluation.models import Comparison, Judge, JudgeVerdict, Study
from llm.models import ModelEndpoint

PROMPT_MAX = 20_000
PLACEHOLDERS = ("{conversation}", "{answer_a}", "{answer_b}")
DEFAULT_JUDGE_PROMPT = """You are an impartial judge. Compare two assistant answers to the conversation below.
{question}

[Conversation]
{conversation}

[Answer A]
{answer_a}

[Answer B]
{answer_b}

Which answer is better? Ignore the answers' order and length. Reply with [[A]] if A is better, [[B]] if B is better,
or [[C]] for a tie."""

_BRACKETED = re.compile(r"\[\[\s*([ABC])\s*\]\]")
_BARE = re.compile(r"^\W*(?:answer\s+)?(A|B|tie|C)\b", re.IGNORECASE)
Outcome = JudgeVerdict.Outcome


def verdict_parse(text: str) -> str:
    """"A", "B", "tie" or "invalid" from a judge's reply: the first [[A]]/[[B]]/[[C]], else a reply that starts with
    A, B or tie. Anything else — random text from a tiny model, say — is invalid, never a guess."""
    match = _BRACKETED.search(text or "")
    if match:
        return {"A": "A", "B": "B", "C": "tie"}[match.group(1)]
    match = _BARE.match(text or "")
    if match:
        word = match.group(1).upper()
        return {"A": "A", "B": "B", "TIE": "tie", "C": "tie"}[word]
    return "invalid"


def verdicts_combine(shown: str, swapped: str) -> tuple[str, str, str]:
    """(shown-order outcome, swapped-order outcome, combined) as left/right/tie/invalid. `shown` was asked with the left
    answer as A, `swapped` with the right answer as A. Agreeing sides win; a flip or a side against a tie is a tie."""
    first = {"A": Outcome.LEFT, "B": Outcome.RIGHT, "tie": Outcome.TIE, "invalid": Outcome.INVALID}[shown]
    second = {"A": Outcome.RIGHT, "B": Outcome.LEFT, "tie": Outcome.TIE, "invalid": Outcome.INVALID}[swapped]
    if Outcome.INVALID in (first, second):
        combined = Outcome.INVALID
    elif first == second:
        combined = first
    else:
        combined = Outcome.TIE
    return first, second, combined


def _conversation_text(messages: list[dict]) -> str:
    return "\n".join(f"{m['role']}: {m['content']}" for m in messages)


_PLACEHOLDER = re.compile(r"\{(question|conversation|answer_a|answer_b)\}")


def judge_prompt_fill(*, prompt: str, question: str, messages: list[dict], answer_a: str, answer_b: str) -> str:
    """The judge prompt with its placeholders filled in one pass, so braces inside the texts stay as they are."""
    values = {
        "question": f"[Question for the judge] {question}" if question else "",
        "conversation": _conversation_text(messages),
        "answer_a": answer_a,
        "answer_b": answer_b,
    }
    return _PLACEHOLDER.sub(lambda match: values[match.group(1)], prompt)


@transaction.atomic
def judge_create(*, study: Study, endpoint: ModelEndpoint, prompt: str = "", created_by=None) -> Judge:
    """Queue an LLM judge of `study` (open or closed: its comparisons exist). `prompt` defaults to DEFAULT_JUDGE_PROMPT
    and must hold {conversation}, {answer_a} and {answer_b}."""
    prompt = (prompt or "").strip() or DEFAULT_JUDGE_PROMPT
    if endpoint.workspace_id != study.workspace_id:
        raise ApplicationError(f"model endpoint {endpoint.name!r} belongs to another workspace", where="endpoint")
    if study.status not in (Study.Status.OPEN, Study.Status.CLOSED):
        raise ApplicationError(
            f"a judge needs the study's comparisons; this study is {study.status}", where="study", code="not_open"
        )
    if len(prompt) > PROMPT_MAX:
        raise ApplicationError(f"the prompt is {len(prompt)} characters; the limit is {PROMPT_MAX}", where="prompt")
    missing = [p for p in PLACEHOLDERS if p not in prompt]
    if missing:
        raise ApplicationError(f"the prompt must contain {', '.join(missing)}", where="prompt")
    judge = Judge.objects.create(
        study=study,
        endpoint=endpoint,
        prompt=prompt,
        created_by=created_by if created_by is not None and created_by.is_authenticated else None,
    )
    history_record(actor=created_by, target=judge, verb="created", after={"study": study.pk, "endpoint": endpoint.pk})

    from evaluation.tasks import judge_run_task

    judge_id = judge.pk
    transaction.on_commit(lambda: judge_run_task.enqueue(judge_id=judge_id))
    return judge


def judge_run(*, judge: Judge) -> Judge:
    """Ask the judge about every shown comparison not judged yet, in both orders, and store the verdicts; a failed call
    marks the judge failed with the reason (verdicts already stored are kept, and a rerun asks only for the rest)."""
    from llm.client import chat_complete_many

    if judge.status != Judge.Status.QUEUED:
        return judge
    study = judge.study
    comparisons = list(Comparison.objects.filter(study=study, is_identical=False, repeat_of=None, prompt__is_gold=False)
                       .exclude(judge_verdicts__judge=judge)
                       .select_related("prompt", "left_answer", "right_answer").order_by("order"))
    requests = []
    for c in comparisons:
        for a, b in ((c.left_answer.text, c.right_answer.text), (c.right_answer.text, c.left_answer.text)):
            content = judge_prompt_fill(
                prompt=judge.prompt, question=study.question, messages=c.prompt.messages, answer_a=a, answer_b=b
            )
            requests.append({"messages": [{"role": "user", "content": content}], "max_tokens": 16, "temperature": 0.0})
    try:
        results = chat_complete_many(
            endpoint=judge.endpoint, requests=requests, purpose=f"judge {judge.pk} of study {study.pk}"
        )
    except ApplicationError as error:
        Judge.objects.filter(pk=judge.pk).update(status=Judge.Status.FAILED, error=error.message)
        judge.refresh_from_db()
        return judge
    verdicts = []
    for i, c in enumerate(comparisons):
        shown, swapped, combined = verdicts_combine(
            verdict_parse(results[2 * i].text), verdict_parse(results[2 * i + 1].text)
        )
        verdicts.append(
            JudgeVerdict(judge=judge, comparison=c, shown_order=shown, swapped_order=swapped, outcome=combined)
        )
    with transaction.atomic():
        JudgeVerdict.objects.bulk_create(verdicts)
        judge.status = Judge.Status.DONE
        judge.save(update_fields=["status", "updated_at"])
        history_record(actor=None, target=judge, verb="judged", after={"verdicts": len(verdicts)})
    return judge

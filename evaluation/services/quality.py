"""Rater quality control: gold comparisons (a known better answer), side-swapped repeats, and leaving a rater out.

Gold comparisons come two ways: the product manager marks a built comparison with the answer a careful rater prefers, or
uploads prompts that come with a better and a worse answer (no arm answers them). Either way the gold comparison is
served to every rater, mixed into the queue at the study's gold_rate (evaluation/queue.py), on the same page as any
other, its sides drawn per rater with `secrets` like any other; its votes score the rater's gold accuracy, never the
arms.

Repeats are built with the comparisons (study_repeats_build): a share repeat_rate of them gets a mirror comparison —
same prompt and answers, left and right exchanged, its own random token — served to a rater some votes after the
rater voted on the original, mirrored relative to the sides that rater saw. Only the first vote counts in the
results; the pair measures the rater's consistency. Which comparisons are repeated is drawn with `secrets`.
"""

import secrets

from django.db import transaction
from django.db.models import Max

from common.errors import ApplicationError
from common.history import history_record
from evaluation.models import Answer, Comparison, RaterExclusion, Study, StudyPrompt, Vote
from evaluation.services.prompt_upload import _conversation, jsonl_values

GOLD_UPLOAD_LIMIT = 2000
ANSWER_MAX = 100_000


def rate_check(value, *, where: str, upper_inclusive: bool = True) -> float:
    """A share in [0, 1] (or [0, 1) when `upper_inclusive` is False), as a float."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ApplicationError(f"must be a number between 0 and 1; got {value!r}", where=where)
    value = float(value)
    if not (0.0 <= value <= 1.0) or (not upper_inclusive and value >= 1.0):
        raise ApplicationError(
            f"must be between 0 and 1{'' if upper_inclusive else ' (below 1)'}; got {value}", where=where
        )
    return value


def _next_order(study: Study) -> int:
    top = Comparison.objects.filter(study=study).aggregate(top=Max("order"))["top"]
    return 0 if top is None else top + 1


def study_repeats_build(*, study: Study) -> int:
    """Mirror a share `repeat_rate`, drawn with `secrets`, of the study's shown comparisons (rounded, at least one when
    the rate is above zero and any comparison is shown). Called inside study_comparisons_build's transaction. Returns
    how many."""
    if study.repeat_rate <= 0:
        return 0
    shown = list(
        Comparison.objects.filter(study=study, is_identical=False, repeat_of=None, gold_answer=None).order_by("pk")
    )
    if not shown:
        return 0
    count = min(len(shown), max(1, round(study.repeat_rate * len(shown))))
    rng = secrets.SystemRandom()
    chosen = rng.sample(shown, count)
    start = _next_order(study)
    positions = list(range(start, start + count))
    rng.shuffle(positions)
    Comparison.objects.bulk_create([
        Comparison(study=study, prompt_id=original.prompt_id, left_answer_id=original.right_answer_id,
                   right_answer_id=original.left_answer_id, repeat_of=original, order=position)
        for original, position in zip(chosen, positions)
    ])
    return count


@transaction.atomic
def comparison_gold_set(*, comparison: Comparison, better: str | None, actor) -> Comparison:
    """Mark `comparison` gold with its `better` answer ("left" or "right", as stored server-side), or unmark it (None).

    The mirror of a repeated comparison follows its original (same answers, so the same gold answer). Votes already
    cast on it become gold votes: they leave the results and score the raters' gold accuracy.
    """
    comparison = Comparison.objects.select_for_update().select_related("study", "prompt").get(pk=comparison.pk)
    if comparison.repeat_of_id is not None:
        raise ApplicationError(
            "this is a side-swapped repeat; mark its original comparison instead", where="comparison"
        )
    if comparison.is_identical:
        raise ApplicationError("the two answers are identical; neither can be the better one", where="comparison")
    if comparison.study.status not in (Study.Status.OPEN, Study.Status.CLOSED):
        raise ApplicationError("gold comparisons are marked once the study's comparisons are built", where="comparison",
                               code="not_open")
    if better not in ("left", "right", None):
        raise ApplicationError(f"better must be left, right or none; got {better!r}", where="better")
    if better is None and comparison.prompt.is_gold:
        # Its answers come from no arm: as a regular comparison it would count for no candidate.
        raise ApplicationError("an uploaded gold comparison stays gold; you may only change which answer is better",
                               where="better")
    before = comparison.gold_answer_id
    comparison.gold_answer_id = None if better is None else (
        comparison.left_answer_id if better == "left" else comparison.right_answer_id)
    comparison.save(update_fields=["gold_answer"])
    Comparison.objects.filter(repeat_of=comparison).update(gold_answer_id=comparison.gold_answer_id)
    history_record(actor=actor, target=comparison.study, verb="gold_marked" if better else "gold_unmarked",
                   before={"comparison": comparison.pk, "gold_answer": before},
                   after={"comparison": comparison.pk, "gold_answer": comparison.gold_answer_id})
    return comparison


def _answer_text(value, *, where: str) -> str:
    text = value.get("content") if isinstance(value, dict) else value
    if not isinstance(text, str) or not text.strip():
        raise ApplicationError("needs a non-empty answer (text, or a message with content)", where=where)
    if len(text) > ANSWER_MAX:
        raise ApplicationError(f"the answer is {len(text)} characters; the limit is {ANSWER_MAX}", where=where)
    return text.replace("\x00", "")


def gold_lines(items, *, fields: tuple[str, ...], expected: str):
    """(where, item, prompt messages) of each uploaded gold item, after the checks every gold upload shares: a
    non-empty list of at most GOLD_UPLOAD_LIMIT items, each an object with `fields` and a valid conversation."""
    if not isinstance(items, list) or not items:
        raise ApplicationError("no gold items given", where="gold")
    if len(items) > GOLD_UPLOAD_LIMIT:
        raise ApplicationError(f"{len(items)} gold items; the limit is {GOLD_UPLOAD_LIMIT} at a time", where="gold")
    for line, item in enumerate(items, start=1):
        where = f"gold line {line}"
        if not isinstance(item, dict) or any(name not in item for name in fields):
            raise ApplicationError(f"expected {expected}", where=where)
        yield where, item, _conversation({"messages": item.get("messages")}, line=line)


def gold_items_check(items) -> list[tuple[list[dict], str, str]]:
    """(prompt messages, better answer, worse answer) of each gold item {"messages": [...], "chosen": ..., "rejected":
    ...}; an answer is text or {"role": "assistant", "content": text}."""
    checked = []
    for where, item, messages in gold_lines(items, fields=("chosen", "rejected"),
                                            expected='{"messages": [...], "chosen": ..., "rejected": ...}'):
        chosen = _answer_text(item["chosen"], where=f"{where}.chosen")
        rejected = _answer_text(item["rejected"], where=f"{where}.rejected")
        if chosen.strip() == rejected.strip():
            raise ApplicationError("the better and the worse answer are the same text", where=where)
        checked.append((messages, chosen, rejected))
    return checked


def gold_parse_jsonl(*, data: bytes) -> list[dict]:
    """The gold items of a JSONL file, one a non-blank line (checked by study_gold_upload)."""
    return [value for _, value in jsonl_values(data=data, where="gold")]


@transaction.atomic
def study_gold_upload(*, study: Study, items: list, actor) -> int:
    """Add uploaded gold comparisons to an open study: each item's prompt with its better (`chosen`) and worse
    (`rejected`) answer, the stored orientation drawn with `secrets`. Returns how many were added."""
    study = Study.objects.select_for_update().get(pk=study.pk)
    if study.status != Study.Status.OPEN:
        raise ApplicationError(f"gold prompts are added to an open study; this one is {study.status}", where="status",
                               code="not_open")
    checked = gold_items_check(items)
    prompt_start = (study.prompts.aggregate(top=Max("order"))["top"] or 0) + 1
    prompts = StudyPrompt.objects.bulk_create(
        [
            StudyPrompt(study=study, messages=messages, order=prompt_start + i, is_gold=True)
            for i, (messages, _, _) in enumerate(checked)
        ]
    )
    answers = Answer.objects.bulk_create(
        [
            Answer(prompt=prompt, arm=None, text=text)
            for prompt, (_, chosen, rejected) in zip(prompts, checked)
            for text in (chosen, rejected)
        ]
    )
    rng = secrets.SystemRandom()
    order = _next_order(study)
    comparisons = []
    for i, prompt in enumerate(prompts):
        chosen, rejected = answers[2 * i], answers[2 * i + 1]
        left, right = (chosen, rejected) if rng.random() < 0.5 else (rejected, chosen)
        comparisons.append(
            Comparison(
                study=study, prompt=prompt, left_answer=left, right_answer=right, gold_answer=chosen, order=order + i
            )
        )
    Comparison.objects.bulk_create(comparisons)
    history_record(actor=actor, target=study, verb="gold_uploaded", after={"gold_comparisons": len(comparisons)})
    return len(comparisons)


@transaction.atomic
def study_rater_exclude(*, study: Study, rater, actor, reason: str = "") -> RaterExclusion:
    """Leave every vote of `rater` out of the study's results (support rate, Bradley–Terry, export)."""
    from evaluation.models import Rating

    if not (Vote.objects.filter(comparison__study=study, rater=rater).exists()
            or Rating.objects.filter(item__study=study, rater=rater).exists()):
        raise ApplicationError("this rater has not voted in this study", where="rater")
    exclusion, created = RaterExclusion.objects.get_or_create(
        study=study, rater=rater, defaults={"reason": (reason or "").strip()[:2000], "excluded_by": actor}
    )
    if not created:
        raise ApplicationError("this rater's votes are already left out", where="rater", code="already_excluded")
    history_record(
        actor=actor, target=study, verb="rater_excluded", after={"rater": rater.pk, "reason": exclusion.reason}
    )
    return exclusion


@transaction.atomic
def study_rater_include(*, study: Study, rater, actor) -> None:
    """Count `rater`'s votes in the results again."""
    deleted, _ = RaterExclusion.objects.filter(study=study, rater=rater).delete()
    if not deleted:
        raise ApplicationError("this rater's votes are not left out", where="rater", code="not_excluded")
    history_record(actor=actor, target=study, verb="rater_included", before={"rater": rater.pk, "excluded": True},
                   after={"rater": rater.pk, "excluded": False})

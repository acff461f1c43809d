"""Blind 1–5 rating studies: building the items, serving them to raters, taking ratings, and gold items.

An item is one answer. Its token comes from `secrets` (models.new_public_token), its place in the serving order is a
shuffle drawn with `secrets`, and the item a rater is served next is drawn with `secrets` too (rating_queue.py), so
nothing a rater sees or can count follows from the arm, the prompt order or the study's seed.
"""

import secrets

from django.db import IntegrityError, transaction
from django.db.models import F, Max

from common.errors import ApplicationError
from common.history import history_record
from evaluation.models import Answer, Rating, RatingItem, RatingShowing, Study
from evaluation.rating_queue import items_waiting_for_rater, rating_item_pick_next, rating_showing_pending
from evaluation.services.votes import REASON_MAX, TIME_SPENT_MAX_MS
from evaluation.statistics.ratings import SCORE_MAX, SCORE_MIN


def _shuffled_positions(start: int, count: int) -> list[int]:
    positions = list(range(start, start + count))
    secrets.SystemRandom().shuffle(positions)
    return positions


def rating_items_build(*, study: Study) -> int:
    """One item per answer of every arm (baseline and candidates alike), in a `secrets` shuffle, then a share
    repeat_rate of them mirrored as repeats. Called inside study_comparisons_build's transaction. Returns how many."""
    if study.rating_items.exists():
        return 0
    answers = list(Answer.objects.filter(prompt__study=study, prompt__is_gold=False, arm__isnull=False).order_by("pk"))
    items = [RatingItem(study=study, prompt_id=a.prompt_id, answer=a, order=position)
             for a, position in zip(answers, _shuffled_positions(0, len(answers)))]
    RatingItem.objects.bulk_create(items)
    if study.repeat_rate > 0 and items:
        rng = secrets.SystemRandom()
        chosen = rng.sample(items, min(len(items), max(1, round(study.repeat_rate * len(items)))))
        RatingItem.objects.bulk_create([
            RatingItem(study=study, prompt_id=original.prompt_id, answer_id=original.answer_id, repeat_of=original,
                       order=position)
            for original, position in zip(chosen, _shuffled_positions(len(items), len(chosen)))
        ])
    return len(items)


@transaction.atomic
def rating_serve(*, study: Study, rater) -> RatingShowing | None:
    """What the rater rates next: their pending showing if its item still waits for them, else the queue's next pick
    stored as pending; None when nothing is left or the study is not open. A reload serves the same item."""
    if study.status != Study.Status.OPEN or study.kind != "rating":
        return None
    pending = rating_showing_pending(study=study, rater=rater)
    if pending is not None:
        if pending.is_waiting:
            return pending
        RatingShowing.objects.filter(pk=pending.pk).update(is_pending=False)
    item_id = rating_item_pick_next(study=study, rater=rater)
    if item_id is None:
        return None
    try:
        with transaction.atomic():
            showing, created = RatingShowing.objects.get_or_create(item_id=item_id, rater=rater,
                                                                   defaults={"study": study, "is_pending": True})
            if not created:
                RatingShowing.objects.filter(pk=showing.pk).update(is_pending=True)
    except IntegrityError:
        pass  # another tab stored its pending showing first: serve that one
    else:
        if created:
            history_record(actor=rater, target=showing, verb="served", after={"item": item_id})
    return rating_showing_pending(study=study, rater=rater)


def scores_check(scores, *, rubric: list[dict], where: str = "scores") -> dict[str, int]:
    """One whole score from SCORE_MIN to SCORE_MAX per criterion of `rubric`, and nothing else."""
    if not isinstance(scores, dict):
        raise ApplicationError("scores must map each criterion to a score from 1 to 5", where=where)
    names = [criterion["name"] for criterion in rubric]
    for name in scores:
        if name not in names:
            raise ApplicationError(f"unknown criterion {name!r}; the rubric has {', '.join(names)}", where=where)
    clean = {}
    for name in names:
        value = scores.get(name)
        if isinstance(value, str) and value.strip().isdigit():
            value = int(value.strip())
        if isinstance(value, bool) or not isinstance(value, int) or not SCORE_MIN <= value <= SCORE_MAX:
            raise ApplicationError(f"needs a whole score from {SCORE_MIN} to {SCORE_MAX}; got {value!r}",
                                   where=f"{where}.{name}")
        clean[name] = value
    return clean


def _already_rated() -> ApplicationError:
    return ApplicationError("you have already rated this answer", where="item", code="already_voted")


def _closed() -> ApplicationError:
    return ApplicationError("this answer is not open for ratings", where="item", code="not_open")


def rating_submit(*, item: RatingItem, rater, scores: dict, reason: str = "", time_spent_ms: int = 0,
                  simulated_by: str = "") -> Rating:
    """Record `rater`'s scores of `item` (criterion → 1..5, every criterion of the rubric) and count them.

    Only an item served to the rater (one with a showing) takes their rating; a repeat only after its original.
    Preconditions: the rater may vote in the study's workspace (access_rating_item_for_vote). One rating per rater and
    item (the rating_one_per_rater constraint): a second raises and changes nothing.
    """
    study = item.study
    clean = scores_check(scores, rubric=study.rubric)
    if isinstance(time_spent_ms, bool) or not isinstance(time_spent_ms, int) or not (
            0 <= time_spent_ms <= TIME_SPENT_MAX_MS):
        raise ApplicationError(f"time spent must be between 0 and {TIME_SPENT_MAX_MS} milliseconds; got "
                               f"{time_spent_ms!r}", where="time_spent_ms")
    reason = (reason or "").strip()
    if len(reason) > REASON_MAX:
        raise ApplicationError(f"the reason is {len(reason)} characters; the limit is {REASON_MAX}", where="reason")
    if study.status != Study.Status.OPEN:
        raise ApplicationError("this study is not open for ratings", where="item", code="not_open")
    if item.repeat_of_id is not None and not Rating.objects.filter(item_id=item.repeat_of_id, rater=rater).exists():
        raise _closed()
    showing = RatingShowing.objects.filter(item=item, rater=rater).first()
    if showing is None:
        raise _closed()
    if Rating.objects.filter(item=item, rater=rater).exists():
        raise _already_rated()
    try:
        with transaction.atomic():
            rating = Rating.objects.create(item=item, rater=rater, scores=clean, reason=reason,
                                           time_spent_ms=time_spent_ms, simulated_by=simulated_by)
            RatingItem.objects.filter(pk=item.pk).update(rating_count=F("rating_count") + 1)
            RatingShowing.objects.filter(pk=showing.pk, is_pending=True).update(is_pending=False)
            history_record(actor=rater, target=rating, verb="rated",
                           after={"item": item.pk, "scores": clean,
                                  **({"simulated_by": simulated_by} if simulated_by else {})})
    except IntegrityError as error:
        if Rating.objects.filter(item=item, rater=rater).exists():
            raise _already_rated() from error
        raise
    return rating


@transaction.atomic
def rating_item_show(*, item: RatingItem, rater) -> RatingShowing:
    """The rater's showing of one given item, outside the queue (not pending): for scripts and tests that rate an item
    they chose."""
    showing, created = RatingShowing.objects.get_or_create(item=item, rater=rater,
                                                           defaults={"study_id": item.study_id})
    if created:
        history_record(actor=rater, target=showing, verb="served", after={"item": item.pk})
    return showing


@transaction.atomic
def rating_item_gold_set(*, item: RatingItem, scores: dict | None, actor) -> RatingItem:
    """Mark `item` gold with the scores a careful rater gives (every criterion), or unmark it (None). Its repeat
    follows. Ratings already given become gold ratings: they leave the results and score the raters' gold accuracy."""
    item = RatingItem.objects.select_for_update().select_related("study").get(pk=item.pk)
    if item.repeat_of_id is not None:
        raise ApplicationError("this is a repeat; mark its original item instead", where="item")
    if item.study.status not in (Study.Status.OPEN, Study.Status.CLOSED):
        raise ApplicationError("gold items are marked once the study's items are built", where="item",
                               code="not_open")
    clean = None if scores is None else scores_check(scores, rubric=item.study.rubric, where="gold_scores")
    before = item.gold_scores
    item.gold_scores = clean
    item.save(update_fields=["gold_scores"])
    RatingItem.objects.filter(repeat_of=item).update(gold_scores=clean)
    history_record(actor=actor, target=item.study, verb="gold_marked" if clean else "gold_unmarked",
                   before={"rating_item": item.pk, "gold_scores": before},
                   after={"rating_item": item.pk, "gold_scores": clean})
    return item


@transaction.atomic
def study_rating_gold_upload(*, study: Study, items: list, actor) -> int:
    """Add uploaded gold items to an open rating study: each {"messages": [...], "answer": text, "scores": {criterion:
    1..5}}. The items' places in the serving order are drawn with `secrets`. Returns how many were added."""
    from evaluation.models import StudyPrompt
    from evaluation.services.quality import _answer_text, gold_lines

    study = Study.objects.select_for_update().get(pk=study.pk)
    if study.kind != "rating" or study.status != Study.Status.OPEN:
        raise ApplicationError("gold answers are added to an open rating study", where="status", code="not_open")
    checked = [
        (messages, _answer_text(item["answer"], where=f"{where}.answer"),
         scores_check(item["scores"], rubric=study.rubric, where=f"{where}.scores"))
        for where, item, messages in gold_lines(items, fields=("answer", "scores"),
                                                expected='{"messages": [...], "answer": ..., "scores": {...}}')
    ]
    prompt_start = (study.prompts.aggregate(top=Max("order"))["top"] or 0) + 1
    prompts = StudyPrompt.objects.bulk_create([StudyPrompt(study=study, messages=messages, order=prompt_start + i,
                                                           is_gold=True) for i, (messages, _, _) in enumerate(checked)])
    answers = Answer.objects.bulk_create([Answer(prompt=p, arm=None, text=text)
                                          for p, (_, text, _) in zip(prompts, checked)])
    order_start = (study.rating_items.aggregate(top=Max("order"))["top"] or 0) + 1
    RatingItem.objects.bulk_create([
        RatingItem(study=study, prompt=p, answer=a, gold_scores=scores, order=position)
        for p, a, (_, _, scores), position in zip(prompts, answers, checked,
                                                  _shuffled_positions(order_start, len(checked)))
    ])
    history_record(actor=actor, target=study, verb="gold_uploaded", after={"gold_rating_items": len(checked)})
    return len(checked)


__all__ = ["items_waiting_for_rater", "rating_item_gold_set", "rating_item_show", "rating_items_build",
           "rating_serve", "rating_submit", "scores_check", "study_rating_gold_upload"]

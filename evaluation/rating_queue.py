"""What a rater rates next in a rating study, and which ratings the results count: the rating twin of queue.py.

Three kinds of item share one queue and look the same to a rater (page, API answer, token, waiting count):
- regular: one arm's answer to one prompt; served until it has votes_per_comparison ratings;
- gold (gold_scores set, not a repeat): served to every rater once, drawn at the study's gold_rate;
- repeat (repeat_of set): the same answer under its own token, due REPEAT_GAP ratings after the rater rated the
  original.
Every choice among equals is drawn with `secrets`; nothing depends on the study's seed.
"""

import secrets

from django.db.models import Exists, F, OuterRef, Q, QuerySet

from evaluation.models import RaterExclusion, Rating, RatingItem, RatingShowing, Study
from evaluation.queue import REPEAT_GAP, gold_drawn


def _rated_by(rater, item_ref: str = "pk") -> Exists:
    return Exists(Rating.objects.filter(item=OuterRef(item_ref), rater=rater))


def items_waiting_for_rater(*, rater, study: Study | None = None) -> QuerySet:
    """Every rating item this rater may still be served (all studies unless `study`)."""
    queryset = RatingItem.objects.all() if study is None else RatingItem.objects.filter(study=study)
    regular = Q(gold_scores__isnull=True, repeat_of__isnull=True, rating_count__lt=F("study__votes_per_comparison"))
    original_waiting = (
        Q(repeat_of__gold_scores__isnull=False) | Q(repeat_of__rating_count__lt=F("study__votes_per_comparison"))
    ) & ~_rated_by(rater, "repeat_of")
    return queryset.filter(~_rated_by(rater)).filter(
        regular
        | Q(gold_scores__isnull=False, repeat_of__isnull=True)
        | (Q(repeat_of__isnull=False) & (_rated_by(rater, "repeat_of") | original_waiting))
    )


def rating_waiting_count(*, study: Study, rater) -> int:
    if study.status != Study.Status.OPEN:
        return 0
    return items_waiting_for_rater(rater=rater, study=study).count()


def rating_showing_pending(*, study: Study, rater) -> RatingShowing | None:
    """The rater's pending showing with its item's prompt and answer, annotated with `is_waiting`. One query."""
    waiting = items_waiting_for_rater(rater=rater, study=study).filter(pk=OuterRef("item_id"))
    return (RatingShowing.objects.filter(study=study, rater=rater, is_pending=True)
            .select_related("item__prompt", "item__answer").annotate(is_waiting=Exists(waiting)).first())


def rating_item_pick_next(*, study: Study, rater) -> int | None:
    """The id of the item this rater should rate next, or None: a due repeat first, then gold if gold_drawn, then a
    regular item; at the end, what repeats and gold remain. Two queries. Precondition: no pending showing."""
    history = list(Rating.objects.filter(item__study=study, rater=rater).order_by("pk").values_list("item_id",
                                                                                                    flat=True))
    position = {pk: i for i, pk in enumerate(history)}
    waiting = list(items_waiting_for_rater(rater=rater, study=study).filter(
        Q(repeat_of__isnull=True) | _rated_by(rater, "repeat_of")
    ).values_list("pk", "repeat_of_id", "gold_scores"))
    repeats = sorted((position[original], pk) for pk, original, _ in waiting if original is not None)
    gold = [pk for pk, original, scores in waiting if original is None and scores is not None]
    regular = [pk for pk, original, scores in waiting if original is None and scores is None]
    due = repeats[0] if repeats else None
    if due is not None and len(history) - due[0] > REPEAT_GAP:
        return due[1]
    if gold and gold_drawn(study=study):
        return secrets.choice(gold)
    if regular:
        return secrets.choice(regular)
    if due is not None:
        return due[1]
    if gold:
        return secrets.choice(gold)
    return None


def ratings_counted(*, study: Study) -> QuerySet:
    """The ratings the results count: not of a gold item, not of a repeat, not by a rater left out."""
    excluded = RaterExclusion.objects.filter(study=study).values("rater_id")
    return Rating.objects.filter(item__study=study, item__gold_scores__isnull=True,
                                 item__repeat_of__isnull=True).exclude(rater_id__in=excluded)

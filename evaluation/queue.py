"""What a rater is shown next, and which votes the results count.

Three kinds of comparison share one queue, and a rater cannot tell them apart: the page, the API answer, the token
and the "waiting" count look the same for each.

- regular: one prompt, a candidate's and the baseline's answer; served until it has votes_per_comparison votes.
- gold (gold_answer set, not a repeat): served to every rater once. Before each vote a seeded draw per (study, rater,
  votes cast so far) picks a gold comparison with probability gold_rate, so gold is spread through the queue at that
  rate without a pattern a rater could count; the gold a rater has not seen when the regular ones run out comes last.
- repeat (repeat_of set): the mirror of a comparison the rater voted on, sides swapped; due REPEAT_GAP votes after
  the original (sooner only when nothing else is left), so it does not follow its original at once.

The waiting count falls by exactly one with each of the rater's own votes, whatever kind it was: it counts the regular
comparisons still open to the rater, the gold not yet seen, and the mirrors of comparisons the rater has voted on or
may still vote on. (Other raters filling regular comparisons make it fall faster, as before.)
"""

import random

from django.db.models import Exists, F, OuterRef, Q, QuerySet

from evaluation.models import Comparison, RaterExclusion, Study, Vote

REPEAT_GAP = 3  # a repeat waits until the rater has cast this many votes after its original


def _voted_by(rater, comparison_ref: str = "pk") -> Exists:
    return Exists(Vote.objects.filter(comparison=OuterRef(comparison_ref), rater=rater))


def _regular_q() -> Q:
    return Q(gold_answer__isnull=True, repeat_of__isnull=True, vote_count__lt=F("study__votes_per_comparison"))


def comparisons_waiting_for_rater(*, rater, study: Study | None = None) -> QuerySet:
    """Every shown comparison this rater may still be served (all studies unless `study`): regular ones still short of
    votes, gold not yet seen, and mirrors whose original the rater voted on or may still vote on."""
    queryset = Comparison.objects.filter(is_identical=False) if study is None else Comparison.objects.filter(study=study, is_identical=False)
    original_waiting = (
        Q(repeat_of__gold_answer__isnull=False) | Q(repeat_of__vote_count__lt=F("study__votes_per_comparison"))
    ) & ~_voted_by(rater, "repeat_of")
    return queryset.filter(~_voted_by(rater)).filter(
        _regular_q()
        | Q(gold_answer__isnull=False, repeat_of__isnull=True)
        | (Q(repeat_of__isnull=False) & (_voted_by(rater, "repeat_of") | original_waiting))
    )


def comparisons_open_for_rater(*, study: Study, rater) -> QuerySet:
    """Regular comparisons of an open study still waiting for this rater, in serving order (no gold, no repeats):
    not identical, fewer votes than the study wants, not already voted on by this rater."""
    if study.status != Study.Status.OPEN:
        return Comparison.objects.none()
    return Comparison.objects.filter(_regular_q(), study=study, is_identical=False).exclude(votes__rater=rater).order_by("order")


def waiting_count(*, study: Study, rater) -> int:
    """How many comparisons this rater may still be served in `study` (what the vote page shows)."""
    if study.status != Study.Status.OPEN:
        return 0
    return comparisons_waiting_for_rater(rater=rater, study=study).count()


def gold_draw(*, study: Study, rater, votes_cast: int) -> float:
    """The seeded number in [0, 1) that decides whether the rater's next comparison is gold (below gold_rate).
    Fixed by study, rater and votes cast, so reloading the page shows the same comparison."""
    return random.Random(f"study:{study.pk}:{study.seed}:rater:{rater.pk}:vote:{votes_cast}").random()


def comparison_next_for_rater(*, study: Study, rater) -> Comparison | None:
    """The next comparison this rater should judge, with its prompt and both answers loaded; None when done.
    A due repeat first, then gold if the draw says so, then the next regular one; at the end, what repeats and gold
    remain. Four queries at most."""
    if study.status != Study.Status.OPEN:
        return None
    history = list(Vote.objects.filter(comparison__study=study, rater=rater).order_by("pk").values_list("comparison_id", flat=True))
    position = {pk: i for i, pk in enumerate(history)}
    votes_cast = len(history)
    loaded = Comparison.objects.select_related("prompt", "left_answer", "right_answer")
    waiting = list(comparisons_waiting_for_rater(rater=rater, study=study).filter(
        Q(repeat_of__isnull=False, repeat_of__votes__rater=rater) | Q(gold_answer__isnull=False, repeat_of__isnull=True)
    ).values_list("pk", "repeat_of_id", "order"))
    repeats = sorted((position[original], pk) for pk, original, _ in waiting if original is not None and original in position)
    gold = sorted((order, pk) for pk, original, order in waiting if original is None)
    if repeats and votes_cast - repeats[0][0] > REPEAT_GAP:
        return loaded.get(pk=repeats[0][1])
    if gold and study.gold_rate > 0 and gold_draw(study=study, rater=rater, votes_cast=votes_cast) < study.gold_rate:
        return loaded.get(pk=gold[0][1])
    regular = comparisons_open_for_rater(study=study, rater=rater).select_related("prompt", "left_answer", "right_answer").first()
    if regular is not None:
        return regular
    if repeats:
        return loaded.get(pk=repeats[0][1])
    if gold:
        return loaded.get(pk=gold[0][1])
    return None


def votes_counted(*, study: Study) -> QuerySet:
    """The votes the results count: not on a gold comparison, not on a side-swapped repeat (the rater's first vote on
    the original is the one that counts), not by a rater the product manager left out."""
    excluded = RaterExclusion.objects.filter(study=study).values("rater_id")
    return Vote.objects.filter(comparison__study=study, comparison__gold_answer__isnull=True,
                               comparison__repeat_of__isnull=True).exclude(rater_id__in=excluded)

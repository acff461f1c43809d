"""What a rater is shown next, and which votes the results count.

Three kinds of comparison share one queue, and a rater cannot tell them apart: the page, the API answer, the token
and the "waiting" count look the same for each.

- regular: one prompt, a candidate's and the baseline's answer; served until it has votes_per_comparison votes.
- gold (gold_answer set, not a repeat): served to every rater once. Before each new pick a draw from `secrets` picks a
  gold comparison with probability gold_rate, so gold is spread through the queue at that rate without a pattern a
  rater could count; the gold a rater has not seen when the regular ones run out comes last.
- repeat (repeat_of set): the mirror of a comparison the rater voted on, shown with the sides swapped relative to how
  this rater saw the original; due REPEAT_GAP votes after the original (sooner only when nothing else is left), so it
  does not follow its original at once.

Which regular or gold comparison comes next is drawn with `secrets` among those allowed, and what is picked is stored
as the rater's pending Showing (services/showings.py), sides and all, so a reload serves the same thing and re-rolls
nothing. Nothing here depends on the study's seed: a rater who knows every public fact cannot predict a pick or a side.

The waiting count falls by exactly one with each of the rater's own votes, whatever kind it was: it counts the regular
comparisons still open to the rater, the gold not yet seen, and the mirrors of comparisons the rater has voted on or
may still vote on. (Other raters filling regular comparisons make it fall faster too.)
"""

import secrets
from dataclasses import dataclass

from django.db.models import Exists, F, OuterRef, Q, QuerySet, Subquery

from evaluation.models import Comparison, RaterExclusion, Showing, Study, Vote

REPEAT_GAP = 3  # a repeat waits until the rater has cast this many votes after its original


def _voted_by(rater, comparison_ref: str = "pk") -> Exists:
    return Exists(Vote.objects.filter(comparison=OuterRef(comparison_ref), rater=rater))


def _regular_q() -> Q:
    return Q(gold_answer__isnull=True, repeat_of__isnull=True, vote_count__lt=F("study__votes_per_comparison"))


def comparisons_waiting_for_rater(*, rater, study: Study | None = None) -> QuerySet:
    """Every shown comparison this rater may still be served (all studies unless `study`): regular ones still short of
    votes, gold not yet seen, and mirrors whose original the rater voted on or may still vote on."""
    queryset = (
        Comparison.objects.filter(is_identical=False)
        if study is None
        else Comparison.objects.filter(study=study, is_identical=False)
    )
    original_waiting = (
        Q(repeat_of__gold_answer__isnull=False) | Q(repeat_of__vote_count__lt=F("study__votes_per_comparison"))
    ) & ~_voted_by(rater, "repeat_of")
    return queryset.filter(~_voted_by(rater)).filter(
        _regular_q()
        | Q(gold_answer__isnull=False, repeat_of__isnull=True)
        | (Q(repeat_of__isnull=False) & (_voted_by(rater, "repeat_of") | original_waiting))
    )


def comparisons_open_for_rater(*, study: Study, rater) -> QuerySet:
    """Regular comparisons of an open study still waiting for this rater, in stored order (no gold, no repeats): not
    identical, fewer votes than the study wants, not already voted on by this rater. The queue draws among them."""
    if study.status != Study.Status.OPEN:
        return Comparison.objects.none()
    return (
        Comparison.objects.filter(_regular_q(), study=study, is_identical=False)
        .exclude(votes__rater=rater)
        .order_by("order")
    )


def waiting_count(*, study: Study, rater) -> int:
    """How many comparisons this rater may still be served in `study` (what the vote page shows)."""
    if study.status != Study.Status.OPEN:
        return 0
    return comparisons_waiting_for_rater(rater=rater, study=study).count()


def showing_pending(*, study: Study, rater) -> Showing | None:
    """The rater's pending showing in `study` with its comparison's prompt and both answers loaded, annotated with
    `is_waiting`: whether its comparison may still be served to the rater (it may have filled up meanwhile). One
    query."""
    waiting = comparisons_waiting_for_rater(rater=rater, study=study).filter(pk=OuterRef("comparison_id"))
    return (Showing.objects.filter(study=study, rater=rater, is_pending=True)
            .select_related("comparison__prompt", "comparison__left_answer", "comparison__right_answer")
            .annotate(is_waiting=Exists(waiting)).first())


def gold_drawn(*, study: Study) -> bool:
    """Whether the rater's next pick is gold: a draw from `secrets` below gold_rate. Made only when a new pick is
    stored, so a reload cannot draw again."""
    return study.gold_rate > 0 and secrets.SystemRandom().random() < study.gold_rate


@dataclass(frozen=True)
class Pick:
    comparison_id: int
    original_is_swapped: bool | None = None  # a repeat: the is_swapped of the rater's showing of its original


def comparison_pick_next(*, study: Study, rater) -> Pick | None:
    """The comparison this rater should judge next, or None when nothing is left. A due repeat first (the longest
    due), then gold if gold_drawn says so, then a regular one; at the end, what repeats and gold remain. Every choice
    among equals is drawn with `secrets`. Reads only (services/showings.py stores the pick); two queries.

    Precondition: the study is open and the rater has no pending showing in it.
    """
    original_side = Subquery(
        Showing.objects.filter(comparison=OuterRef("comparison_id"), rater=rater).values("is_swapped")[:1]
    )
    history = list(Vote.objects.filter(comparison__study=study, rater=rater).order_by("pk")
                   .values_list("comparison_id", original_side))
    position = {pk: i for i, (pk, _) in enumerate(history)}
    # A vote from before showings were kept saw the stored orientation.
    original_swapped = {pk: bool(is_swapped) for pk, is_swapped in history}
    votes_cast = len(history)
    waiting = list(comparisons_waiting_for_rater(rater=rater, study=study).filter(
        Q(repeat_of__isnull=True) | _voted_by(rater, "repeat_of")
    ).values_list("pk", "repeat_of_id", "gold_answer_id"))
    repeats = sorted((position[original], pk, original) for pk, original, _ in waiting if original is not None)
    gold = [pk for pk, original, gold_answer in waiting if original is None and gold_answer is not None]
    regular = [pk for pk, original, gold_answer in waiting if original is None and gold_answer is None]
    due = repeats[0] if repeats else None
    if due is not None and votes_cast - due[0] > REPEAT_GAP:
        return Pick(due[1], original_swapped[due[2]])
    if gold and gold_drawn(study=study):
        return Pick(secrets.choice(gold))
    if regular:
        return Pick(secrets.choice(regular))
    if due is not None:
        return Pick(due[1], original_swapped[due[2]])
    if gold:
        return Pick(secrets.choice(gold))
    return None


def votes_counted(*, study: Study) -> QuerySet:
    """The votes the results count: not on a gold comparison, not on a side-swapped repeat (the rater's first vote on
    the original is the one that counts), not by a rater the product manager left out."""
    return votes_counted_in(study_ids=[study.pk])


def votes_counted_in(*, study_ids: list[int]) -> QuerySet:
    """votes_counted for several studies at once."""
    excluded = RaterExclusion.objects.filter(study_id=OuterRef("comparison__study_id"), rater_id=OuterRef("rater_id"))
    return (Vote.objects.filter(comparison__study_id__in=study_ids, comparison__gold_answer__isnull=True,
                                comparison__repeat_of__isnull=True).exclude(Exists(excluded)))

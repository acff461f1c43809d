"""Serving comparisons to raters: each rater's own sides, drawn with `secrets` and kept (see evaluation/queue.py)."""

import secrets

from django.db import IntegrityError, transaction

from common.history import history_record
from evaluation.models import Comparison, Showing, Study
from evaluation.queue import comparison_pick_next, showing_pending


def _showing_take(*, study: Study, comparison_id: int, rater, is_swapped: bool, is_pending: bool) -> Showing | None:
    """The rater's showing of the comparison, created with `is_swapped` unless it exists (then its sides stay), and
    made pending when `is_pending`. None when another showing of the rater became pending first (a second tab)."""
    try:
        showing, created = Showing.objects.get_or_create(
            comparison_id=comparison_id,
            rater=rater,
            defaults={"study": study, "is_swapped": is_swapped, "is_pending": is_pending},
        )
        if not created and is_pending and not showing.is_pending:
            with transaction.atomic():
                Showing.objects.filter(pk=showing.pk).update(is_pending=True)
    except IntegrityError:
        # Only the one-pending-per-rater constraint is left: the comparison's own showing would have been found.
        return None
    if created:
        history_record(actor=rater, target=showing, verb="served",
                       after={"comparison": comparison_id, "is_swapped": showing.is_swapped})
    return showing


@transaction.atomic
def showing_serve(*, study: Study, rater) -> Showing | None:
    """What the rater judges next in `study`, as they see it: their pending showing if its comparison is still waiting
    for them, else the queue's next pick (comparison_pick_next) stored as their pending showing; None when nothing is
    left or the study is not open. The showing comes with its comparison's prompt and both answers loaded.

    A comparison shown to the rater for the first time gets its sides from `secrets` (a side-swapped repeat: the sides
    of its original's showing, so the rater sees it mirrored). Two tabs racing here end with one pending showing: the
    showing_one_pending_per_rater_in_study constraint turns the loser's insert away and it serves the winner's.
    A constant number of queries: one for a reload, about ten for a new pick.
    """
    if study.status != Study.Status.OPEN:
        return None
    pending = showing_pending(study=study, rater=rater)
    if pending is not None:
        if pending.is_waiting:
            return pending
        # Filled up by other raters (or no longer served) since: the rater keeps its sides, the queue moves on.
        Showing.objects.filter(pk=pending.pk).update(is_pending=False)
    pick = comparison_pick_next(study=study, rater=rater)
    if pick is None:
        return None
    is_swapped = pick.original_is_swapped if pick.original_is_swapped is not None else secrets.randbits(1) == 1
    _showing_take(study=study, comparison_id=pick.comparison_id, rater=rater, is_swapped=is_swapped, is_pending=True)
    return showing_pending(study=study, rater=rater)


@transaction.atomic
def comparison_show(*, comparison: Comparison, rater) -> Showing:
    """The rater's showing of one given comparison, outside the queue (not pending): for scripts and tests that vote
    on a comparison they chose. Its sides are drawn with `secrets` the first time, like any other, and then kept."""
    _showing_take(study=comparison.study, comparison_id=comparison.pk, rater=rater, is_swapped=secrets.randbits(1) == 1,
                  is_pending=False)
    return Showing.objects.select_related("comparison__left_answer", "comparison__right_answer").get(
        comparison=comparison, rater=rater
    )

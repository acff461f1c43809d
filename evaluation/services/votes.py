"""A rater's vote on one blinded comparison."""

from django.db import IntegrityError, transaction
from django.db.models import F

from common.errors import ApplicationError
from common.history import history_record
from evaluation.models import Comparison, Showing, Study, Vote

REASON_MAX = 5000
TIME_SPENT_MAX_MS = 24 * 3600 * 1000


def _already_voted() -> ApplicationError:
    return ApplicationError("you have already voted on this comparison", where="comparison", code="already_voted")


def vote_submit(
    *,
    comparison: Comparison,
    rater,
    choice: str,
    reason: str = "",
    label: str = "",
    time_spent_ms: int = 0,
    simulated_by: str = "",
) -> Vote:
    """Record `rater`'s choice (left / right / tie / both_bad) on `comparison` and count it; `label` is empty or one of
    the study's labels. `simulated_by` names the common.simulation rule that chose in place of a person (the demo's
    raters); the results say how many votes a rule cast.

    `choice` is what the rater pressed, left and right as they saw them: it is stored in the comparison's orientation
    through the rater's Showing of it (Vote.choice). Only a comparison served to the rater (one with a showing) takes
    their vote; it stops being pending.

    Preconditions: the rater may vote in the study's workspace (checked by access_comparison_for_vote). One vote per
    rater per comparison, enforced by the vote_one_per_rater constraint: a second vote raises and changes nothing.
    A comparison may collect more than votes_per_comparison votes when raters race for it; the extra vote is kept.
    """
    if choice not in Vote.Choice.values:
        raise ApplicationError(
            f"unknown choice {choice!r}; choose one of {', '.join(Vote.Choice.values)}", where="choice"
        )
    if (
        not isinstance(time_spent_ms, int)
        or isinstance(time_spent_ms, bool)
        or not 0 <= time_spent_ms <= TIME_SPENT_MAX_MS
    ):
        raise ApplicationError(
            f"time spent must be between 0 and {TIME_SPENT_MAX_MS} milliseconds; got {time_spent_ms!r}",
            where="time_spent_ms",
        )
    reason = (reason or "").strip()
    if len(reason) > REASON_MAX:
        raise ApplicationError(f"the reason is {len(reason)} characters; the limit is {REASON_MAX}", where="reason")
    label = (label or "").strip()
    if label and label not in comparison.study.labels:
        raise ApplicationError(f"unknown label {label!r}; choose one of the study's labels or none", where="label")
    if comparison.study.status != Study.Status.OPEN:
        raise ApplicationError("this study is not open for votes", where="comparison", code="not_open")
    if comparison.is_identical:
        raise ApplicationError("this comparison is not open for votes", where="comparison", code="not_open")
    if (
        comparison.repeat_of_id is not None
        and not Vote.objects.filter(comparison_id=comparison.repeat_of_id, rater=rater).exists()
    ):
        # A side-swapped repeat is served only after its original; any other vote on it would not be a repeat.
        raise ApplicationError("this comparison is not open for votes", where="comparison", code="not_open")
    showing = Showing.objects.filter(comparison=comparison, rater=rater).first()
    if showing is None:
        # Never served to this rater: there are no sides the choice could be read against.
        raise ApplicationError("this comparison is not open for votes", where="comparison", code="not_open")
    if Vote.objects.filter(comparison=comparison, rater=rater).exists():
        raise _already_voted()
    stored = showing.choice_stored(choice)
    try:
        with transaction.atomic():
            vote = Vote.objects.create(comparison=comparison, rater=rater, choice=stored, reason=reason, label=label,
                                       time_spent_ms=time_spent_ms, simulated_by=simulated_by)
            Comparison.objects.filter(pk=comparison.pk).update(vote_count=F("vote_count") + 1)
            Showing.objects.filter(pk=showing.pk, is_pending=True).update(is_pending=False)
            history_record(
                actor=rater,
                target=vote,
                verb="voted",
                after={
                    "comparison": comparison.pk,
                    "choice": stored,
                    "shown_choice": choice,
                    **({"label": label} if label else {}),
                    **({"simulated_by": simulated_by} if simulated_by else {}),
                },
            )
    except IntegrityError as error:
        # A concurrent second submit by the same rater lost the race to the unique constraint.
        if Vote.objects.filter(comparison=comparison, rater=rater).exists():
            raise _already_voted() from error
        raise
    return vote

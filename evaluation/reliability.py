"""Per-rater reliability of a study: gold accuracy, consistency on side-swapped repeats, time, agreement with others.

How each figure is defined (the results page and README say the same):

- gold accuracy: share of the rater's votes on gold comparisons that picked the gold answer, with its Wilson 95%
  interval. "Tie" and "both bad" on a gold comparison are wrong answers: gold has a known better answer. A vote on the
  mirror of a gold comparison is a repeat, scored for consistency only, so each gold item counts once per rater.
- repeat consistency: of the rater's (original, side-swapped repeat) vote pairs, the share that agree once the sides
  are accounted for: both picked the same answer (left then right, or right then left), or neither picked one (tie or
  both bad, in either mix: both say the two answers are equally good or equally bad, and neither is the better). A side
  picked once and "no preference" the other time is inconsistent. A rater who always presses the same side scores 0%.
- median time per vote: over all of the rater's votes, in seconds.
- agreement with the majority: over the rater's counted votes on comparisons that other raters also judged, the share
  that match the other raters' majority (tie and both bad as one "no preference" choice); comparisons where the others
  split evenly are left out.
- flagged: at least one gold vote and gold accuracy below the study's gold_threshold. A flag changes nothing by
  itself; the product manager decides whether to leave the rater's votes out (RaterExclusion).
"""

import statistics as pystats
from collections import Counter
from dataclasses import asdict, dataclass

from django.db.models import F

from evaluation.models import RaterExclusion, Study, Vote
from common.statistics import wilson_interval

NO_PREFERENCE = "none"


@dataclass(frozen=True)
class RaterReliability:
    rater_id: int
    username: str
    votes: int  # every vote, gold and repeats included
    counted_votes: int  # votes the results would count (neither gold nor a repeat), before any exclusion
    gold_votes: int
    gold_correct: int
    gold_accuracy: float | None
    gold_low: float | None
    gold_high: float | None
    repeats: int  # (original, repeat) vote pairs
    repeats_consistent: int
    consistency: float | None
    median_seconds: float | None
    majority_votes: int  # counted votes on comparisons where the other raters have a majority
    majority_agreement: float | None
    flagged: bool
    excluded: bool
    exclusion_reason: str

    def as_dict(self) -> dict:
        return asdict(self)


def _preferred(vote: dict):
    """The answer the vote prefers (its id), or NO_PREFERENCE for a tie or both bad."""
    if vote["choice"] == Vote.Choice.LEFT:
        return vote["left_answer"]
    if vote["choice"] == Vote.Choice.RIGHT:
        return vote["right_answer"]
    return NO_PREFERENCE


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def rater_reliability(
    votes: list[dict], *, threshold: float, exclusions: dict[int, str], usernames: dict[int, str]
) -> list[RaterReliability]:
    """The figures of every rater from plain vote rows (rater_id, comparison_id, choice, time_spent_ms, left_answer,
    right_answer, gold_answer, repeat_of), ordered by rater name (`usernames` by rater id). Pure: no database."""
    by_rater: dict[int, list[dict]] = {}
    choices_by_comparison: dict[int, Counter] = {}  # counted votes' preferred answers, per comparison
    for vote in votes:
        by_rater.setdefault(vote["rater_id"], []).append(vote)
        if vote["gold_answer"] is None and vote["repeat_of"] is None:
            choices_by_comparison.setdefault(vote["comparison_id"], Counter())[_preferred(vote)] += 1
    rows = []
    for rater_id, own in by_rater.items():
        gold = [v for v in own if v["gold_answer"] is not None and v["repeat_of"] is None]
        correct = sum(_preferred(v) == v["gold_answer"] for v in gold)
        low, high = wilson_interval(correct, len(gold)) if gold else (None, None)
        first = {v["comparison_id"]: _preferred(v) for v in own if v["repeat_of"] is None}
        pairs = [
            (first[v["repeat_of"]], _preferred(v))
            for v in own
            if v["repeat_of"] is not None and v["repeat_of"] in first
        ]
        consistent = sum(a == b for a, b in pairs)
        times = [v["time_spent_ms"] for v in own if v["time_spent_ms"]]
        majority_votes = majority_agree = 0
        for v in own:
            if v["gold_answer"] is not None or v["repeat_of"] is not None:
                continue
            own_choice = _preferred(v)
            # The other raters' votes: this comparison's tally without this rater's one vote (one vote per rater).
            others = sorted(
                (
                    (n - (choice == own_choice), choice)
                    for choice, n in choices_by_comparison[v["comparison_id"]].items()
                ),
                key=lambda item: item[0],
                reverse=True,
            )
            if not others or others[0][0] == 0 or (len(others) > 1 and others[0][0] == others[1][0]):
                continue
            majority_votes += 1
            majority_agree += others[0][1] == own_choice
        accuracy = _share(correct, len(gold))
        rows.append(RaterReliability(
            rater_id=rater_id, username=usernames.get(rater_id, str(rater_id)), votes=len(own),
            counted_votes=sum(v["gold_answer"] is None and v["repeat_of"] is None for v in own),
            gold_votes=len(gold), gold_correct=correct, gold_accuracy=accuracy, gold_low=low, gold_high=high,
            repeats=len(pairs), repeats_consistent=consistent, consistency=_share(consistent, len(pairs)),
            median_seconds=pystats.median(times) / 1000 if times else None,
            majority_votes=majority_votes, majority_agreement=_share(majority_agree, majority_votes),
            flagged=accuracy is not None and accuracy < threshold,
            excluded=rater_id in exclusions, exclusion_reason=exclusions.get(rater_id, ""),
        ))
    return sorted(rows, key=lambda row: (row.username, row.rater_id))


def study_rater_reliability(*, study: Study) -> list[RaterReliability]:
    """Every rater of the study with their reliability figures; two queries whatever the number of raters and votes.
    For result readers only: it names the raters."""
    votes = list(
        Vote.objects.filter(comparison__study=study)
        .values(
            "rater_id",
            "comparison_id",
            "choice",
            "time_spent_ms",
            username=F("rater__username"),
            left_answer=F("comparison__left_answer_id"),
            right_answer=F("comparison__right_answer_id"),
            gold_answer=F("comparison__gold_answer_id"),
            repeat_of=F("comparison__repeat_of_id"),
        )
        .order_by("pk")
    )
    exclusions = dict(RaterExclusion.objects.filter(study=study).values_list("rater_id", "reason"))
    usernames = {v["rater_id"]: v["username"] for v in votes}
    return rater_reliability(votes, threshold=study.gold_threshold, exclusions=exclusions, usernames=usernames)

"""Rater reliability from plain vote rows: gold accuracy, repeat consistency, time, agreement with the majority."""

import pytest

from evaluation.reliability import rater_reliability
from common.statistics import wilson_interval

# Comparisons: answer ids 1/2 (comparison 10), 3/4 (comparison 11), 5/6 (gold 12, gold answer 6), 7/8 (gold 13, gold 7),
# mirror 20 of 10 (sides swapped: left 2, right 1), mirror 21 of 11 (left 4, right 3).
COMPARISONS = {
    10: {"left_answer": 1, "right_answer": 2, "gold_answer": None, "repeat_of": None},
    11: {"left_answer": 3, "right_answer": 4, "gold_answer": None, "repeat_of": None},
    12: {"left_answer": 5, "right_answer": 6, "gold_answer": 6, "repeat_of": None},
    13: {"left_answer": 7, "right_answer": 8, "gold_answer": 7, "repeat_of": None},
    20: {"left_answer": 2, "right_answer": 1, "gold_answer": None, "repeat_of": 10},
    21: {"left_answer": 4, "right_answer": 3, "gold_answer": None, "repeat_of": 11},
}


def _vote(rater: int, comparison: int, choice: str, ms: int = 1000) -> dict:
    return {
        "rater_id": rater,
        "comparison_id": comparison,
        "choice": choice,
        "time_spent_ms": ms,
        **COMPARISONS[comparison],
    }


def _by_name(votes, **kwargs):
    rows = rater_reliability(votes, threshold=kwargs.get("threshold", 0.7), exclusions=kwargs.get("exclusions", {}),
                             usernames={1: "careful", 2: "flipper", 3: "tier"})
    return {row.username: row for row in rows}


def test_a_rater_who_always_picks_the_gold_answer_scores_100_percent():
    rows = _by_name([_vote(1, 12, "right"), _vote(1, 13, "left"), _vote(1, 10, "left")])
    careful = rows["careful"]
    assert (careful.gold_votes, careful.gold_correct, careful.gold_accuracy, careful.flagged) == (2, 2, 1.0, False)
    assert (careful.gold_low, careful.gold_high) == wilson_interval(2, 2)
    assert (careful.votes, careful.counted_votes) == (3, 1)


def test_a_tie_on_gold_is_a_wrong_answer_and_below_the_threshold_flags():
    rows = _by_name([_vote(3, 12, "tie"), _vote(3, 13, "left")], threshold=0.7)
    tier = rows["tier"]
    assert (tier.gold_votes, tier.gold_correct, tier.gold_accuracy, tier.flagged) == (2, 1, 0.5, True)


def test_a_rater_who_flips_on_swapped_repeats_scores_0_percent_consistency():
    # Always "left": on the mirror, left is the other answer, so each repeat contradicts the first vote.
    rows = _by_name([_vote(2, 10, "left"), _vote(2, 11, "right"), _vote(2, 20, "left"), _vote(2, 21, "right")])
    flipper = rows["flipper"]
    assert (flipper.repeats, flipper.repeats_consistent, flipper.consistency) == (2, 0, 0.0)
    assert (flipper.votes, flipper.counted_votes, flipper.gold_accuracy, flipper.flagged) == (4, 2, None, False)


def test_picking_the_same_answer_on_the_other_side_is_consistent_and_tie_against_both_bad_too():
    rows = _by_name([_vote(1, 10, "left"), _vote(1, 20, "right"), _vote(3, 11, "tie"), _vote(3, 21, "both_bad"),
                     _vote(3, 10, "left"), _vote(3, 20, "tie")])
    assert (rows["careful"].repeats, rows["careful"].consistency) == (1, 1.0)
    # tie then both bad: neither prefers an answer (consistent); a side then a tie is not.
    assert (rows["tier"].repeats, rows["tier"].repeats_consistent, rows["tier"].consistency) == (2, 1, 0.5)


def test_median_time_and_agreement_with_the_majority_of_the_others():
    votes = [_vote(1, 10, "left", 1000), _vote(2, 10, "left", 3000), _vote(3, 10, "right", 8000),
             _vote(1, 11, "tie", 2000), _vote(2, 11, "both_bad", 500), _vote(3, 11, "left", 600)]
    rows = _by_name(votes)
    # careful: on 10 the others split left/right (no majority: left out); on 11 the others split both_bad/left.
    assert (rows["careful"].majority_votes, rows["careful"].majority_agreement, rows["careful"].median_seconds) == (
        0,
        None,
        1.5,
    )
    # tier: on 10 the others both said left (tier said right: disagrees); on 11 tie and both bad are one choice: no
    # preference.
    assert (rows["tier"].majority_votes, rows["tier"].majority_agreement) == (2, 0.0)
    # flipper: the others split on both comparisons.
    assert (rows["flipper"].majority_votes, rows["flipper"].majority_agreement, rows["flipper"].median_seconds) == (
        0,
        None,
        1.75,
    )


def test_excluded_raters_are_marked_with_their_reason():
    rows = _by_name([_vote(2, 12, "left")], exclusions={2: "presses left"})
    assert (rows["flipper"].excluded, rows["flipper"].exclusion_reason, rows["flipper"].flagged) == (
        True,
        "presses left",
        True,
    )


@pytest.mark.parametrize("threshold", [0.0, 0.5])
def test_nobody_is_flagged_at_or_above_the_threshold(threshold):
    rows = _by_name([_vote(3, 12, "right"), _vote(3, 13, "right")], threshold=threshold)
    assert rows["tier"].gold_accuracy == 0.5 and rows["tier"].flagged is (0.5 < threshold)


def test_agreeing_with_a_clear_majority_of_the_others():
    votes = [
        _vote(1, 10, "left"),
        _vote(2, 10, "left"),
        _vote(3, 10, "left"),
        _vote(1, 11, "right"),
        _vote(2, 11, "tie"),
        _vote(3, 11, "tie"),
    ]
    rows = _by_name(votes)
    #left agrees; right against tie
    assert (rows["careful"].majority_votes, rows["careful"].majority_agreement) == (2, 0.5)
    #on 11 the others split right/tie
    assert (rows["tier"].majority_votes, rows["tier"].majority_agreement) == (1, 1.0)

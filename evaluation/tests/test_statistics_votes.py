"""The vote-level estimators of evaluation.statistics against worked numbers and reference implementations."""

import math

import evalica
import krippendorff
import numpy as np
import pytest

from evaluation.statistics import (
    ELO_SCALE,
    bootstrap_support_interval,
    bradley_terry_fit,
    bradley_terry_ratings,
    label_breakdown,
    length_controlled_rate,
    rater_agreement,
    support_rate,
    tally_of,
)

# The Wikipedia Bradley–Terry example: W[i][j] = times team i beat team j, for teams A, B, C, D.
WIKIPEDIA_WINS = np.array([[0, 2, 0, 1], [3, 0, 5, 0], [0, 3, 0, 1], [4, 0, 3, 0]], dtype=float)

# A small battle table in the shape of evalica's simple.csv: (left, right, winner) with "x", "y" or "draw".
BATTLES = [
    ("pizza", "burger", "x"), ("pizza", "salad", "x"), ("burger", "salad", "y"), ("sushi", "pizza", "draw"),
    ("sushi", "burger", "x"), ("salad", "sushi", "y"), ("burger", "pizza", "x"), ("salad", "pizza", "y"),
    ("sushi", "salad", "draw"), ("burger", "sushi", "x"), ("pizza", "sushi", "y"), ("salad", "burger", "x"),
    ("pizza", "burger", "draw"), ("sushi", "pizza", "x"), ("salad", "burger", "y"), ("burger", "salad", "draw"),
]
SCORE = {"x": 1.0, "y": 0.0, "draw": 0.5}
EVALICA_WINNER = {"x": evalica.Winner.X, "y": evalica.Winner.Y, "draw": evalica.Winner.Draw}


def test_bradley_terry_reproduces_the_wikipedia_strengths():
    strengths = np.exp(bradley_terry_fit(WIKIPEDIA_WINS, prior=0.0))
    assert np.round(strengths, 3).tolist() == [0.640, 1.043, 0.660, 2.270]


def test_bradley_terry_agrees_with_evalica_on_a_battle_table():
    left, right, winner = zip(*BATTLES)
    reference = evalica.bradley_terry(
        list(left), list(right), [EVALICA_WINNER[w] for w in winner], tolerance=1e-13, limit=100_000
    )
    ratings = bradley_terry_ratings(left, right, [SCORE[w] for w in winner], prior=0.0, rounds=0)
    theirs = np.log(reference.scores)
    theirs -= theirs.mean()
    for rating in ratings:
        ours = (rating.rating - 1000) / ELO_SCALE
        assert ours == pytest.approx(theirs[rating.model], abs=1e-6)


def test_two_arm_bradley_terry_is_the_tie_half_rate():
    scores = [1, 1, 1, 0, 0.5, 1, 0, 0.5, 1, 1]  # 6 wins, 2 losses, 2 ties for the first model: 0.7
    first, second = ratings = bradley_terry_ratings(["candidate"] * 10, ["baseline"] * 10, scores, prior=0.0, rounds=0)
    assert (first.model, second.model) == ("candidate", "baseline")
    p = 1 / (1 + 10 ** ((second.rating - first.rating) / 400))
    assert p == pytest.approx(0.7, abs=1e-9)
    assert first.rating + second.rating == pytest.approx(2000)
    assert len(ratings) == 2


def test_a_never_winning_model_gets_a_finite_rating_below_the_others():
    first = ["a", "a", "b", "b", "c", "a"]
    second = ["b", "c", "c", "loser", "loser", "loser"]
    scores = [1, 0.5, 0, 1, 1, 1]
    ratings = bradley_terry_ratings(first, second, scores, rounds=100, seed=3)
    assert all(math.isfinite(r.rating) and math.isfinite(r.low) and math.isfinite(r.high) for r in ratings)
    assert ratings[-1].model == "loser"
    assert all(r.low <= r.rating <= r.high for r in ratings)


def test_bootstrap_ranks_count_models_clearly_above():
    rng = np.random.default_rng(0)
    strength = {"strong": 2.0, "middle": 0.0, "weak": -2.0}
    pairs = [("strong", "middle"), ("middle", "weak"), ("strong", "weak")] * 200
    first, second = zip(*pairs)
    scores = [float(rng.random() < 1 / (1 + math.exp(strength[b] - strength[a]))) for a, b in pairs]
    ratings = bradley_terry_ratings(first, second, scores, prompts=range(len(pairs)), rounds=100, seed=1)
    assert [(r.model, r.rank) for r in ratings] == [("strong", 1), ("middle", 2), ("weak", 3)]
    assert [r.votes for r in ratings] == [400, 400, 400]


def test_bradley_terry_ratings_are_seeded():
    args = (["a", "b", "c"] * 5, ["b", "c", "a"] * 5, [1, 0.5, 0] * 5)
    assert bradley_terry_ratings(*args, rounds=20, seed=7) == bradley_terry_ratings(*args, rounds=20, seed=7)


def test_prompt_bootstrap_moves_a_prompts_votes_together():
    # Every prompt is unanimous, so the interval must be as wide as for 4 votes, not 40.
    prompts = [p for p in range(4) for _ in range(10)]
    scores = [1.0 if p < 3 else 0.0 for p in prompts]
    low, high = bootstrap_support_interval(prompts, scores, rounds=2000, seed=0)
    assert (low, high) == (0.25, 1.0)
    vote_level = bootstrap_support_interval(range(40), scores, rounds=2000, seed=0)
    assert vote_level[0] > 0.5


def test_prompt_bootstrap_of_a_constant_rate_and_of_nothing():
    assert bootstrap_support_interval([1, 1, 2, 3], [0.5, 0.5, 0.5, 0.5]) == (0.5, 0.5)
    assert bootstrap_support_interval([], []) is None


def test_label_breakdown_summarises_each_label():
    labels = ["tone", "tone", "facts", "facts", "facts", ""]
    outcomes = ["win", "tie", "loss", "loss", "both_bad", "win"]
    breakdown = label_breakdown(labels, outcomes)
    assert list(breakdown) == ["facts", "tone"]
    assert (breakdown["tone"].support_rate, breakdown["tone"].votes) == (0.75, 2)
    assert (breakdown["facts"].support_rate, breakdown["facts"].losses, breakdown["facts"].both_bad) == (1 / 6, 2, 1)


def test_tally_of_counts_outcomes():
    tally = tally_of(["win", "win", "loss", "tie", "both_bad"])
    assert (tally.wins, tally.losses, tally.ties, tally.both_bad, support_rate(tally)) == (2, 1, 1, 1, 0.6)


def test_rater_agreement_counts_pairs_and_matches_krippendorff():
    items = [1, 1, 1, 2, 2, 3, 3, 3, 4, 4, 5]
    outcomes = ["win", "win", "loss", "tie", "both_bad", "loss", "loss", "win", "win", "loss", "win"]
    agreement = rater_agreement(items, outcomes)
    # item 1: 3 pairs, 1 agreeing; 2: tie = both bad, 1 of 1; 3: 1 of 3; 4: 0 of 1; item 5 has one vote.
    assert (agreement.items, agreement.pairs, agreement.agreement) == (4, 8, 3 / 8)
    assert (agreement.decisive_pairs, agreement.decisive_agreement) == (7, 2 / 7)
    reliability = np.array([[0, 2, 1, 0], [0, 2, 1, 1], [1, np.nan, 0, np.nan]])
    assert agreement.alpha == pytest.approx(
        krippendorff.alpha(reliability_data=reliability, level_of_measurement="nominal")
    )


def test_rater_agreement_without_repeated_items():
    agreement = rater_agreement([1, 2], ["win", "loss"])
    assert (agreement.items, agreement.pairs, agreement.agreement, agreement.alpha) == (0, 0, None, None)


def test_length_control_removes_a_pure_length_preference():
    # Raters always prefer the longer answer, and the candidate is longer as often as shorter: controlled rate 50%.
    differences = [40, 25, 10, -10, -25, -40, 5, -5]
    scores = [1.0 if d > 0 else 0.0 for d in differences]
    control = length_controlled_rate(scores, differences)
    assert control.raw_rate == 0.5
    assert control.controlled_rate == pytest.approx(0.5, abs=1e-6)
    assert control.longer_won_rate == 1.0
    assert control.length_coefficient > 3


def test_length_control_when_the_candidate_is_longer_and_liked_for_it():
    # The candidate is always longer; half of its wins come with a big length lead: controlled rate below raw.
    differences = [50, 50, 50, 50, 5, 5, 5, 5]
    scores = [1, 1, 1, 1, 1, 0, 0, 0.5]
    control = length_controlled_rate(scores, differences)
    assert control.raw_rate == pytest.approx(5.5 / 8)
    assert control.controlled_rate < control.raw_rate
    assert (control.unequal_votes, control.longer_won_rate) == (8, pytest.approx(5.5 / 8))


def test_length_control_with_equal_lengths_is_the_raw_rate():
    control = length_controlled_rate([1, 0, 1, 0.5], [0, 0, 0, 0])
    assert control.controlled_rate == pytest.approx(0.625, abs=1e-5)
    assert (control.length_coefficient, control.unequal_votes, control.longer_won_rate) == (None, 0, None)
    assert length_controlled_rate([], []).raw_rate is None

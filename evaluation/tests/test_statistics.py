import pytest

from evaluation.statistics import (
    DAMAGED,
    INCONCLUSIVE,
    MARKED_IMPROVEMENT,
    NO_PROGRESS,
    NOT_GOOD_ENOUGH,
    SUCCESS,
    Tally,
    sign_test_p,
    summarize,
    support_rate,
    votes_to_settle,
    wilson_interval,
)


def test_wilson_interval_of_60_in_100():
    low, high = wilson_interval(60, 100)
    assert (round(low, 3), round(high, 3)) == (0.502, 0.691)


def test_wilson_interval_stays_inside_zero_and_one():
    assert wilson_interval(0, 10)[0] == 0.0
    assert wilson_interval(10, 10)[1] == pytest.approx(1.0)
    assert wilson_interval(10, 10)[1] <= 1.0


def test_wilson_interval_needs_an_observation():
    with pytest.raises(ValueError):
        wilson_interval(0, 0)


def test_sign_test_of_50_wins_against_30_losses():
    assert round(sign_test_p(50, 30), 3) == 0.033


def test_sign_test_is_symmetric_and_exact():
    assert sign_test_p(30, 50) == sign_test_p(50, 30)
    assert sign_test_p(10, 0) == 2 / 1024
    assert sign_test_p(5, 5) == 1.0
    assert sign_test_p(0, 0) == 1.0


def test_the_three_rates_of_50_wins_30_losses_20_ties():
    summary = summarize(Tally(wins=50, losses=30, ties=20))
    assert (summary.win_rate, summary.support_rate, summary.decisive_win_rate) == (0.5, 0.6, 0.625)
    assert (summary.votes, summary.decisive) == (100, 80)
    assert (round(summary.interval_low, 3), round(summary.interval_high, 3)) == (0.502, 0.691)
    assert round(summary.sign_test_p, 3) == 0.033


def test_both_bad_counts_as_a_tie_in_the_support_rate():
    assert support_rate(Tally(wins=50, losses=30, ties=10, both_bad=10)) == 0.6
    with_both_bad = summarize(Tally(wins=50, losses=30, ties=10, both_bad=10))
    assert with_both_bad.interval_low == summarize(Tally(wins=50, losses=30, ties=20)).interval_low


def test_no_votes_is_not_conclusive():
    summary = summarize(Tally())
    assert (
        summary.support_rate,
        summary.win_rate,
        summary.decisive_win_rate,
        summary.interval_low,
        summary.sign_test_p,
    ) == (None,) * 5
    assert summary.verdict.band == INCONCLUSIVE
    assert summary.verdict.text == "not yet conclusive — no votes yet"


@pytest.mark.parametrize(("tally", "band", "text"), [
    (Tally(wins=30, losses=70), DAMAGED, "the fine-tune damaged the model"),
    (Tally(wins=500, losses=500), NO_PROGRESS, "no progress"),
    (Tally(wins=60, losses=40), NOT_GOOD_ENOUGH, "better, but not good enough"),
    (Tally(wins=312, losses=88), SUCCESS, "a success"),
    (Tally(wins=90, losses=10), MARKED_IMPROVEMENT, "a marked improvement"),
])
def test_a_band_is_claimed_when_the_interval_supports_it(tally, band, text):
    verdict = summarize(tally).verdict
    assert (verdict.band, verdict.is_conclusive, verdict.text) == (band, True, text)


def test_a_rate_in_a_band_without_the_interval_is_not_conclusive_and_says_how_many_votes_settle_it():
    verdict = summarize(Tally(wins=75, losses=25)).verdict
    assert (verdict.band, verdict.leaning, verdict.is_conclusive, verdict.votes_needed) == (
        INCONCLUSIVE,
        SUCCESS,
        False,
        223,
    )
    assert verdict.text == "not yet conclusive — about 223 more votes would settle it"
    # 223 more votes at 75% lift the lower bound above 70%; one fewer does not.
    assert wilson_interval(0.75 * 323, 323)[0] > 0.7 >= wilson_interval(0.75 * 322, 322)[0]


def test_few_votes_near_half_lean_to_no_progress():
    verdict = summarize(Tally(wins=5, losses=5)).verdict
    assert (verdict.band, verdict.leaning, verdict.votes_needed) == (INCONCLUSIVE, NO_PROGRESS, 83)


def test_a_rate_on_a_band_edge_cannot_be_settled_by_more_votes():
    verdict = summarize(Tally(wins=70, losses=30)).verdict
    assert (verdict.band, verdict.leaning, verdict.votes_needed) == (INCONCLUSIVE, SUCCESS, None)
    assert verdict.text.startswith("not yet conclusive — the rate sits on the edge of a band")
    assert votes_to_settle(0.7, 100, SUCCESS) is None

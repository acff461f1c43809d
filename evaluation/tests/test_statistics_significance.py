"""The statistics of rating studies and of every comparison between arms, held to scipy, scikit-learn, sacrebleu and
hand-worked values."""

import math

import numpy as np
import pytest
import sacrebleu
from scipy import stats
from sacrebleu.metrics.bleu import BLEU
from sklearn.metrics import f1_score

from evaluation.statistics.bootstrap import bleu_from_sums, macro_f1_from_sums, paired_bootstrap
from evaluation.statistics.multiple import holm_adjust, significant
from evaluation.statistics.ratings import mean_interval, paired_tests, rating_alpha

CANDIDATE = [4, 5, 3, 4, 5, 4, 2, 5, 4, 3, 5, 4]
BASELINE = [3, 3, 3, 2, 4, 4, 2, 3, 3, 3, 4, 2]


def test_the_mean_interval_is_student_t_over_prompts():
    values = [3.0, 4.0, 4.5, 2.0, 5.0]
    low, high = stats.t.interval(0.95, len(values) - 1, loc=np.mean(values), scale=stats.sem(values))
    interval = mean_interval(values)
    assert (interval.n, interval.mean) == (5, pytest.approx(3.7))
    assert (interval.low, interval.high) == (pytest.approx(max(1.0, low), abs=1e-12), pytest.approx(min(5.0, high),
                                                                                                    abs=1e-12))
    assert mean_interval([4.0]).as_dict() == {"n": 1, "mean": 4.0, "low": 4.0, "high": 4.0}
    assert mean_interval([]).as_dict() == {"n": 0, "mean": None, "low": None, "high": None}
    assert mean_interval([1.0, 1.0, 1.0]).as_dict() == {"n": 3, "mean": 1.0, "low": 1.0, "high": 1.0}


def test_paired_tests_equal_scipy_wilcoxon_and_ttest_rel():
    tests = paired_tests(CANDIDATE, BASELINE)
    assert tests.n == 12
    assert tests.mean_difference == 1.0  # differences 1 2 0 2 1 0 0 2 1 0 1 2
    assert tests.wilcoxon_p == pytest.approx(stats.wilcoxon(CANDIDATE, BASELINE).pvalue, abs=1e-15)
    assert tests.t_test_p == pytest.approx(stats.ttest_rel(CANDIDATE, BASELINE).pvalue, abs=1e-15)
    assert tests.wilcoxon_p < 0.01 and tests.t_test_p < 0.01


def test_paired_tests_without_any_difference_or_data():
    assert paired_tests([3, 4, 5], [3, 4, 5]).as_dict() == {"n": 3, "mean_difference": 0.0, "wilcoxon_p": 1.0,
                                                            "t_test_p": 1.0}
    assert paired_tests([3], [2]).as_dict() == {"n": 1, "mean_difference": 1.0, "wilcoxon_p": None, "t_test_p": None}
    assert paired_tests([], []).n == 0
    with pytest.raises(ValueError):
        paired_tests([1, 2], [1])


def test_holm_adjusts_step_down_and_keeps_the_order():
    # Sorted 0.01, 0.03, 0.04 of three: 0.03, 0.06, max(0.06, 0.04) = 0.06.
    assert holm_adjust([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert holm_adjust([0.5, None, 0.9]) == [1.0, None, 1.0]  # 2 x 0.5, then max(1.0, 0.9)
    assert holm_adjust([0.02]) == [0.02]
    assert (significant(0.05, 0.05), significant(0.0501, 0.05), significant(None, 0.05)) == (True, False, None)


def test_rating_alpha_is_krippendorffs_ordinal_alpha():
    assert rating_alpha([[1, 1], [3, 3], [5, 5, 5]]) == 1.0
    # Krippendorff (2011), "Computing Krippendorff's alpha-reliability", the ordinal example with missing values:
    # four coders, twelve units; the published ordinal alpha is 0.815.
    units = [[1, 1, None, 1], [2, 2, 3, 2], [3, 3, 3, 3], [3, 3, 3, 3], [2, 2, 2, 2], [1, 2, 3, 4], [4, 4, 4, 4],
             [1, 1, 2, 1], [2, 2, 2, 2], [None, 5, 5, 5], [None, None, 1, 1], [None, None, 3, None]]
    assert rating_alpha(units) == pytest.approx(0.815, abs=5e-4)


def _bootstrap_by_loop(candidate, baseline, rounds, seed, metric):
    """The same draw, one round at a time: what the vectorised bootstrap must equal."""
    rng = np.random.default_rng(seed)
    n = len(candidate)
    indices = rng.integers(0, n, size=(rounds, n))
    return np.array([metric(candidate[i]) - metric(baseline[i]) for i in indices])


def test_the_paired_bootstrap_equals_a_loop_over_the_same_draw():
    rng = np.random.default_rng(7)
    candidate, baseline = rng.random(40), rng.random(40) * 0.8
    result = paired_bootstrap(candidate, baseline, rounds=500, seed=3)
    differences = _bootstrap_by_loop(candidate, baseline, 500, 3, np.mean)
    observed = candidate.mean() - baseline.mean()
    assert result.difference == pytest.approx(observed)
    assert (result.low, result.high) == pytest.approx(tuple(np.quantile(differences, [0.025, 0.975])))
    extreme = np.count_nonzero(np.abs(differences - observed) >= abs(observed) - 1e-12)
    assert result.p_value == pytest.approx((1 + extreme) / 501)
    assert paired_bootstrap(candidate, baseline, rounds=500, seed=3) == result  # seeded: the same again


def test_the_paired_bootstrap_p_value_separates_a_real_difference_from_none():
    same = np.array([1.0, 0.0, 1.0, 1.0, 0.0, 1.0] * 5)
    assert paired_bootstrap(same, same).p_value == 1.0
    better = paired_bootstrap(np.ones(30), np.array([1.0, 0.0] * 15))
    assert better.difference == 0.5 and better.p_value < 0.001 and better.low > 0
    assert paired_bootstrap([], []).n == 0


HYPOTHESES = ["the cat sat on the mat", "hello there", "a b c d e f", "nothing matches", "the parcel left today"]
REFERENCES = ["the cat is on the mat", "hello there friend", "a b c d e f", "zzz yyy", "your parcel left yesterday"]


def test_bleu_from_summed_statistics_equals_sacrebleu():
    statistics = np.array(BLEU()._extract_corpus_statistics(HYPOTHESES, [REFERENCES]), dtype=float)
    assert bleu_from_sums(statistics.sum(axis=0)[None, :])[0] == pytest.approx(
        sacrebleu.corpus_bleu(HYPOTHESES, [REFERENCES]).score, abs=1e-9)
    for row, hypothesis, reference in zip(statistics, HYPOTHESES, REFERENCES):
        assert bleu_from_sums(row[None, :])[0] == pytest.approx(
            sacrebleu.corpus_bleu([hypothesis], [[reference]]).score, abs=1e-9)


def test_macro_f1_from_summed_counts_equals_scikit_learn():
    gold = ["refund", "refund", "shipping", "billing", "shipping", "refund"]
    predicted = ["refund", "shipping", "shipping", "refund", "billing", "refund"]
    classes = sorted(set(gold) | set(predicted))
    counts = np.zeros((len(gold), 3 * len(classes)))
    for row, (g, p) in enumerate(zip(gold, predicted)):
        for c, name in enumerate(classes):
            counts[row, 3 * c:3 * c + 3] = [g == name and p == name, p == name and g != name, g == name and p != name]
    assert macro_f1_from_sums(counts.sum(axis=0)[None, :])[0] == pytest.approx(
        f1_score(gold, predicted, average="macro"), abs=1e-12)
    assert math.isclose(macro_f1_from_sums(np.zeros((1, 3)))[0], 0.0)

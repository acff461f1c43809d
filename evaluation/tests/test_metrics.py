"""Automatic metrics against worked numbers."""

import pytest
import sacrebleu

from evaluation.metrics import automatic_metrics


def test_identical_answers_score_full_marks():
    metrics = automatic_metrics(["The cat sat on the mat."], ["The cat sat on the mat."])
    assert (metrics.count, metrics.exact_match, metrics.rouge_l) == (1, 1.0, 1.0)
    assert metrics.bleu == pytest.approx(100.0)


def test_exact_match_ignores_case_and_spacing_only():
    metrics = automatic_metrics(["  Free  shipping ", "free shipping!"], ["free shipping", "free shipping"])
    assert metrics.exact_match == 0.5


def test_rouge_l_is_the_longest_common_subsequence_f_measure():
    # reference 6 tokens, prediction 6 tokens, LCS "the cat sat on mat" = 5: P = R = F = 5/6.
    metrics = automatic_metrics(["the cat sat on a mat"], ["the cat sat on the mat"])
    assert metrics.rouge_l == pytest.approx(5 / 6)
    assert metrics.bleu == pytest.approx(
        sacrebleu.corpus_bleu(["the cat sat on a mat"], [["the cat sat on the mat"]]).score
    )


def test_chinese_is_scored_by_characters():
    metrics = automatic_metrics(["好的，请提供订单号。"], ["好的，请提供您的订单号。"])
    # 8 of the prediction's 8 characters (punctuation aside) appear in order in the reference's 10: F = 2·1·0.8/1.8.
    assert metrics.rouge_l == pytest.approx(2 * 1 * 0.8 / 1.8)
    assert 0 < metrics.bleu < 100


def test_no_answers_no_figures_and_lengths_must_match():
    assert automatic_metrics([], []).as_dict() == {"count": 0, "exact_match": None, "bleu": None, "rouge_l": None}
    with pytest.raises(ValueError):
        automatic_metrics(["a"], [])

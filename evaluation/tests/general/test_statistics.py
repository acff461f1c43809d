import pytest

from evaluation.general.statistics import mcnemar_p, results_by_subject, subject_result


def test_mcnemar_exact_binomial_for_few_discordant_items():
    # 1 lost, 9 gained: 2 · P(X ≤ 1 | n=10, ½) = 2 · 11/1024
    assert mcnemar_p(1, 9) == pytest.approx(22 / 1024, abs=1e-15)
    assert mcnemar_p(9, 1) == pytest.approx(22 / 1024, abs=1e-15)
    assert mcnemar_p(5, 5) == 1.0
    assert mcnemar_p(0, 0) == 1.0
    # 0 vs 6: 2 / 64
    assert mcnemar_p(0, 6) == pytest.approx(0.03125, abs=1e-15)


def test_mcnemar_chi_square_with_continuity_correction_for_many():
    # Wikipedia's McNemar example: b = 121, c = 59 → (|121 − 59| − 1)² / 180 = 20.672…, p = 5.45e-6
    assert mcnemar_p(121, 59) == pytest.approx(5.4505e-06, rel=1e-3)
    # 20 vs 10: (10 − 1)² / 30 = 2.7 → p = 0.10035
    assert mcnemar_p(20, 10) == pytest.approx(0.100348, rel=1e-4)


def test_wilson_interval_on_a_subject_matches_the_reference_check():
    result = subject_result("s", [(True, None)] * 60 + [(False, None)] * 40, tolerance=0.02)
    assert (result.baseline_correct, result.items, result.baseline_accuracy) == (60, 100, 0.6)
    assert round(result.baseline_low, 3) == 0.502 and round(result.baseline_high, 3) == 0.691
    assert result.verdict == "" and result.p_value is None


def test_regressed_needs_a_drop_beyond_the_tolerance_and_significance():
    # 0 gained, 8 lost over 40: drop 20 points, p = 2/256
    pairs = [(True, False)] * 8 + [(True, True)] * 20 + [(False, False)] * 12
    regressed = subject_result("s", pairs, tolerance=0.05)
    assert (regressed.lost, regressed.gained, regressed.change, regressed.exact) == (8, 0, -0.2, True)
    assert regressed.p_value == pytest.approx(2 / 256)
    assert regressed.verdict == "regressed"
    assert subject_result("s", pairs, tolerance=0.25).verdict == "kept"
    # 2 lost of 40: a 5-point drop beyond a 2-point tolerance, but p = 0.5: not conclusive
    small = subject_result("s", [(True, False)] * 2 + [(True, True)] * 38, tolerance=0.02)
    assert (small.verdict, small.p_value) == ("not_conclusive", 0.5)


def test_results_by_subject_keeps_first_seen_order_and_an_overall_row():
    rows = [("b", True, True), ("a", False, True), ("b", True, False), ("a", True, True)]
    subjects, overall = results_by_subject(rows, tolerance=0.0)
    assert [(s.subject, s.items, s.baseline_correct, s.candidate_correct) for s in subjects] == [
        ("b", 2, 2, 1),
        ("a", 2, 1, 2),
    ]
    assert (overall.items, overall.baseline_correct, overall.candidate_correct, overall.lost, overall.gained) == (
        4,
        3,
        3,
        1,
        1,
    )

"""Agreement metrics against published worked examples and the reference packages (krippendorff, scipy)."""

import math
import random

import krippendorff
import numpy as np
import pytest
from scipy.stats import kendalltau

from common.statistics import cohen_kappa, fleiss_kappa, kendall_tau, krippendorff_alpha, path_distance

# Krippendorff (2011), "Computing Krippendorff's alpha-reliability", the 4 observers x 12 units example.
KRIPPENDORFF_2011 = [
    [1, 2, 3, 3, 2, 1, 4, 1, 2, None, None, None],
    [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, None, 3],
    [None, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, None],
    [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, None],
]


def _units(coders):
    return [list(unit) for unit in zip(*coders, strict=True)]


def _as_array(coders):
    return np.array([[np.nan if v is None else v for v in row] for row in coders], dtype=float)


@pytest.mark.parametrize("level,published", [("nominal", 0.743), ("ordinal", 0.815), ("interval", 0.849)])
def test_alpha_matches_the_published_example_and_the_package(level, published):
    ours = krippendorff_alpha(_units(KRIPPENDORFF_2011), level=level)
    assert round(ours, 3) == published
    assert ours == pytest.approx(
        krippendorff.alpha(reliability_data=_as_array(KRIPPENDORFF_2011), level_of_measurement=level), abs=1e-9
    )


@pytest.mark.parametrize("level", ["nominal", "ordinal", "interval"])
def test_alpha_matches_the_package_on_random_data_with_missing_values(level):
    rng = random.Random(11)
    for _ in range(20):
        coders = [
            [rng.choice([None, 1, 2, 3, 4, 5]) if rng.random() < 0.8 else None for _ in range(30)] for _ in range(4)
        ]
        expected = krippendorff.alpha(reliability_data=_as_array(coders), level_of_measurement=level)
        assert krippendorff_alpha(_units(coders), level=level) == pytest.approx(expected, abs=1e-9)


def test_alpha_edge_cases():
    assert krippendorff_alpha([[1, None], [None, 2]]) is None  # nothing pairable
    assert krippendorff_alpha([[1, 1], [1, 1]]) is None  # no variation: alpha undefined
    assert krippendorff_alpha([["a", "a"], ["b", "b"]]) == 1.0
    with pytest.raises(ValueError):
        krippendorff_alpha([[1, 2], [2, 1]], level="ratio-ish")


def test_path_aware_alpha_counts_siblings_as_closer_than_other_branches():
    assert path_distance("billing/refund", "billing/refund") == 0.0
    assert path_distance("billing/refund", "billing/invoice") == 0.25
    assert path_distance("billing/refund", "account/login") == 1.0
    siblings = [
        ["billing/refund", "billing/invoice"],
        ["account/login", "account/login"],
        ["billing/invoice", "billing/invoice"],
    ]
    branches = [
        ["billing/refund", "account/delete"],
        ["account/login", "account/login"],
        ["billing/invoice", "billing/invoice"],
    ]
    near = krippendorff_alpha(siblings, distance=path_distance)
    far = krippendorff_alpha(branches, distance=path_distance)
    assert (round(near, 4), round(far, 4)) == (0.8571, 0.5)  # by hand: 1 - 0.5 / 3.5 and 1 - 2 / 4


def test_cohen_kappa_worked_example():
    # Wikipedia's example: 50 proposals, both yes 20, A yes B no 5, A no B yes 10, both no 15: kappa 0.4.
    first = ["yes"] * 25 + ["no"] * 25
    second = ["yes"] * 20 + ["no"] * 5 + ["yes"] * 10 + ["no"] * 15
    assert cohen_kappa(first, second) == pytest.approx(0.4)
    assert cohen_kappa(["a", None], ["a", "b"]) is None  # one pair, one category: chance agreement is total


def test_fleiss_kappa_worked_example():
    # Wikipedia's example: 10 subjects, 14 raters, 5 categories: kappa 0.210.
    counts = [[0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0], [2, 2, 8, 1, 1], [7, 7, 0, 0, 0],
              [3, 2, 6, 3, 0], [2, 5, 3, 2, 2], [6, 5, 2, 1, 0], [0, 2, 2, 3, 7]]
    assert round(fleiss_kappa(counts), 3) == 0.210
    with pytest.raises(ValueError):
        fleiss_kappa([[1, 1], [3, 0]])


def test_kendall_tau_b_matches_scipy_with_ties():
    rng = random.Random(3)
    for _ in range(20):
        a = [rng.randint(1, 5) for _ in range(12)]
        b = [rng.randint(1, 5) for _ in range(12)]
        expected = kendalltau(a, b).statistic
        ours = kendall_tau(a, b)
        assert (ours is None and math.isnan(expected)) or ours == pytest.approx(expected, abs=1e-12)
    assert kendall_tau([1, 2, 3, 4], [1, 2, 3, 4]) == 1.0
    assert kendall_tau([1, 2, 3, 4], [4, 3, 2, 1]) == -1.0

"""Aggregation rules on small examples whose answers were worked out by hand (see each test's comment)."""

import pytest

from annotation.aggregation import dawid_skene, majority_by_reliability, reliability_from_gold


def _flip_example():
    # A, B and C answer the truth; D and E always answer the other class. On i1-i4 the honest three outvote them, so EM
    # learns that D and E flip; on i5 and i6 only A, D and E answered and the majority is D and E's flipped answer.
    def voted(truth):
        flipped = {"x": "y", "y": "x"}[truth]
        return [(a, truth) for a in "ABC"] + [("D", flipped), ("E", flipped)]

    return {"i1": voted("x"), "i2": voted("x"), "i3": voted("y"), "i4": voted("y"),
            "i5": [("A", "x"), ("D", "y"), ("E", "y")], "i6": [("A", "y"), ("D", "x"), ("E", "x")]}


def test_reliability_from_gold_is_laplace_smoothed_accuracy():
    assert reliability_from_gold({"a": (9, 9), "c": (2, 3), "z": (0, 0)}) == {"a": 10 / 11, "c": 3 / 5, "z": 0.5}


def test_majority_breaks_ties_by_summed_reliability_then_sort_order():
    items = {
        "i1": [("a", "x"), ("b", "x"), ("c", "y")],  # 2 against 1: x, whatever the reliabilities
        "i2": [("a", "x"), ("c", "y")],              # tie: a 0.9 > c 0.6 -> x
        "i3": [("b", "y"), ("c", "x")],              # tie: b unknown (0.5) < c 0.6 -> x
        "i4": [("d", "y"), ("e", "x")],              # tie on both counts: the smaller answer, x
        "i5": [("a", "y"), ("b", "x"), ("c", "x"), ("d", "y")],  # 2-2: a 0.9 + d 0.5 = 1.4 > b 0.5 + c 0.6 = 1.1 -> y
        "i6": [],
    }
    assert majority_by_reliability(items, {"a": 0.9, "c": 0.6}) == {
        "i1": "x",
        "i2": "x",
        "i3": "x",
        "i4": "x",
        "i5": "y",
    }


def test_majority_without_reliabilities_is_plain_majority():
    assert majority_by_reliability({"i": [("a", ("p",)), ("b", ("q",)), ("c", ("q",))]}) == {"i": ("q",)}


def test_dawid_skene_learns_flipping_annotators_where_the_majority_follows_them():
    items = _flip_example()
    assert majority_by_reliability(items) == {"i1": "x", "i2": "x", "i3": "y", "i4": "y", "i5": "y", "i6": "x"}

    result = dawid_skene(items)

    assert result["labels"] == {"i1": "x", "i2": "x", "i3": "y", "i4": "y", "i5": "x", "i6": "y"}
    # At the fixed point every posterior is certain, so each confusion row is a count plus the 0.01 smoothing per cell:
    # A answered x on the three x items (i1, i2, i5): (3 + 0.01) / (3 + 0.02); B saw two x items; D answered y on all
    # three x items; the classes are three items each.
    assert result["priors"] == pytest.approx({"x": 0.5, "y": 0.5}, abs=1e-6)
    assert result["confusion"]["A"]["x"] == pytest.approx({"x": 3.01 / 3.02, "y": 0.01 / 3.02}, abs=1e-6)
    assert result["confusion"]["B"]["y"] == pytest.approx({"x": 0.01 / 2.02, "y": 2.01 / 2.02}, abs=1e-6)
    assert result["confusion"]["D"]["x"] == pytest.approx({"x": 0.01 / 3.02, "y": 3.01 / 3.02}, abs=1e-6)
    assert result["posteriors"]["i5"]["x"] == pytest.approx(1.0, abs=1e-6)
    assert 1 <= result["iterations"] < 100


def test_dawid_skene_with_unanimous_answers_and_nothing():
    assert dawid_skene({"i": [("a", "x"), ("b", "x")]})["labels"] == {"i": "x"}
    assert dawid_skene({}) == {"labels": {}, "posteriors": {}, "confusion": {}, "priors": {}, "iterations": 0}

"""Aggregating several annotators' answers on one item into one answer (no Django: plain data in, plain data out).

An answer is whatever an annotator gave on an item as one class: the sorted tuple of label paths they picked (a single
path for a single-choice schema). Inputs are {item: [(annotator, answer), ...]}.

- majority_by_reliability: the answer given by most annotators; a tie goes to the answer whose annotators have the
  higher summed reliability (their gold accuracy, see reliability_from_gold); a tie on that too keeps the smallest
  answer in sort order, so the result never depends on dictionary order.
- dawid_skene: the classic EM of Dawid & Skene (1979): each annotator has a confusion matrix (the probability of
  answering l when the truth is k) and the classes a prior; the E-step computes each item's posterior over classes, the
  M-step re-estimates the matrices and the prior from those posteriors. Started from the majority vote (soft counts), it
  learns that an annotator who agrees with nobody, or who answers the same class whatever the item, carries little
  information, which a majority cannot. A small smoothing count keeps every probability above zero.
- ranking_aggregate: several rankings of one item's answers into one order, by mean place (Borda count).
"""

import math
from collections import Counter, defaultdict

SMOOTHING = 0.01
MAX_ITERATIONS = 100
TOLERANCE = 1e-8


def reliability_from_gold(gold: dict) -> dict:
    """annotator -> reliability from {annotator: (correct, scored)} gold counts: (correct + 1) / (scored + 2), so an
    annotator without gold items counts 0.5 and one right on 9 of 9 counts 10/11."""
    return {annotator: (correct + 1) / (scored + 2) for annotator, (correct, scored) in gold.items()}


def majority_by_reliability(items: dict, reliability: dict | None = None) -> dict:
    """item -> the answer most annotators gave; ties by summed reliability (unknown annotators 0.5), then sort order."""
    reliability = reliability or {}
    result = {}
    for item, votes in items.items():
        if not votes:
            continue
        counts = Counter(answer for _, answer in votes)
        weight: dict = defaultdict(float)
        for annotator, answer in votes:
            weight[answer] += reliability.get(annotator, 0.5)
        result[item] = min(counts, key=lambda answer: (-counts[answer], -round(weight[answer], 12), answer))
    return result


def dawid_skene(items: dict, *, max_iterations: int = MAX_ITERATIONS, tolerance: float = TOLERANCE) -> dict:
    """Dawid–Skene EM over {item: [(annotator, answer), ...]}.

    Returns {"labels": item -> the most probable class (ties to the smallest in sort order), "posteriors": item ->
    {class: probability}, "confusion": annotator -> {truth: {answer: probability}}, "priors": {class: probability},
    "iterations": the EM rounds run}.
    """
    items = {item: votes for item, votes in items.items() if votes}
    classes = sorted({answer for votes in items.values() for _, answer in votes})
    annotators = sorted({annotator for votes in items.values() for annotator, _ in votes}, key=str)
    if not items:
        return {"labels": {}, "posteriors": {}, "confusion": {}, "priors": {}, "iterations": 0}
    # Start: each item's share of votes per class (the soft majority vote).
    posteriors = {}
    for item, votes in items.items():
        counts = Counter(answer for _, answer in votes)
        posteriors[item] = {k: counts[k] / len(votes) for k in classes}
    iterations = 0
    for iterations in range(1, max_iterations + 1):
        priors, confusion = _m_step(items, posteriors, classes, annotators)
        updated = _e_step(items, priors, confusion, classes)
        change = max(abs(updated[item][k] - posteriors[item][k]) for item in items for k in classes)
        posteriors = updated
        if change < tolerance:
            break
    priors, confusion = _m_step(items, posteriors, classes, annotators)
    labels = {item: min(classes, key=lambda k: (-round(p[k], 12), k)) for item, p in posteriors.items()}
    return {
        "labels": labels,
        "posteriors": posteriors,
        "confusion": confusion,
        "priors": priors,
        "iterations": iterations,
    }


def _m_step(items, posteriors, classes, annotators):
    totals = {k: sum(p[k] for p in posteriors.values()) for k in classes}
    priors = {k: totals[k] / len(items) for k in classes}
    counts = {a: {k: {l: SMOOTHING for l in classes} for k in classes} for a in annotators}
    for item, votes in items.items():
        for annotator, answer in votes:
            for k in classes:
                counts[annotator][k][answer] += posteriors[item][k]
    confusion = {}
    for annotator in annotators:
        confusion[annotator] = {}
        for k in classes:
            row_total = sum(counts[annotator][k].values())
            confusion[annotator][k] = {l: counts[annotator][k][l] / row_total for l in classes}
    return priors, confusion


def _e_step(items, priors, confusion, classes):
    posteriors = {}
    for item, votes in items.items():
        # Logs: a few dozen annotators' small probabilities would underflow as a product.
        logs = {
            k: math.log(max(priors[k], 1e-300)) + sum(math.log(confusion[a][k][answer]) for a, answer in votes)
            for k in classes
        }
        top = max(logs.values())
        weights = {k: math.exp(v - top) for k, v in logs.items()}
        total = sum(weights.values())
        posteriors[item] = {k: w / total for k, w in weights.items()}
    return posteriors


def mean_places(rankings: list[list]) -> dict:
    """answer -> its mean place (0 = best) over several rankings of the same answers (each best first); an answer
    missing from a ranking takes the place after that ranking's last."""
    answers = list(dict.fromkeys(answer for ranking in rankings for answer in ranking))
    places = dict.fromkeys(answers, 0.0)
    for ranking in rankings:
        place = {answer: i for i, answer in enumerate(ranking)}
        for answer in answers:
            places[answer] += place.get(answer, len(ranking))
    return {answer: total / len(rankings) for answer, total in places.items()}


def ranking_aggregate(rankings: list[list]) -> list:
    """One order from several rankings of the same answers (each best first): by mean place (the Borda count), a tie
    going to the answer ranked first more often, then to the answer first seen in the first ranking."""
    return _order(rankings, mean_places(rankings)) if rankings else []


def ranking_pairs(rankings: list[list]) -> list[tuple]:
    """(better, worse) for every two answers in the aggregated order (ranking_aggregate), best pairs first; two answers
    with the same mean place make no pair (the annotators prefer neither)."""
    if not rankings:
        return []
    places = mean_places(rankings)
    order = _order(rankings, places)
    return [
        (better, worse) for i, better in enumerate(order) for worse in order[i + 1 :] if places[better] != places[worse]
    ]


def _order(rankings: list[list], places: dict) -> list:
    seen = {answer: i for i, answer in enumerate(places)}
    firsts = Counter(ranking[0] for ranking in rankings if ranking)
    return sorted(places, key=lambda a: (places[a], -firsts[a], seen[a]))

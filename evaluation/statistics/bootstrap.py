"""Paired bootstrap between two arms over the same prompts: an interval for the difference of a metric and a p-value.

Each round draws the prompts with replacement (the same draw for both arms, which is what makes it paired) and
recomputes the metric of each arm; numpy draws every round at once, in chunks that bound the memory. A metric is either
a mean of per-prompt values (exact match, accuracy, ROUGE-L, a rating) or a function of summed per-prompt statistics
(corpus BLEU from its n-gram counts, macro F1 from per-class counts), vectorised over rounds.

The p-value is two-sided, from the bootstrap distribution shifted to the null (Efron and Tibshirani, 1993, §16.4): the
share of rounds whose difference lies at least as far from the observed difference as the observed difference lies
from zero, (1 + count) / (1 + rounds). See docs/reference.md, "Significance between arms".
"""

from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np

BOOTSTRAP_RESAMPLES = 10_000
CHUNK_CELLS = 4_000_000  # rounds x prompts x statistics drawn at a time


@dataclass(frozen=True)
class PairedDifference:
    n: int  # prompts
    candidate: float | None
    baseline: float | None
    difference: float | None  # candidate minus baseline
    low: float | None
    high: float | None
    p_value: float | None

    def as_dict(self) -> dict:
        return asdict(self)


Summarise = Callable[[np.ndarray], np.ndarray]  # (rounds, statistics) summed → (rounds,) metric


def _mean_of(sums: np.ndarray, n: int) -> np.ndarray:
    return sums[:, 0] / n


def paired_bootstrap(candidate, baseline, *, summarise: Summarise | None = None, rounds: int = BOOTSTRAP_RESAMPLES,
                     seed: int = 0, confidence: float = 0.95) -> PairedDifference:
    """The paired bootstrap of candidate minus baseline over prompts.

    `candidate` and `baseline` are per-prompt values (shape (n,)) or per-prompt statistics (shape (n, k)) in the same
    prompt order; with statistics, `summarise` turns column sums of shape (rounds, k) into the metric. Without it the
    metric is the mean. The interval is the percentile interval at `confidence`; `seed` makes the draw repeatable.
    """
    cand = np.asarray(candidate, dtype=float)
    base = np.asarray(baseline, dtype=float)
    if cand.shape != base.shape:
        raise ValueError(f"candidate statistics {cand.shape} and baseline statistics {base.shape} differ in shape")
    n = cand.shape[0]
    if n == 0:
        return PairedDifference(0, None, None, None, None, None, None)
    if cand.ndim == 1:
        cand, base = cand[:, None], base[:, None]
    metric = summarise or (lambda sums: _mean_of(sums, n))
    observed_c = float(metric(cand.sum(axis=0)[None, :])[0])
    observed_b = float(metric(base.sum(axis=0)[None, :])[0])
    observed = observed_c - observed_b
    joined = np.concatenate([cand, base], axis=1)
    k = cand.shape[1]
    rng = np.random.default_rng(seed)
    chunk = max(1, CHUNK_CELLS // (n * joined.shape[1]))
    differences = np.empty(rounds)
    for start in range(0, rounds, chunk):
        size = min(chunk, rounds - start)
        sums = joined[rng.integers(0, n, size=(size, n))].sum(axis=1)
        differences[start:start + size] = metric(sums[:, :k]) - metric(sums[:, k:])
    tail = (1 - confidence) / 2
    low, high = np.quantile(differences, [tail, 1 - tail])
    extreme = np.count_nonzero(np.abs(differences - observed) >= abs(observed) - 1e-12) if observed else rounds
    p_value = min(1.0, (1 + extreme) / (1 + rounds))
    return PairedDifference(n, observed_c, observed_b, observed, float(low), float(high), p_value)


def bleu_from_sums(sums: np.ndarray) -> np.ndarray:
    """sacrebleu's corpus BLEU (4-grams, "exp" smoothing, its default) from summed statistics, one row per round:
    columns hypothesis length, reference length, correct 1..4-grams, total 1..4-grams (sacrebleu's segment order)."""
    sys_len, ref_len = sums[:, 0], sums[:, 1]
    correct, total = sums[:, 2:6], sums[:, 6:10]
    with np.errstate(divide="ignore", invalid="ignore"):
        brevity = np.where(sys_len < ref_len, np.where(sys_len > 0, np.exp(1 - ref_len / np.maximum(sys_len, 1)), 0.0),
                           1.0)
        smoothing = np.cumprod(np.where(correct == 0, 2.0, 1.0), axis=1)
        precision = np.where(correct > 0, 100.0 * correct / total, 100.0 / (smoothing * total))
        score = brevity * np.exp(np.log(precision).mean(axis=1))
    broken = (total == 0).any(axis=1) | ~(correct > 0).any(axis=1)
    return np.where(broken, 0.0, score)


def macro_f1_from_sums(sums: np.ndarray) -> np.ndarray:
    """Macro F1 from summed per-class counts laid out as [tp_1, fp_1, fn_1, tp_2, ...], one row per round; a class
    with no true, predicted or gold item in a round is left out of that round's mean (as scikit-learn leaves out labels
    absent from both lists)."""
    counts = sums.reshape(sums.shape[0], -1, 3)
    tp, fp, fn = counts[:, :, 0], counts[:, :, 1], counts[:, :, 2]
    denominator = 2 * tp + fp + fn
    present = denominator > 0
    f1 = np.divide(2 * tp, denominator, out=np.zeros_like(denominator, dtype=float), where=present)
    classes = present.sum(axis=1)
    return np.divide(f1.sum(axis=1), classes, out=np.zeros(len(classes)), where=classes > 0)

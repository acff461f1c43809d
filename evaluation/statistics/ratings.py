"""Statistics of blind 1–5 rating studies: pure functions, no database.

The unit of analysis is the prompt. An arm's score on a prompt is the mean of the counted ratings of its answer to that
prompt (one or more raters); an arm's mean is the mean of those per-prompt scores, with a Student-t interval over
prompts; two arms are compared on the prompts both were rated on, paired by prompt, with the Wilcoxon signed-rank test
and the paired t-test (scipy.stats.wilcoxon, scipy.stats.ttest_rel). Agreement between raters is Krippendorff's ordinal
alpha (common.statistics, the one implementation). See docs/reference.md, "Rating studies".
"""

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

from scipy import stats

from common.statistics import krippendorff_alpha

SCORE_MIN, SCORE_MAX = 1, 5


@dataclass(frozen=True)
class MeanInterval:
    n: int  # prompts
    mean: float | None
    low: float | None
    high: float | None

    def as_dict(self) -> dict:
        return asdict(self)


def mean_interval(values: Sequence[float], *, confidence: float = 0.95) -> MeanInterval:
    """The mean of `values` and its two-sided Student-t interval at `confidence`; the interval is the mean itself for
    one value or no spread, and everything is None for none."""
    n = len(values)
    if n == 0:
        return MeanInterval(0, None, None, None)
    mean = math.fsum(values) / n
    if n == 1:
        return MeanInterval(1, mean, mean, mean)
    variance = math.fsum((v - mean) ** 2 for v in values) / (n - 1)
    half = float(stats.t.ppf(0.5 + confidence / 2, n - 1)) * math.sqrt(variance / n)
    return MeanInterval(n, mean, max(float(SCORE_MIN), mean - half) if half else mean,
                        min(float(SCORE_MAX), mean + half) if half else mean)


@dataclass(frozen=True)
class PairedTests:
    n: int  # prompts rated for both arms
    mean_difference: float | None  # candidate minus baseline
    wilcoxon_p: float | None
    t_test_p: float | None

    def as_dict(self) -> dict:
        return asdict(self)


def paired_tests(candidate: Sequence[float], baseline: Sequence[float]) -> PairedTests:
    """Wilcoxon signed-rank (zero differences dropped, scipy's default "wilcox"; exact or normal approximation as scipy
    chooses) and the paired t-test, both two-sided, over per-prompt scores given in the same prompt order. A p-value is
    1.0 when every difference is zero (no evidence of any difference) and None with fewer than two prompts."""
    if len(candidate) != len(baseline):
        raise ValueError(f"{len(candidate)} candidate scores for {len(baseline)} baseline scores")
    n = len(candidate)
    if n == 0:
        return PairedTests(0, None, None, None)
    differences = [c - b for c, b in zip(candidate, baseline)]
    mean_difference = math.fsum(differences) / n
    if n < 2:
        return PairedTests(n, mean_difference, None, None)
    if all(d == 0 for d in differences):
        return PairedTests(n, 0.0, 1.0, 1.0)
    wilcoxon_p = float(stats.wilcoxon(candidate, baseline).pvalue)
    if len(set(differences)) == 1:
        t_test_p = 0.0  # a constant non-zero difference: no spread, the t statistic is infinite
    else:
        t_test_p = float(stats.ttest_rel(candidate, baseline).pvalue)
    return PairedTests(n, mean_difference, wilcoxon_p, t_test_p)


def prompt_scores(ratings: Sequence[tuple[int, int, int]]) -> dict[tuple[int, int], float]:
    """(prompt, arm) → the mean score, from (prompt, arm, score) triples."""
    sums: dict[tuple[int, int], list[float]] = {}
    for prompt, arm, score in ratings:
        total = sums.setdefault((prompt, arm), [0.0, 0])
        total[0] += score
        total[1] += 1
    return {key: total / count for key, (total, count) in sums.items()}


def paired_by_prompt(scores: Mapping[tuple[int, int], float], *, candidate: int, baseline: int,
                     prompts: Sequence[int] | None = None) -> tuple[list[float], list[float]]:
    """The two arms' per-prompt scores over the prompts (all, or `prompts`) where both were rated, in prompt order."""
    keys = sorted({p for p, _ in scores} if prompts is None else set(prompts))
    pairs = [(scores[p, candidate], scores[p, baseline]) for p in keys
             if (p, candidate) in scores and (p, baseline) in scores]
    return [c for c, _ in pairs], [b for _, b in pairs]


def rating_alpha(units: Sequence[Sequence[int]]) -> float | None:
    """Krippendorff's ordinal alpha over rated answers (units: each answer's scores by its raters)."""
    return krippendorff_alpha(units, level="ordinal")

"""Accuracy per subject with Wilson intervals, and the paired change between two models on the same items.

The paired change is McNemar's test on the discordant items: `lost` (the baseline right, the candidate wrong) and
`gained` (the other way). Exact two-sided binomial p when there are fewer than EXACT_BELOW discordant items, else
the chi-square statistic with Edwards' continuity correction, (|lost − gained| − 1)² / (lost + gained), on 1 degree
of freedom. A subject (or the whole set) has *regressed* when the candidate's accuracy is lower than the baseline's
by more than the tolerance AND the drop is significant (p < ALPHA); a drop beyond the tolerance that is not
significant is reported as "not conclusive", not as a regression.
"""

from dataclasses import asdict, dataclass

from scipy.stats import binom, chi2

# Wilson's interval lives in evaluation.statistics today (it moves to common.statistics).
from common.statistics import wilson_interval

EXACT_BELOW = 25
ALPHA = 0.05


def mcnemar_p(lost: int, gained: int) -> float:
    """Two-sided p of McNemar's test for `lost` and `gained` discordant pairs (see the module docstring)."""
    n = lost + gained
    if n == 0:
        return 1.0
    if n < EXACT_BELOW:
        return float(min(1.0, 2.0 * binom.cdf(min(lost, gained), n, 0.5)))
    statistic = (abs(lost - gained) - 1) ** 2 / n
    return float(chi2.sf(statistic, 1))


@dataclass(frozen=True)
class SubjectResult:
    subject: str
    items: int
    baseline_correct: int
    baseline_accuracy: float
    baseline_low: float
    baseline_high: float
    candidate_correct: int | None = None
    candidate_accuracy: float | None = None
    candidate_low: float | None = None
    candidate_high: float | None = None
    change: float | None = None       # candidate − baseline accuracy
    lost: int | None = None           # baseline right, candidate wrong
    gained: int | None = None         # baseline wrong, candidate right
    p_value: float | None = None
    exact: bool | None = None         # the exact binomial was used
    verdict: str = ""                 # "regressed", "not_conclusive", "kept" (or "" without a candidate)

    def as_dict(self) -> dict:
        return asdict(self)


def subject_result(subject: str, pairs: list[tuple[bool, bool | None]], *, tolerance: float) -> SubjectResult:
    """`pairs`: (baseline correct, candidate correct or None) per item, over the same items."""
    n = len(pairs)
    base = sum(1 for b, _ in pairs if b)
    low, high = wilson_interval(base, n)
    result = dict(
        subject=subject,
        items=n,
        baseline_correct=base,
        baseline_accuracy=base / n,
        baseline_low=low,
        baseline_high=high,
    )
    if pairs and all(c is not None for _, c in pairs):
        cand = sum(1 for _, c in pairs if c)
        lost = sum(1 for b, c in pairs if b and not c)
        gained = sum(1 for b, c in pairs if c and not b)
        c_low, c_high = wilson_interval(cand, n)
        change = (cand - base) / n
        p = mcnemar_p(lost, gained)
        if change < -tolerance - 1e-12:
            verdict = "regressed" if p < ALPHA else "not_conclusive"
        else:
            verdict = "kept"
        result.update(
            candidate_correct=cand,
            candidate_accuracy=cand / n,
            candidate_low=c_low,
            candidate_high=c_high,
            change=change,
            lost=lost,
            gained=gained,
            p_value=p,
            exact=lost + gained < EXACT_BELOW,
            verdict=verdict,
        )
    return SubjectResult(**result)


def results_by_subject(
    rows: list[tuple[str, bool, bool | None]], *, tolerance: float
) -> tuple[list[SubjectResult], SubjectResult | None]:
    """Per-subject results (in first-seen order) and the overall result, from (subject, baseline, candidate) rows."""
    by_subject: dict[str, list[tuple[bool, bool | None]]] = {}
    for subject, base, cand in rows:
        by_subject.setdefault(subject, []).append((base, cand))
    subjects = [subject_result(s, pairs, tolerance=tolerance) for s, pairs in by_subject.items()]
    overall = subject_result("", [(b, c) for _, b, c in rows], tolerance=tolerance) if rows else None
    return subjects, overall

"""Blind pairwise statistics: pure functions, no database (docs/reference.md §3).

A two-arm study reduces to a tally of votes from the candidate's point of view: wins (candidate preferred),
losses (baseline preferred), ties and "both bad". The headline figure is the tie-half support rate,
(wins + ties/2) / votes with "both bad" counted as a tie, shown with its Wilson 95% interval beside the raw
rates wins/votes and wins/decisive, and an exact sign test on the decisive votes.

Verdict bands (from the project brief) and when each is claimed, checked in this order on the interval [low, high]:

    damaged             high < 50%                      the fine-tune made the model worse
    marked improvement  low > 80%
    success             low > 70%
    not good enough     low > 50% and high < 70%       better than the baseline, but below the 70% bar
    no progress         40% <= low and high <= 60%     "about 50%": within ten points either way
    otherwise           not yet conclusive, with the number of further votes that would settle the band the
                        current rate leans towards (assuming the rate stays where it is).
"""

import ctypes
import glob
import math
import os
from contextlib import contextmanager
from dataclasses import asdict, dataclass

import numpy as np
from django.utils.translation import gettext, ngettext
from scipy.optimize import minimize
from scipy.special import expit, log_expit

Z_95 = 1.959963984540054  # the two-sided 95% normal quantile

DAMAGED = "damaged"
NO_PROGRESS = "no_progress"
NOT_GOOD_ENOUGH = "not_good_enough"
SUCCESS = "success"
MARKED_IMPROVEMENT = "marked_improvement"
INCONCLUSIVE = "inconclusive"

# No study needs more votes than this to settle; beyond it the rate sits on a band edge.
VOTES_SEARCH_LIMIT = 1_000_000


@dataclass(frozen=True)
class Tally:
    """Votes on (baseline, candidate) comparisons, counted from the candidate's side."""

    wins: int = 0
    losses: int = 0
    ties: int = 0
    both_bad: int = 0

    @property
    def votes(self) -> int:
        return self.wins + self.losses + self.ties + self.both_bad

    @property
    def decisive(self) -> int:
        return self.wins + self.losses


@dataclass(frozen=True)
class Verdict:
    band: str  # one of the band constants above; INCONCLUSIVE when the interval claims no band
    leaning: str | None  # the band the point estimate falls in, when not conclusive
    is_conclusive: bool
    votes_needed: int | None  # further votes that would settle `leaning`, if the rate held; None when unknown
    text: str


@dataclass(frozen=True)
class Summary:
    wins: int
    losses: int
    ties: int
    both_bad: int
    votes: int
    decisive: int
    support_rate: float | None  # (wins + ties/2) / votes, both_bad counted as a tie
    win_rate: float | None  # wins / votes
    decisive_win_rate: float | None  # wins / decisive
    interval_low: float | None  # Wilson 95% on the support rate
    interval_high: float | None
    sign_test_p: float | None  # exact two-sided, on decisive votes
    verdict: Verdict

    def as_dict(self) -> dict:
        return asdict(self)


def support_rate(tally: Tally) -> float | None:
    """Tie-half support rate; None without votes."""
    if tally.votes == 0:
        return None
    return (tally.wins + (tally.ties + tally.both_bad) / 2) / tally.votes


def wilson_interval(successes: float, n: int, *, z: float = Z_95) -> tuple[float, float]:
    """Wilson score interval for a proportion. `successes` may be fractional (ties count half).

    Precondition: 0 <= successes <= n and n > 0.
    """
    if n <= 0:
        raise ValueError("the Wilson interval needs at least one observation")
    p = successes / n
    z2 = z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def sign_test_p(wins: int, losses: int) -> float:
    """Exact two-sided sign test: the chance, under no preference, of a split at least this lopsided.

    Ties are excluded by the caller. With no decisive votes the answer is 1.
    """
    n = wins + losses
    if n == 0:
        return 1.0
    k = min(wins, losses)
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2**n
    return min(1.0, 2 * tail)


def band_claimed(low: float, high: float) -> str:
    """The band the interval supports, or INCONCLUSIVE."""
    if high < 0.5:
        return DAMAGED
    if low > 0.8:
        return MARKED_IMPROVEMENT
    if low > 0.7:
        return SUCCESS
    if low > 0.5 and high < 0.7:
        return NOT_GOOD_ENOUGH
    if low >= 0.4 and high <= 0.6:
        return NO_PROGRESS
    return INCONCLUSIVE


def band_leaning(rate: float) -> str:
    """The band a point estimate falls in ("about 50%" is 45–55%)."""
    if rate < 0.45:
        return DAMAGED
    if rate <= 0.55:
        return NO_PROGRESS
    if rate < 0.7:
        return NOT_GOOD_ENOUGH
    if rate <= 0.8:
        return SUCCESS
    return MARKED_IMPROVEMENT


def _band_settled(band: str, low: float, high: float) -> bool:
    # Each test is monotone in the number of votes at a fixed rate, which the binary search below relies on.
    return {
        DAMAGED: high < 0.5,
        NO_PROGRESS: low >= 0.4 and high <= 0.6,
        NOT_GOOD_ENOUGH: low > 0.5 and high < 0.7,
        SUCCESS: low > 0.7,
        MARKED_IMPROVEMENT: low > 0.8,
    }[band]


def votes_to_settle(rate: float, votes: int, band: str) -> int | None:
    """How many more votes, at the same rate, until the interval claims `band`; None if no number would."""
    def settled(n: int) -> bool:
        return _band_settled(band, *wilson_interval(rate * n, n))

    if not settled(VOTES_SEARCH_LIMIT):
        return None
    low, high = votes + 1, VOTES_SEARCH_LIMIT
    while low < high:
        middle = (low + high) // 2
        if settled(middle):
            high = middle
        else:
            low = middle + 1
    return low - votes


def band_label(band: str) -> str:
    return {
        DAMAGED: gettext("the fine-tune damaged the model"),
        NO_PROGRESS: gettext("no progress"),
        NOT_GOOD_ENOUGH: gettext("better, but not good enough"),
        SUCCESS: gettext("a success"),
        MARKED_IMPROVEMENT: gettext("a marked improvement"),
        INCONCLUSIVE: gettext("not yet conclusive"),
    }[band]


def verdict_for(rate: float | None, low: float | None, high: float | None, votes: int) -> Verdict:
    if rate is None or low is None or high is None:
        return Verdict(INCONCLUSIVE, None, False, None, gettext("not yet conclusive — no votes yet"))
    band = band_claimed(low, high)
    if band != INCONCLUSIVE:
        return Verdict(band, None, True, 0, band_label(band))
    leaning = band_leaning(rate)
    needed = votes_to_settle(rate, votes, leaning)
    if needed is None:
        text = gettext("not yet conclusive — the rate sits on the edge of a band; more votes alone may not settle it")
    else:
        text = ngettext("not yet conclusive — about %(n)d more vote would settle it",
                        "not yet conclusive — about %(n)d more votes would settle it", needed) % {"n": needed}
    return Verdict(INCONCLUSIVE, leaning, False, needed, text)


def summarize(tally: Tally) -> Summary:
    """Every figure a two-arm result shows, from one tally."""
    rate = support_rate(tally)
    low = high = None
    if tally.votes:
        low, high = wilson_interval(tally.wins + (tally.ties + tally.both_bad) / 2, tally.votes)
    return Summary(
        wins=tally.wins,
        losses=tally.losses,
        ties=tally.ties,
        both_bad=tally.both_bad,
        votes=tally.votes,
        decisive=tally.decisive,
        support_rate=rate,
        win_rate=tally.wins / tally.votes if tally.votes else None,
        decisive_win_rate=tally.wins / tally.decisive if tally.decisive else None,
        interval_low=low,
        interval_high=high,
        sign_test_p=sign_test_p(tally.wins, tally.losses) if tally.decisive else None,
        verdict=verdict_for(rate, low, high, tally.votes),
    )


# ---------------------------------------------------------------------------------------------------------------
# Beyond one tally: numpy/scipy estimators over individual votes. Every vote here is a soft label from the point of
# view of one side: 1 = that side preferred, 0 = the other side preferred, 0.5 = tie or "both bad".
# ---------------------------------------------------------------------------------------------------------------

WIN, LOSS, TIE, BOTH_BAD = "win", "loss", "tie", "both_bad"
OUTCOME_SCORE = {WIN: 1.0, LOSS: 0.0, TIE: 0.5, BOTH_BAD: 0.5}

BOOTSTRAP_ROUNDS = 1000
BT_BOOTSTRAP_ROUNDS = 200
BT_PRIOR = 0.01  # L2 on natural-log strengths: keeps a never-winning model finite, negligible beyond a few votes
BT_BOOTSTRAP_TOLERANCE = 1e-8
ELO_SCALE = 400 / math.log(10)  # natural-log strength → Elo points
ELO_BASE = 1000.0


def tally_of(outcomes) -> Tally:
    """Count outcomes ("win", "loss", "tie", "both_bad") into a Tally."""
    counts = {WIN: 0, LOSS: 0, TIE: 0, BOTH_BAD: 0}
    for outcome in outcomes:
        counts[outcome] += 1
    return Tally(wins=counts[WIN], losses=counts[LOSS], ties=counts[TIE], both_bad=counts[BOTH_BAD])


def _groups(keys) -> np.ndarray:
    """Dense group numbers 0..G-1 for arbitrary hashable keys, in first-seen order."""
    numbers: dict = {}
    return np.fromiter((numbers.setdefault(key, len(numbers)) for key in keys), dtype=np.int64, count=len(keys))


def bootstrap_support_interval(prompts, scores, *, rounds: int = BOOTSTRAP_ROUNDS, seed: int = 0,
                               level: float = 0.95) -> tuple[float, float] | None:
    """Percentile interval of the tie-half support rate, resampling PROMPTS with all their votes.

    `prompts[i]` names the prompt of vote i and `scores[i]` is its soft label for the candidate. Votes on one prompt
    are correlated (several raters, one pair of answers), so a vote-level resample would be too narrow.
    None without votes. Seeded: the same input gives the same interval.
    """
    scores = np.asarray(scores, dtype=np.float64)
    if scores.size == 0:
        return None
    group = _groups(list(prompts))
    sums = np.bincount(group, weights=scores)
    sizes = np.bincount(group).astype(np.float64)
    n = sums.size
    rng = np.random.default_rng(seed)
    # A multinomial draw per round gives how often each prompt was picked: the same as sampling n prompts with replacement.
    picks = rng.multinomial(n, np.full(n, 1.0 / n), size=rounds).astype(np.float64)
    rates = (picks @ sums) / (picks @ sizes)
    tail = (1 - level) / 2
    low, high = np.quantile(rates, [tail, 1 - tail])
    return float(low), float(high)


def label_breakdown(labels, outcomes) -> dict[str, Summary]:
    """Every two-arm figure per label (e.g. per category a rater chose), labels sorted; unlabelled votes ("") skipped."""
    by_label: dict[str, list[str]] = {}
    for label, outcome in zip(labels, outcomes):
        if label:
            by_label.setdefault(label, []).append(outcome)
    return {label: summarize(tally_of(by_label[label])) for label in sorted(by_label)}


@dataclass(frozen=True)
class Agreement:
    items: int  # items judged by two or more raters
    pairs: int  # rater pairs on the same item
    agreement: float | None  # share of pairs choosing the same outcome (tie and both bad as one)
    decisive_pairs: int  # pairs where both raters picked a side
    decisive_agreement: float | None  # share of those picking the same side
    alpha: float | None  # Krippendorff's alpha, nominal, over win / loss / tie

    def as_dict(self) -> dict:
        return asdict(self)


def rater_agreement(items, outcomes) -> Agreement:
    """How often raters agree on the same comparison: pairwise agreement with and without ties, and Krippendorff's α.

    `items[i]` names the comparison of vote i, `outcomes[i]` is its outcome from one fixed side. "both bad" counts as
    a tie, as in the support rate. Items with a single vote carry no agreement and are left out.
    Human–human agreement in the MT-Bench study was 63–67% with ties and 81–82% without.
    """
    category = {WIN: 0, LOSS: 1, TIE: 2, BOTH_BAD: 2}
    counts: dict = {}
    for item, outcome in zip(items, outcomes):
        counts.setdefault(item, np.zeros(3))[category[outcome]] += 1
    table = np.array([c for c in counts.values() if c.sum() >= 2]).reshape(-1, 3)
    if table.shape[0] == 0:
        return Agreement(0, 0, None, 0, None, None)
    per_item = table.sum(axis=1)
    pairs = float((per_item * (per_item - 1) / 2).sum())
    agreeing = float((table * (table - 1) / 2).sum())
    decisive = table[:, :2]
    decisive_pairs = float((decisive.sum(axis=1) * (decisive.sum(axis=1) - 1) / 2).sum())
    decisive_agreeing = float((decisive * (decisive - 1) / 2).sum())
    # Krippendorff's α (nominal) from the coincidence matrix: 1 − observed / expected disagreement.
    pairable = per_item.sum()
    observed_agreement = (table * (table - 1) / (per_item - 1)[:, None]).sum()
    marginals = table.sum(axis=0)
    expected_agreement = (marginals * (marginals - 1)).sum() / (pairable - 1)
    disagreement_observed = pairable - observed_agreement
    disagreement_expected = pairable - expected_agreement
    alpha = None if disagreement_expected == 0 else float(1 - disagreement_observed / disagreement_expected)
    return Agreement(
        items=int(table.shape[0]), pairs=int(pairs), agreement=agreeing / pairs,
        decisive_pairs=int(decisive_pairs), decisive_agreement=decisive_agreeing / decisive_pairs if decisive_pairs else None,
        alpha=alpha,
    )


@dataclass(frozen=True)
class LengthControl:
    votes: int
    raw_rate: float | None  # the tie-half support rate as voted
    controlled_rate: float | None  # the rate a logistic fit predicts at equal length
    length_coefficient: float | None  # log-odds per standard deviation of length difference (candidate − baseline)
    unequal_votes: int  # votes where the two answers differ in length
    longer_won_rate: float | None  # tie-half share of those votes that went to the longer answer

    def as_dict(self) -> dict:
        return asdict(self)


def length_controlled_rate(scores, length_differences) -> LengthControl:
    """Support rate with answer length controlled for, and how often the longer answer won.

    Fits P(candidate preferred) = σ(a + b·z) to the soft labels by maximum likelihood, z being the candidate's length
    minus the baseline's, standardised; the controlled rate is σ(a), the rate at zero difference. A tiny ridge on both
    coefficients keeps the fit finite when length separates the votes perfectly. None figures without votes.
    """
    y = np.asarray(scores, dtype=np.float64)
    d = np.asarray(length_differences, dtype=np.float64)
    if y.size == 0:
        return LengthControl(0, None, None, None, 0, None)
    raw = float(y.mean())
    unequal = d != 0
    longer_scores = np.where(d[unequal] > 0, y[unequal], 1 - y[unequal])
    longer = float(longer_scores.mean()) if longer_scores.size else None
    spread = d.std()
    z = (d - d.mean()) / spread if spread > 0 else np.zeros_like(d)
    # z is centred, so "zero difference" sits at z0 = −mean/std, not at z = 0.
    z0 = -d.mean() / spread if spread > 0 else 0.0

    def loss(theta):
        a, b = theta
        eta = a + b * z
        value = -(y * log_expit(eta) + (1 - y) * log_expit(-eta)).mean() + 1e-6 * (a * a + b * b)
        residual = expit(eta) - y
        return value, np.array([residual.mean() + 2e-6 * a, (residual * z).mean() + 2e-6 * b])

    fit = minimize(loss, np.zeros(2), jac=True, method="L-BFGS-B", options={"gtol": 1e-10, "ftol": 1e-14})
    a, b = fit.x
    return LengthControl(
        votes=int(y.size), raw_rate=raw, controlled_rate=float(expit(a + b * z0)),
        length_coefficient=float(b) if spread > 0 else None, unequal_votes=int(unequal.sum()), longer_won_rate=longer,
    )


# --- Bradley–Terry ----------------------------------------------------------------------------------------------

def _scipy_openblas():
    """scipy's bundled OpenBLAS (which L-BFGS-B calls), or None when this scipy build has none we can reach."""
    import scipy

    for path in glob.glob(os.path.join(os.path.dirname(scipy.__file__), os.pardir, "scipy.libs", "libscipy_openblas*.so*")):
        try:
            library = ctypes.CDLL(path)
            library.scipy_openblas_get_num_threads, library.scipy_openblas_set_num_threads  # noqa: B018 (both must exist)
        except (OSError, AttributeError):
            continue
        return library
    return None


_OPENBLAS = _scipy_openblas()


@contextmanager
def blas_single_thread():
    """Run the block with scipy's OpenBLAS on one thread. An L-BFGS step on a few dozen parameters is tiny, and waking
    the BLAS thread pool for it costs more than the step (measured: 200 bootstrap fits 1.2 s on one thread, 2.6 s on two).
    """
    if _OPENBLAS is None:
        yield
        return
    before = _OPENBLAS.scipy_openblas_get_num_threads()
    _OPENBLAS.scipy_openblas_set_num_threads(1)
    try:
        yield
    finally:
        _OPENBLAS.scipy_openblas_set_num_threads(before)


def _soft_win_matrix(first, second, scores, weights, n_models: int) -> np.ndarray:
    """W[i, j] = weighted soft wins of model i over model j."""
    flat = n_models * n_models
    wins = np.bincount(first * n_models + second, weights=weights * scores, minlength=flat)
    wins += np.bincount(second * n_models + first, weights=weights * (1 - scores), minlength=flat)
    return wins.reshape(n_models, n_models)


def bradley_terry_fit(wins: np.ndarray, *, prior: float = BT_PRIOR, start: np.ndarray | None = None,
                      tolerance: float = 1e-12) -> np.ndarray:
    """Natural-log strengths β (mean 0) maximising Σ W[i,j]·log σ(β_i − β_j) − prior/2·Σβ², by L-BFGS.

    `wins` is the soft win matrix (ties as half a win to each side). With prior 0 the MLE exists only when the
    comparison graph is strongly connected (every model wins and loses somewhere); with a positive prior it always does.
    `start` warm-starts the search (bootstrap rounds start from the point fit); `tolerance` bounds the per-vote gradient.
    """
    n = wins.shape[0]
    games = wins + wins.T
    total = max(games.sum() / 2, 1.0)
    won = wins.sum(axis=1)

    def objective(beta):
        delta = beta[:, None] - beta[None, :]
        value = -(wins * log_expit(delta)).sum() + prior / 2 * (beta @ beta)
        gradient = -(won - (games * expit(delta)).sum(axis=1)) + prior * beta
        return value / total, gradient / total  # per-vote scale, so one tolerance fits every study size

    fit = minimize(objective, np.zeros(n) if start is None else start, jac=True, method="L-BFGS-B",
                   options={"gtol": tolerance, "ftol": 1e-15, "maxiter": 10_000, "maxcor": 20})
    return fit.x - fit.x.mean()


def elo_from_strengths(beta: np.ndarray) -> np.ndarray:
    """Elo-scale ratings: P(A beats B) = σ(ln10·(r_A − r_B)/400), the average model at 1000."""
    return beta * ELO_SCALE + ELO_BASE


@dataclass(frozen=True)
class Rating:
    model: object
    rating: float  # Elo scale
    low: float  # bootstrap 95% interval
    high: float
    rank: int  # 1 + the number of models whose lower bound exceeds this model's upper bound
    votes: int  # votes this model took part in

    def as_dict(self) -> dict:
        return asdict(self)


def bradley_terry_ratings(first, second, scores, *, prompts=None, weights=None, rounds: int = BT_BOOTSTRAP_ROUNDS,
                          seed: int = 0, prior: float = BT_PRIOR, models=None) -> list[Rating]:
    """Bradley–Terry ratings on the Elo scale with bootstrap intervals and ranks, best first.

    Vote i compares `first[i]` with `second[i]` (any hashable model names); `scores[i]` is 1 when the first won, 0 when
    the second won, 0.5 for a tie. The bootstrap resamples `prompts` (votes sharing a prompt move together; each vote
    its own prompt when None). `models` fixes the model list (a model without votes then rates 1000 by the prior).
    """
    names = list(models) if models is not None else list(dict.fromkeys([*first, *second]))
    position = {name: i for i, name in enumerate(names)}
    a = np.fromiter((position[x] for x in first), dtype=np.int64, count=len(first))
    b = np.fromiter((position[x] for x in second), dtype=np.int64, count=len(second))
    y = np.asarray(scores, dtype=np.float64)
    w = np.ones_like(y) if weights is None else np.asarray(weights, dtype=np.float64)
    n = len(names)
    if n == 0:
        return []
    group = np.arange(y.size) if prompts is None else _groups(list(prompts))
    groups = int(group.max()) + 1 if y.size else 0
    rng = np.random.default_rng(seed)
    samples = np.empty((rounds, n))
    with blas_single_thread():
        beta = bradley_terry_fit(_soft_win_matrix(a, b, y, w, n), prior=prior)
        point = elo_from_strengths(beta)
        for r in range(rounds):
            picks = rng.multinomial(groups, np.full(groups, 1.0 / groups)).astype(np.float64) if groups else np.zeros(0)
            # A looser tolerance than the point fit: 1e-8 per vote moves a rating by far less than an interval's width.
            wins = _soft_win_matrix(a, b, y, w * picks[group], n)
            samples[r] = elo_from_strengths(bradley_terry_fit(wins, prior=prior, start=beta, tolerance=BT_BOOTSTRAP_TOLERANCE))
    low, high = (np.quantile(samples, [0.025, 0.975], axis=0) if rounds else (point, point))
    votes = np.bincount(a, minlength=n) + np.bincount(b, minlength=n)
    ratings = [Rating(model=names[i], rating=float(point[i]), low=float(low[i]), high=float(high[i]),
                      rank=1 + int((low > high[i]).sum()), votes=int(votes[i])) for i in range(n)]
    return sorted(ratings, key=lambda r: (-r.rating, str(r.model)))

"""Bradley–Terry ratings of several models from pairwise votes, on the Elo scale, with prompt-level bootstrap
intervals and ranks (docs/reference.md, blind pairwise statistics)."""

import ctypes
import glob
import math
import os
from contextlib import contextmanager
from dataclasses import asdict, dataclass

import numpy as np
from scipy.optimize import minimize
from scipy.special import expit, log_expit

from evaluation.statistics.votes import groups_of

BT_BOOTSTRAP_ROUNDS = 200
BT_PRIOR = 0.01  # L2 on natural-log strengths: keeps a never-winning model finite, negligible beyond a few votes
BT_BOOTSTRAP_TOLERANCE = 1e-8
ELO_SCALE = 400 / math.log(10)  # natural-log strength → Elo points
ELO_BASE = 1000.0


def _scipy_openblas():
    """scipy's bundled OpenBLAS (which L-BFGS-B calls), or None when this scipy build has none we can reach."""
    import scipy

    for path in glob.glob(
        os.path.join(os.path.dirname(scipy.__file__), os.pardir, "scipy.libs", "libscipy_openblas*.so*")
    ):
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
    the BLAS thread pool for it costs more than the step (measured: 200 bootstrap fits 1.2 s on one thread, 2.6 s on
    two).
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
    `start` warm-starts the search (bootstrap rounds start from the point fit); `tolerance` bounds the per-vote
    gradient.
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
    group = np.arange(y.size) if prompts is None else groups_of(list(prompts))
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
            samples[r] = elo_from_strengths(
                bradley_terry_fit(wins, prior=prior, start=beta, tolerance=BT_BOOTSTRAP_TOLERANCE)
            )
    low, high = (np.quantile(samples, [0.025, 0.975], axis=0) if rounds else (point, point))
    votes = np.bincount(a, minlength=n) + np.bincount(b, minlength=n)
    ratings = [Rating(model=names[i], rating=float(point[i]), low=float(low[i]), high=float(high[i]),
                      rank=1 + int((low > high[i]).sum()), votes=int(votes[i])) for i in range(n)]
    return sorted(ratings, key=lambda r: (-r.rating, str(r.model)))

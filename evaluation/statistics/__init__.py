"""Blind pairwise statistics: pure functions, no database.

- support.py: the two-arm tally, the tie-half support rate with its Wilson interval, the sign test and the verdict;
- votes.py: estimators over individual votes (prompt-level bootstrap, per-label breakdown, rater agreement, length
  control);
- bradley_terry.py: ratings of several models on the Elo scale.

Callers import from here; the Wilson interval and Krippendorff's alpha are common.statistics', shared with other apps.
"""

from common.statistics import Z_95, wilson_interval
from evaluation.statistics.bradley_terry import (
    BT_BOOTSTRAP_ROUNDS,
    BT_BOOTSTRAP_TOLERANCE,
    BT_PRIOR,
    ELO_BASE,
    ELO_SCALE,
    Rating,
    _soft_win_matrix,
    blas_single_thread,
    bradley_terry_fit,
    bradley_terry_ratings,
    elo_from_strengths,
)
from evaluation.statistics.support import (
    BOTH_BAD,
    DAMAGED,
    INCONCLUSIVE,
    LOSS,
    MARKED_IMPROVEMENT,
    NO_PROGRESS,
    NOT_GOOD_ENOUGH,
    OUTCOME_SCORE,
    SUCCESS,
    TIE,
    VOTES_SEARCH_LIMIT,
    WIN,
    Summary,
    Tally,
    Verdict,
    band_claimed,
    band_label,
    band_leaning,
    sign_test_p,
    summarize,
    support_rate,
    tally_of,
    verdict_for,
    votes_to_settle,
)
from evaluation.statistics.votes import (
    BOOTSTRAP_ROUNDS,
    Agreement,
    LengthControl,
    bootstrap_support_interval,
    groups_of,
    label_breakdown,
    length_controlled_rate,
    rater_agreement,
)

__all__ = [
    "BOOTSTRAP_ROUNDS", "BOTH_BAD", "BT_BOOTSTRAP_ROUNDS", "BT_BOOTSTRAP_TOLERANCE", "BT_PRIOR", "DAMAGED", "ELO_BASE",
    "ELO_SCALE", "INCONCLUSIVE", "LOSS", "MARKED_IMPROVEMENT", "NOT_GOOD_ENOUGH", "NO_PROGRESS", "OUTCOME_SCORE",
    "SUCCESS", "TIE", "VOTES_SEARCH_LIMIT", "WIN", "Z_95", "Agreement", "LengthControl", "Rating", "Summary", "Tally",
    "Verdict", "_soft_win_matrix", "band_claimed", "band_label", "band_leaning", "blas_single_thread",
    "bootstrap_support_interval", "bradley_terry_fit", "bradley_terry_ratings", "elo_from_strengths", "groups_of",
    "label_breakdown", "length_controlled_rate", "rater_agreement", "sign_test_p", "summarize", "support_rate",
    "tally_of", "verdict_for", "votes_to_settle", "wilson_interval",
]

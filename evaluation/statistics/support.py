"""The two-arm figures of a blind pairwise study: the tally, the support rate, the sign test and the verdict.

A two-arm study reduces to a tally of votes from the candidate's point of view: wins (candidate preferred),
losses (baseline preferred), ties and "both bad". The headline figure is the tie-half support rate,
(wins + ties/2) / votes with "both bad" counted as a tie, shown with its Wilson 95% interval beside the raw
rates wins/votes and wins/decisive, and an exact sign test on the decisive votes (docs/reference.md, blind pairwise
statistics).

Verdict bands (from the project brief) and when each is claimed, checked in this order on the interval [low, high]:

    damaged             high < 50%                      the fine-tune made the model worse
    marked improvement  low > 80%
    success             low > 70%
    not good enough     low > 50% and high < 70%       better than the baseline, but below the 70% bar
    no progress         40% <= low and high <= 60%     "about 50%": within ten points either way
    otherwise           not yet conclusive, with the number of further votes that would settle the band the
                        current rate leans towards (assuming the rate stays where it is).
"""

import math
from dataclasses import asdict, dataclass

from django.utils.translation import gettext, ngettext

from common.statistics import wilson_interval

DAMAGED = "damaged"
NO_PROGRESS = "no_progress"
NOT_GOOD_ENOUGH = "not_good_enough"
SUCCESS = "success"
MARKED_IMPROVEMENT = "marked_improvement"
INCONCLUSIVE = "inconclusive"

# No study needs more votes than this to settle; beyond it the rate sits on a band edge.
VOTES_SEARCH_LIMIT = 1_000_000

# A vote's outcome from the candidate's side, and its soft label: 1 = candidate preferred, 0 = baseline preferred,
# 0.5 = tie or "both bad".
WIN, LOSS, TIE, BOTH_BAD = "win", "loss", "tie", "both_bad"
OUTCOME_SCORE = {WIN: 1.0, LOSS: 0.0, TIE: 0.5, BOTH_BAD: 0.5}


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



def tally_of(outcomes) -> Tally:
    """Count outcomes ("win", "loss", "tie", "both_bad") into a Tally."""
    counts = {WIN: 0, LOSS: 0, TIE: 0, BOTH_BAD: 0}
    for outcome in outcomes:
        counts[outcome] += 1
    return Tally(wins=counts[WIN], losses=counts[LOSS], ties=counts[TIE], both_bad=counts[BOTH_BAD])

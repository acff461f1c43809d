"""The drift rule, one per series, thresholds per slot (MonitoringRule). Stated once here and shown on the slot's
monitoring page; docs/reference.md "Monitoring and drift" gives the reasoning.

Ratio series (like ratio, pick share: a drop is bad; edit rate: a rise is bad) — the interval rule:
    the model's own baseline is its first `baseline_days` days with data on the slot, pooled; the window is the last
    `window_days` days up to the checked day, pooled, and starts after the baseline ends. Both need at least
    `min_events` trials. A drop fires when the window's Wilson 95% upper bound lies below the baseline's Wilson 95%
    lower bound (a rise: the window's lower bound above the baseline's upper bound).
p95 latency: the window's pooled p95 above the baseline's p95 × `latency_factor`, both with `min_events` latencies.
Request volume is shown, not alerted on (a quiet day is not a worse model).

Delay: a lasting drop large enough to separate the two intervals fires on the first checked day whose window holds
enough of it, at most `window_days` days after it began.
"""

from dataclasses import dataclass
from datetime import date, timedelta

from django.utils.translation import gettext_lazy as _

from common.statistics import wilson_interval
from common.text_similarity import percentile
from monitoring.series import P95, DayCounts

DROP_IS_BAD = {"like_ratio": True, "pick_share": True, "edit_rate": False}
RULE_TEXT = {
    "like_ratio": _("Wilson 95%% upper bound of the last %(window)s days below the model's lower bound over its first "
                    "%(baseline)s days (at least %(min_events)s likes and dislikes in each)"),
    "pick_share": _("Wilson 95%% upper bound of the last %(window)s days below the model's lower bound over its first "
                    "%(baseline)s days (at least %(min_events)s picks in each)"),
    "edit_rate": _("Wilson 95%% lower bound of the last %(window)s days above the model's upper bound over its first "
                   "%(baseline)s days (at least %(min_events)s events in each)"),
    "latency_p95": _("p95 latency of the last %(window)s days above %(factor)s × the model's p95 over its first "
                     "%(baseline)s days (at least %(min_events)s timed replies in each)"),
}


@dataclass(frozen=True)
class Thresholds:
    baseline_days: int = 7
    window_days: int = 3
    min_events: int = 30
    latency_factor: float = 1.5


def rule_text(series: str, thresholds: Thresholds) -> str:
    return str(RULE_TEXT[series]) % {"window": thresholds.window_days, "baseline": thresholds.baseline_days,
                                     "min_events": thresholds.min_events, "factor": thresholds.latency_factor}


def _pooled(days: dict[date, DayCounts], first: date, last: date) -> DayCounts:
    pooled = DayCounts()
    day = first
    while day <= last:
        counts = days.get(day)
        if counts is not None:
            for name in ("likes", "dislikes", "shown", "picked", "edits", "events", "replies"):
                setattr(pooled, name, getattr(pooled, name) + getattr(counts, name))
            pooled.latencies.extend(counts.latencies)
        day += timedelta(days=1)
    return pooled


def _first_day(days: dict[date, DayCounts], series: str) -> date | None:
    with_data = [day for day, counts in days.items()
                 if (counts.latencies if series == "latency_p95" else counts.ratio(series)[1])]
    return min(with_data) if with_data else None


def drift_verdict(days: dict[date, DayCounts], series: str, day: date, thresholds: Thresholds) -> dict | None:
    """The figures the rule compared when it fires on `day`, else None."""
    first = _first_day(days, series)
    if first is None:
        return None
    baseline_end = first + timedelta(days=thresholds.baseline_days - 1)
    window_start = day - timedelta(days=thresholds.window_days - 1)
    if window_start <= baseline_end:
        return None
    baseline, window = _pooled(days, first, baseline_end), _pooled(days, window_start, day)
    figures = {"baseline_from": first.isoformat(), "baseline_to": baseline_end.isoformat(),
               "window_from": window_start.isoformat(), "window_to": day.isoformat()}
    if series == "latency_p95":
        if min(len(baseline.latencies), len(window.latencies)) < thresholds.min_events:
            return None
        base_p95 = percentile(sorted(baseline.latencies), P95)
        window_p95 = percentile(sorted(window.latencies), P95)
        if window_p95 <= base_p95 * thresholds.latency_factor:
            return None
        return {**figures, "baseline_p95": base_p95, "window_p95": window_p95, "factor": thresholds.latency_factor,
                "baseline_n": len(baseline.latencies), "window_n": len(window.latencies)}
    (base_hits, base_n), (window_hits, window_n) = baseline.ratio(series), window.ratio(series)
    if min(base_n, window_n) < thresholds.min_events:
        return None
    base_low, base_high = wilson_interval(base_hits, base_n)
    window_low, window_high = wilson_interval(window_hits, window_n)
    fires = window_high < base_low if DROP_IS_BAD[series] else window_low > base_high
    if not fires:
        return None
    return {**figures, "baseline": base_hits / base_n, "baseline_low": base_low, "baseline_high": base_high,
            "baseline_n": base_n, "window": window_hits / window_n, "window_low": window_low,
            "window_high": window_high, "window_n": window_n}

"""Reads of monitoring: a slot's dashboard (its daily series, thresholds, alerts and their deliveries). A fixed number
of queries whatever the number of days, models, events or alerts: the three of monitoring.series, the rule, the
alerts and their deliveries."""

from datetime import timedelta

from django.db.models import F, Prefetch, QuerySet
from django.utils import timezone

from monitoring.drift import Thresholds, rule_text
from monitoring.models import AlertDelivery, DriftAlert, MonitoringRule
from monitoring.series import RATIO_SERIES, daily_points, distinct_keys, slot_daily_counts
from releases.models import Deployment

CHARTED_SERIES = (*RATIO_SERIES, "volume", "latency_p95")


def monitoring_rule_of(*, deployment: Deployment) -> MonitoringRule | None:
    return MonitoringRule.objects.filter(deployment=deployment).first()


def drift_alerts_of(*, deployment: Deployment, limit: int = 50) -> QuerySet[DriftAlert]:
    """The slot's alerts, open ones first then newest, each with its deliveries. Two queries."""
    deliveries = Prefetch("deliveries", queryset=AlertDelivery.objects.order_by("channel"))
    return (DriftAlert.objects.filter(deployment=deployment).prefetch_related(deliveries)
            .order_by(F("closed_on").desc(nulls_first=True), "-raised_on", "-pk")[:limit])


def slot_dashboard(*, deployment: Deployment, days: int = 30) -> dict:
    """What a slot's monitoring page draws: per series, one line per model (and prompt version) with its interval."""
    today = timezone.localdate()
    since = today - timedelta(days=days - 1)
    table = slot_daily_counts(deployment=deployment, since=since, until=today)
    rule = monitoring_rule_of(deployment=deployment)
    thresholds = Thresholds() if rule is None else Thresholds(
        baseline_days=rule.baseline_days, window_days=rule.window_days, min_events=rule.min_events,
        latency_factor=rule.latency_factor)
    all_days = [since + timedelta(days=i) for i in range(days)]
    series = {name: [] for name in CHARTED_SERIES}
    for key in sorted(distinct_keys(table), key=lambda k: (k.name, k.model, k.prompt_version)):
        for name in CHARTED_SERIES:
            if name == "volume" and key.prompt_version:
                continue
            points = [(day, daily_points(table[key], name, day)) for day in all_days]
            points = [(day.isoformat(), point) for day, point in points if point is not None]
            if points:
                series[name].append({"model": key.name, "prompt_version": key.prompt_version,
                                     "days": [d for d, _ in points], "value": [p["value"] for _, p in points],
                                     "low": [p["low"] for _, p in points], "high": [p["high"] for _, p in points],
                                     "n": [p["n"] for _, p in points]})
    return {"since": since, "until": today, "series": series, "rule": rule, "thresholds": thresholds,
            "rules": {name: rule_text(name, thresholds) for name in ("like_ratio", "pick_share", "edit_rate",
                                                                     "latency_p95")},
            "alerts": list(drift_alerts_of(deployment=deployment))}

"""The daily series of a deployment slot, per model that answered on it and per prompt version (an empty prompt
version is all of them together), built from the reply attribution rows (releases) and the feedback events sent with
a reply's id (`metadata.reply_id`; feedback). Three queries whatever the number of days, models or events.

Per day and series key:
- like ratio   likes / (likes + dislikes), Wilson 95% interval
- pick share   choices in which the slot's reply (`metadata.reply_index` among the responses, 0 when absent) was
               picked / choices it was shown in, Wilson 95% interval
- edit rate    edits / all feedback events on the model's replies, Wilson 95% interval
- volume       replies the slot served (per model only: a reply carries no prompt version), Poisson 95% interval
               n ± 1.96·√n
- p95 latency  of `metadata.latency_ms` the app reported, nearest rank, with the order-statistic 95% interval (ranks
               n·0.95 ∓ 1.96·√(n·0.95·0.05)); docs/reference.md "Monitoring and drift"
"""

import math
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from django.utils import timezone

from common.statistics import Z_95, wilson_interval
from common.text_similarity import percentile
from feedback.selectors import feedback_events_on_replies
from releases.models import Deployment
from releases.selectors import deployment_replies_by_day, deployment_reply_authors, deployment_reply_ids

P95 = 0.95
RATIO_SERIES = ("like_ratio", "pick_share", "edit_rate")


@dataclass
class DayCounts:
    likes: int = 0
    dislikes: int = 0
    shown: int = 0
    picked: int = 0
    edits: int = 0
    events: int = 0
    replies: int = 0
    latencies: list[float] = field(default_factory=list)

    def ratio(self, series: str) -> tuple[int, int]:
        """(successes, trials) of a ratio series."""
        return {"like_ratio": (self.likes, self.likes + self.dislikes), "pick_share": (self.picked, self.shown),
                "edit_rate": (self.edits, self.events)}[series]


@dataclass
class SeriesKey:
    model: str          # "artifact:<id>" / "base:<id>"
    name: str
    prompt_version: str  # "" = all prompt versions

    def __hash__(self):
        return hash((self.model, self.prompt_version))

    def __eq__(self, other):
        return (self.model, self.prompt_version) == (other.model, other.prompt_version)


def day_start(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min), timezone.get_current_timezone())


def slot_daily_counts(*, deployment: Deployment, since: date, until: date) -> dict[SeriesKey, dict[date, DayCounts]]:
    """Counts per series key and day in [since, until] (days in the current time zone)."""
    start, end = day_start(since), day_start(until + timedelta(days=1))
    events = feedback_events_on_replies(workspace=deployment.workspace, reply_ids=deployment_reply_ids(
        deployment=deployment), since=start, until=end)
    authors = deployment_reply_authors(deployment=deployment, reply_ids={e["reply_id"] for e in events})
    table: dict[SeriesKey, dict[date, DayCounts]] = defaultdict(lambda: defaultdict(DayCounts))
    for event in events:
        model, name = authors[event["reply_id"]]
        day = timezone.localtime(event["occurred_at"]).date()
        for version in {"", event["prompt_version"]}:
            _count(table[SeriesKey(model, name, version)][day], event)
    for row in deployment_replies_by_day(deployment=deployment, since=start, until=end):
        table[SeriesKey(row["model"], row["name"], "")][row["day"]].replies += row["replies"]
    return table


def _count(counts: DayCounts, event: dict) -> None:
    kind = event["kind"]
    counts.events += 1
    counts.likes += kind == "like"
    counts.dislikes += kind == "dislike"
    counts.edits += kind == "edit"
    if kind == "choice":
        counts.shown += 1
        counts.picked += event["chosen_index"] == _int(event["reply_index"], 0)
    latency = _number(event["latency_ms"])
    if latency is not None:
        counts.latencies.append(latency)


def _int(text, default: int) -> int:
    try:
        return int(text)
    except (TypeError, ValueError):
        return default


def _number(text) -> float | None:
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) and value >= 0 else None


def ratio_point(successes: int, trials: int) -> dict | None:
    if not trials:
        return None
    low, high = wilson_interval(successes, trials)
    return {"value": successes / trials, "low": low, "high": high, "n": trials}


def volume_point(replies: int) -> dict:
    half = Z_95 * math.sqrt(replies)
    return {"value": replies, "low": max(0.0, replies - half), "high": replies + half, "n": replies}


def p95_point(latencies: list[float]) -> dict | None:
    if not latencies:
        return None
    ordered = sorted(latencies)
    n = len(ordered)
    spread = Z_95 * math.sqrt(n * P95 * (1 - P95))
    low_rank, high_rank = max(0, math.floor(n * P95 - spread) - 1), min(n - 1, math.ceil(n * P95 + spread) - 1)
    return {"value": percentile(ordered, P95), "low": ordered[low_rank], "high": ordered[high_rank], "n": n}


def daily_points(days: dict[date, DayCounts], series: str, day: date) -> dict | None:
    counts = days.get(day)
    if counts is None:
        return None
    if series == "volume":
        return volume_point(counts.replies)
    if series == "latency_p95":
        return p95_point(counts.latencies)
    return ratio_point(*counts.ratio(series))


def distinct_keys(table: dict) -> list[SeriesKey]:
    """The table's keys without a model's only prompt version, which would repeat its all-versions series."""
    versions: dict[str, int] = {}
    for key in table:
        versions[key.model] = versions.get(key.model, 0) + bool(key.prompt_version)
    return [key for key in table if not (key.prompt_version and versions[key.model] == 1)]

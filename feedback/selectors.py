"""Reads of production feedback, each one query (or a fixed few), whatever the number of rows.

`feedback_support_rates` is the online support rate other pages can show (the evaluation pages among them): per model,
how often agents picked its answer among the N shown (win share), and how often it won a head-to-head against a
different model's answer in the same choice (pairwise support rate, 50% = no preference), each with a Wilson interval.

A pick is one comparison per pair of distinct models shown, whatever the number of answers each had: of four answers,
two from model A and two from model B, a pick of an A answer is one win of A over B and one loss of B, not two of
each (the two answers of a side are not independent comparisons; counting them so narrows the interval by about √2).
`assist_support_rates` is the same rule for the assist preset of a deployment slot (releases.assist): per slot, the
candidate's share of the picks against the production model, its Wilson interval and the verdict band of studies.
"""

from dataclasses import dataclass
from datetime import timedelta

from django.db import connection
from django.db.models import Count, JSONField, Q, QuerySet
from django.db.models.expressions import RawSQL
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import TruncDay
from django.utils import timezone

from accounts.access import scope_to_capability
from accounts.models import Workspace
from common.statistics import wilson_interval
from feedback.access import VIEW
from feedback.models import FeedbackEvent, FeedbackSource, WorkbenchDraft


def feedback_workspaces_for(*, user, capability: str = VIEW) -> QuerySet[Workspace]:
    return scope_to_capability(Workspace.objects.all(), user=user, capability=capability, workspace_path="pk").order_by(
        "name"
    )


def feedback_sources_for(*, user, workspace: Workspace | None = None) -> QuerySet[FeedbackSource]:
    """Sources the user may see, with their live token count and event count."""
    sources = scope_to_capability(FeedbackSource.objects.select_related("workspace"), user=user, capability=VIEW)
    if workspace is not None:
        sources = sources.filter(workspace=workspace)
    return sources.annotate(
        live_tokens=Count("tokens", filter=Q(tokens__revoked_at__isnull=True), distinct=True),
    ).order_by("workspace__name", "name", "pk")


def feedback_source_tokens(*, sources) -> dict[int, list]:
    """Tokens (newest first) of the given sources, in one query."""
    from feedback.models import FeedbackIngestToken

    tokens: dict[int, list] = {}
    for token in FeedbackIngestToken.objects.filter(source__in=sources).order_by("-created_at", "-pk"):
        tokens.setdefault(token.source_id, []).append(token)
    return tokens


def feedback_events_for(
    *, user, source: FeedbackSource | None = None, kind: str | None = None
) -> QuerySet[FeedbackEvent]:
    events = scope_to_capability(FeedbackEvent.objects.select_related("source"), user=user, capability=VIEW,
                                 workspace_path="source__workspace")
    if source is not None:
        events = events.filter(source=source)
    if kind:
        events = events.filter(kind=kind)
    return events.order_by("-occurred_at", "-pk")


def feedback_events_between(workspace: Workspace, since=None, until=None) -> QuerySet[FeedbackEvent]:
    """The workspace's events that occurred in [since, until) (either end open when None), unordered."""
    events = FeedbackEvent.objects.filter(source__workspace=workspace)
    if since is not None:
        events = events.filter(occurred_at__gte=since)
    if until is not None:
        events = events.filter(occurred_at__lt=until)
    return events


def feedback_volume_by_day(*, workspace: Workspace, since=None, until=None) -> list[dict]:
    """[{"day": date, "kind": ..., "events": n}, ...] ordered by day."""
    rows = (feedback_events_between(workspace, since, until).annotate(day=TruncDay("occurred_at")).values("day", "kind")
            .annotate(events=Count("pk")).order_by("day", "kind"))
    return [{"day": row["day"].date(), "kind": row["kind"], "events": row["events"]} for row in rows]


def feedback_like_ratio(*, workspace: Workspace, since=None, until=None) -> list[dict]:
    """Per (model, prompt version): likes, dislikes and the share of likes with its Wilson interval."""
    rows = (
        feedback_events_between(workspace, since, until)
        .filter(kind__in=[FeedbackEvent.Kind.LIKE, FeedbackEvent.Kind.DISLIKE])
        .values("model", "prompt_version")
        .annotate(
            likes=Count("pk", filter=Q(kind=FeedbackEvent.Kind.LIKE)),
            dislikes=Count("pk", filter=Q(kind=FeedbackEvent.Kind.DISLIKE)),
        )
        .order_by("model", "prompt_version")
    )
    out = []
    for row in rows:
        n = row["likes"] + row["dislikes"]
        low, high = wilson_interval(row["likes"], n)
        out.append({**row, "ratio": row["likes"] / n, "low": low, "high": high})
    return out


@dataclass(frozen=True)
class ModelSupport:
    model: str
    shown: int          # answers of this model shown in choices
    chosen: int         # of which the agent picked
    win_share: float
    win_low: float
    win_high: float
    wins: int           # head-to-head wins over a different model's answer in the same choice
    losses: int
    support_rate: float | None
    support_low: float | None
    support_high: float | None


def _choice_models(workspace: Workspace, since, until) -> list[tuple[list[str], int]]:
    events = feedback_events_between(workspace, since, until).filter(kind=FeedbackEvent.Kind.CHOICE)
    if connection.vendor == "postgresql":
        # Only the model names leave the database, not the candidates' texts.
        models = RawSQL(
            "jsonb_path_query_array(feedback_feedbackevent.responses, '$[*].model')", [], output_field=JSONField()
        )
        return [(names, index) for names, index in events.annotate(models=models).values_list("models", "chosen_index")]
    return [
        ([r["model"] for r in responses], index) for responses, index in events.values_list("responses", "chosen_index")
    ]


def feedback_support_rates(*, workspace: Workspace, since=None, until=None) -> list[ModelSupport]:
    """The online support rate of each model from best-of-N choices, best win share first. One query."""
    tally: dict[str, list[int]] = {}
    for names, chosen_index in _choice_models(workspace, since, until):
        winner = names[chosen_index]
        for name in names:
            tally.setdefault(name, [0, 0, 0, 0])[0] += 1  # shown, chosen, wins, losses
        tally[winner][1] += 1
        losers = set(names) - {winner}  # one comparison per distinct other model, however many answers it had
        tally[winner][2] += len(losers)
        for name in losers:
            tally[name][3] += 1
    out = []
    for name, (shown, chosen, wins, losses) in tally.items():
        win_low, win_high = wilson_interval(chosen, shown)
        decided = wins + losses
        support_low, support_high = wilson_interval(wins, decided) if decided else (None, None)
        out.append(ModelSupport(model=name, shown=shown, chosen=chosen, win_share=chosen / shown, win_low=win_low,
                                win_high=win_high, wins=wins, losses=losses,
                                support_rate=wins / decided if decided else None, support_low=support_low,
                                support_high=support_high))
    return sorted(out, key=lambda row: (-row.win_share, row.model))


@dataclass(frozen=True)
class AssistSupport:
    """The assist preset of one slot for one (production, candidate) pair: each pick is one comparison."""

    deployment_id: int
    slot: str
    production: dict    # {"kind", "id", "name"}
    candidate: dict
    picks: int          # comparisons: picks with both sides shown
    candidate_wins: int
    edits: int          # of which the agent edited the picked reply (counted for its side all the same)
    rate: float | None  # the candidate's support rate against production
    low: float | None
    high: float | None
    verdict: object     # evaluation.statistics.support.Verdict


def _model_key(ref: dict) -> str:
    return f"{ref.get('kind')}:{ref.get('id')}"


def assist_support_rates(*, workspace: Workspace, since=None, until=None,
                         deployment_id: int | None = None) -> list[AssistSupport]:
    """Per slot (and per production/candidate pair the slot had), the candidate's online support rate from the assist
    preset's picks: a pick of a candidate reply is one win, of a production reply one loss. One query."""
    from evaluation.statistics.support import verdict_for  # the studies' verdict rule, one home

    events = feedback_events_between(workspace, since, until).filter(kind=FeedbackEvent.Kind.CHOICE,
                                                                     metadata__has_key="assist")
    if deployment_id is not None:
        events = events.filter(metadata__assist__deployment=deployment_id)
    rows = events.values_list("metadata", "chosen_index").order_by("pk")
    tally: dict[tuple, list] = {}
    for metadata, chosen_index in rows:
        assist, sides = metadata["assist"], metadata.get("sides") or []
        if not 0 <= chosen_index < len(sides) or not {"production", "candidate"} <= set(sides):
            continue
        key = (assist["deployment"], _model_key(assist["production"]), _model_key(assist["candidate"]))
        counts = tally.setdefault(key, [assist, 0, 0, 0])  # assist, picks, candidate wins, edits
        counts[1] += 1
        counts[2] += sides[chosen_index] == "candidate"
        counts[3] += bool(metadata.get("edited"))
    out = []
    for (deployment, _production, _candidate), (assist, picks, wins, edits) in tally.items():
        low, high = wilson_interval(wins, picks)
        rate = wins / picks
        out.append(AssistSupport(deployment_id=deployment, slot=assist.get("slot", ""),
                                 production=assist["production"], candidate=assist["candidate"], picks=picks,
                                 candidate_wins=wins, edits=edits, rate=rate, low=low, high=high,
                                 verdict=verdict_for(rate, low, high, picks)))
    return sorted(out, key=lambda row: (row.slot, row.deployment_id, -row.picks))


def feedback_dashboard(*, workspace: Workspace, days: int = 30) -> dict:
    """Everything the dashboard draws, for the last `days` days."""
    since = timezone.now() - timedelta(days=days)
    volume = feedback_volume_by_day(workspace=workspace, since=since)
    return {
        "since": since,
        "volume": volume,
        "total": sum(row["events"] for row in volume),
        "like_ratio": feedback_like_ratio(workspace=workspace, since=since),
        "support": feedback_support_rates(workspace=workspace, since=since),
        "assist": assist_support_rates(workspace=workspace, since=since),
    }


def workbench_endpoints(*, workspace: Workspace):
    from llm.selectors import model_endpoints_of

    return model_endpoints_of(workspace=workspace)


def workbench_recent_drafts(*, agent, workspace: Workspace, limit: int = 10) -> QuerySet[WorkbenchDraft]:
    return WorkbenchDraft.objects.filter(agent=agent, workspace=workspace, picked_at__isnull=False).order_by(
        "-picked_at"
    )[:limit]


def feedback_events_on_replies(*, workspace: Workspace, reply_ids, since=None, until=None) -> list[dict]:
    """Events whose `metadata.reply_id` is one of `reply_ids` (a list or a subquery of reply ids), in [since, until):
    the fields monitoring needs, never the texts. One query."""
    reply_id = KeyTextTransform("reply_id", "metadata")
    return list(
        feedback_events_between(workspace, since, until)
        .annotate(reply_id=reply_id, reply_index=KeyTextTransform("reply_index", "metadata"),
                  latency_ms=KeyTextTransform("latency_ms", "metadata"))
        .filter(reply_id__in=reply_ids)
        .values("reply_id", "kind", "occurred_at", "prompt_version", "chosen_index", "reply_index", "latency_ms")
        .order_by("occurred_at", "pk")
    )

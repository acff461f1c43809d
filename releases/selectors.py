"""Reads of the releases app: scorecards, slots and their history, resolving a slot for a request, and the model
registry. Each owns its query shape; list reads cost a fixed number of queries whatever the row count."""

from dataclasses import dataclass

from django.db.models import Count, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import TruncDay

from accounts.access import scope_to_capability
from accounts.models import Workspace
from common.errors import ApplicationError
from common.models import HistoryEvent
from releases.models import Deployment, DeploymentReply, Scorecard
from releases.routing import candidate_answers
from releases.services.scorecards import workspace_weights
from training.models import BaseModel, ModelArtifact

VIEW = "release.view"
DEPLOYMENT_MODELS = ("production_base_model", "production_artifact__base_model", "candidate_base_model",
                     "candidate_artifact__base_model", "previous_base_model", "previous_artifact")


def scorecard_list_for_user(*, user, artifact: ModelArtifact | None = None) -> QuerySet:
    """Scorecards in workspaces where the user holds release.view (of one artifact when given), newest first."""
    queryset = Scorecard.objects.all() if artifact is None else Scorecard.objects.filter(artifact=artifact)
    return (scope_to_capability(queryset, user=user, capability=VIEW)
            .select_related("workspace", "artifact__base_model", "baseline").order_by("-created_at", "-pk"))


def scorecard_weights(*, workspace: Workspace) -> dict[str, float]:
    return workspace_weights(workspace=workspace)


def deployment_list_for_user(*, user) -> QuerySet:
    return (scope_to_capability(Deployment.objects.all(), user=user, capability=VIEW)
            .select_related("workspace", *DEPLOYMENT_MODELS).order_by("workspace_id", "name"))


def deployment_history(*, deployment: Deployment) -> QuerySet:
    return (HistoryEvent.objects.filter(target_type=Deployment._meta.label_lower, target_id=deployment.pk)
            .select_related("actor").order_by("-created_at", "-pk"))


@dataclass(frozen=True)
class ResolvedModel:
    """The model a slot answers with for one request: `role` is "production" or "candidate"; `model` a BaseModel or
    a ModelArtifact; `model_id` its id on the model server (training.server.registry)."""

    deployment: Deployment
    role: str
    model: BaseModel | ModelArtifact
    model_id: str


def deployment_resolve(*, workspace: Workspace, name: str, end_user: str = "") -> ResolvedModel | None:
    """The model slot `name` of `workspace` answers `end_user` with (releases.routing: sticky per end user), or None
    when there is no such slot. One query."""
    from training.server.registry import artifact_model_id, base_model_id

    deployment = (Deployment.objects.select_related("workspace", *DEPLOYMENT_MODELS)
                  .filter(workspace=workspace, name=name).first())
    if deployment is None:
        return None
    use_candidate = deployment.candidate is not None and candidate_answers(
        workspace_id=workspace.pk, slot=name, end_user=end_user, share=deployment.candidate_share)
    model = deployment.candidate if use_candidate else deployment.production
    model_id = base_model_id(model) if isinstance(model, BaseModel) else artifact_model_id(model)
    return ResolvedModel(deployment=deployment, role="candidate" if use_candidate else "production", model=model,
                         model_id=model_id)


def deployment_for_model_name(*, user, name: str) -> Deployment | None:
    """The slot called `name` in a workspace where `user` may call models (training.view), when exactly one is."""
    slots = list(scope_to_capability(Deployment.objects.filter(name=name), user=user, capability="training.view")
                 .select_related("workspace")[:2])
    return slots[0] if len(slots) == 1 else None


def _latest_scorecard(field: str):
    return Subquery(Scorecard.objects.filter(artifact=OuterRef("pk"), status=Scorecard.Status.DONE)
                    .order_by("-created_at", "-pk").values(field)[:1])


def artifacts_with_latest_scorecard(queryset: QuerySet) -> QuerySet:
    """`queryset` of artifacts annotated with their latest finished scorecard: scorecard_id, scorecard_total,
    scorecard_ready, scorecard_complete (all in the same query)."""
    return queryset.annotate(scorecard_id=_latest_scorecard("pk"), scorecard_total=_latest_scorecard("total"),
                             scorecard_ready=_latest_scorecard("is_ready_to_ship"),
                             scorecard_complete=_latest_scorecard("is_complete"))


def model_in_workspace(workspace: Workspace, *, base_model_id: int | None, artifact_id: int | None, where: str):
    """The base model or model artifact of `workspace` a request names by id (None when it names neither); raises
    ApplicationError(where=`where`) for both or an id not in the workspace."""
    if base_model_id is not None and artifact_id is not None:
        raise ApplicationError("name a base model or a model artifact, not both", where=where)
    if base_model_id is not None:
        model = BaseModel.objects.filter(workspace=workspace, pk=base_model_id).first()
    elif artifact_id is not None:
        model = ModelArtifact.objects.select_related("base_model").filter(workspace=workspace, pk=artifact_id).first()
    else:
        return None
    if model is None:
        raise ApplicationError("no such model in this workspace", where=where)
    return model


def _reply_author(row: dict) -> tuple[str, str]:
    """(key, label) of the model that wrote a reply: "artifact:<id>" or "base:<id>", and its name."""
    if row["artifact_id"] is not None:
        return f"artifact:{row['artifact_id']}", row["artifact__name"]
    return f"base:{row['base_model_id']}", row["base_model__name"] or ""


def deployment_reply_ids(*, deployment: Deployment, since=None, until=None) -> QuerySet:
    """The ids of the replies the slot served in [since, until), as a subquery (no query of its own)."""
    replies = DeploymentReply.objects.filter(deployment=deployment)
    if since is not None:
        replies = replies.filter(created_at__gte=since)
    if until is not None:
        replies = replies.filter(created_at__lt=until)
    return replies.values("reply_id")


def deployment_reply_authors(*, deployment: Deployment, reply_ids) -> dict[str, tuple[str, str]]:
    """reply id → (model key, model name) for the given replies of the slot. One query."""
    rows = (DeploymentReply.objects.filter(deployment=deployment, reply_id__in=list(reply_ids))
            .values("reply_id", "artifact_id", "artifact__name", "base_model_id", "base_model__name"))
    return {row["reply_id"]: _reply_author(row) for row in rows}


def deployment_replies_by_day(*, deployment: Deployment, since=None, until=None) -> list[dict]:
    """[{"day": date, "model": key, "name": model name, "replies": n}, ...]: the slot's request volume. One query."""
    rows = (DeploymentReply.objects.filter(pk__in=deployment_reply_ids(deployment=deployment, since=since, until=until)
                                           .values("pk"))
            .annotate(day=TruncDay("created_at"))
            .values("day", "artifact_id", "artifact__name", "base_model_id", "base_model__name")
            .annotate(replies=Count("pk")).order_by("day"))
    out = []
    for row in rows:
        key, name = _reply_author(row)
        out.append({"day": row["day"].date(), "model": key, "name": name, "replies": row["replies"]})
    return out


def deployments_with_candidate(*, workspace: Workspace) -> QuerySet:
    """The workspace's slots that have a candidate (the assist preset compares it with production), by name."""
    return (Deployment.objects.filter(workspace=workspace)
            .filter(Q(candidate_base_model__isnull=False) | Q(candidate_artifact__isnull=False))
            .select_related(*DEPLOYMENT_MODELS).order_by("name"))

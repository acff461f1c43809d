"""Reads for the llm app; each selector owns its query shape so lists cost a fixed number of queries."""

from django.db.models import Count, Q, QuerySet, Sum

from accounts.access import scope_to_capability
from accounts.models import Workspace
from llm.access import MANAGE, USE
from llm.models import ModelCall, ModelEndpoint


def model_endpoint_list(*, user, workspace: Workspace | None = None) -> QuerySet[ModelEndpoint]:
    """Endpoints the user may use, with call counts and tokens spent (one query, aggregated)."""
    endpoints = scope_to_capability(ModelEndpoint.objects.select_related("workspace"), user=user, capability=USE)
    if workspace is not None:
        endpoints = endpoints.filter(workspace=workspace)
    return endpoints.annotate(
        call_count=Count("calls", filter=Q(calls__cached=False)),
        cached_call_count=Count("calls", filter=Q(calls__cached=True)),
        tokens_used=Sum("calls__prompt_tokens", filter=Q(calls__cached=False), default=0)
        + Sum("calls__completion_tokens", filter=Q(calls__cached=False), default=0),
    ).order_by("workspace__name", "name")


def endpoint_workspaces_for(*, user) -> QuerySet[Workspace]:
    """Workspaces where the user may create endpoints (the workspace choice of the create form)."""
    return scope_to_capability(Workspace.objects.all(), user=user, capability=MANAGE, workspace_path="pk").order_by(
        "name"
    )


def model_call_recent(*, endpoint: ModelEndpoint, limit: int = 20) -> QuerySet[ModelCall]:
    return ModelCall.objects.filter(endpoint=endpoint).order_by("-created_at", "-pk")[:limit]


def model_endpoints_of(*, workspace: Workspace) -> QuerySet[ModelEndpoint]:
    """The workspace's endpoints by name (for other apps' choices; no permission check, no counts)."""
    return ModelEndpoint.objects.filter(workspace=workspace).order_by("name", "pk")


def model_endpoint_by_name(*, workspace: Workspace, name: str) -> ModelEndpoint | None:
    return ModelEndpoint.objects.filter(workspace=workspace, name=name).first()

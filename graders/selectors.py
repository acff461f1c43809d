"""Reads of graders; each selector owns its query shape."""

from django.db.models import QuerySet

from accounts.access import scope_to_capability
from accounts.models import Workspace
from graders.access import EDIT, VIEW
from graders.models import Grader


def grader_list(*, user, workspace: Workspace | None = None) -> QuerySet[Grader]:
    """The graders the user may see, by workspace and name (one query)."""
    graders = scope_to_capability(Grader.objects.select_related("workspace", "created_by"), user=user,
                                  capability=VIEW)
    if workspace is not None:
        graders = graders.filter(workspace=workspace)
    return graders.order_by("workspace__name", "name", "pk")


def grader_workspaces_for(*, user) -> QuerySet[Workspace]:
    """Workspaces where the user may save graders."""
    return scope_to_capability(Workspace.objects.all(), user=user, capability=EDIT, workspace_path="pk").order_by(
        "name")


def graders_of(*, workspace: Workspace, ids: list[int]) -> list[Grader]:
    """The workspace's graders with these ids, in the order asked (ids not in the workspace left out)."""
    found = {grader.pk: grader for grader in Grader.objects.filter(workspace=workspace, pk__in=ids)}
    return [found[pk] for pk in ids if pk in found]


def grader_bench_workspaces(*, user) -> QuerySet[Workspace]:
    """Workspaces where the user may try graders on the bench."""
    return scope_to_capability(Workspace.objects.all(), user=user, capability=VIEW, workspace_path="pk").order_by(
        "name")


def graders_in(*, workspace_ids: list[int]) -> QuerySet[Grader]:
    """The graders of these workspaces (already permission-scoped by the caller), for a launch form's choice."""
    return Grader.objects.filter(workspace_id__in=workspace_ids).select_related("workspace").order_by(
        "workspace__name", "name", "pk")


def grader_named(*, workspace: Workspace, name: str) -> Grader | None:
    return Grader.objects.filter(workspace=workspace, name=name).first()

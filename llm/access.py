"""Permission-checked fetches of model endpoints.

Rows are first narrowed to workspaces where the user may use endpoints ("model_endpoints.use"): missing and unseen
both raise Http404. Asking for "model_endpoints.manage" on a row the user can see but not change raises
PermissionDenied (403), which tells them nothing new.
"""

from django.http import Http404

from accounts.access import fetch_in_workspace, scope_to_capability
from accounts.models import Workspace
from llm.models import ModelEndpoint

USE = "model_endpoints.use"
MANAGE = "model_endpoints.manage"


def access_model_endpoint(user, endpoint_id, *, capability: str = USE) -> ModelEndpoint:
    return fetch_in_workspace(
        ModelEndpoint.objects.select_related("workspace"),
        user=user,
        pk=endpoint_id,
        view_capability=USE,
        capability=capability,
    )


def access_endpoint_workspace(user, workspace_id) -> Workspace:
    """The workspace a new endpoint goes into: 404 unless the user may manage endpoints there."""
    if workspace_id is None or not str(workspace_id).isdigit():
        raise Http404
    workspace = scope_to_capability(Workspace.objects.all(), user=user, capability=MANAGE, workspace_path="pk").filter(
        pk=workspace_id).first()
    if workspace is None:
        raise Http404
    return workspace

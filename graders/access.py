"""Permission-checked fetches of graders. Graders are training material: reading and trying them needs
training.view, saving them training.launch, in the grader's workspace (missing and unseen are both 404)."""

from accounts.access import access_workspace, fetch_in_workspace
from accounts.models import Workspace
from graders.models import Grader

VIEW = "training.view"
EDIT = "training.launch"


def access_grader(user, grader_id, *, capability: str = VIEW) -> Grader:
    return fetch_in_workspace(Grader.objects.select_related("workspace"), user=user, pk=grader_id,
                              view_capability=VIEW, capability=capability)


def access_grader_workspace(user, workspace_id, *, capability: str = EDIT) -> Workspace:
    """The workspace a grader is saved into, or tried in: 404 unless the user holds `capability` there."""
    return access_workspace(user, workspace_id, capability=capability)

"""Who may do what through the fine-tuning API, and in which workspace.

The workspace is the token's user's: the one they belong to, or, when they belong to several, the one the request
names in the `OpenAI-Project` header (what `OpenAI(project=...)` sends), `OpenAI-Organization` or
`X-Whetstone-Workspace` — by id or by name. Files and jobs are fetched inside that workspace only, so another
workspace's ids are missing (404), whatever they are.
"""

from accounts.access import user_can
from accounts.models import Membership, Workspace
from common.errors import ApplicationError

WORKSPACE_HEADERS = ("OpenAI-Project", "OpenAI-Organization", "X-Whetstone-Workspace")
VIEW = "training.view"
LAUNCH = "training.launch"
DATA_VIEW = "data.view"
DATA_EDIT = "data.edit"


def api_workspace(*, user, headers) -> Workspace:
    """The request's workspace (see the module's docstring); ApplicationError code "workspace" when none fits."""
    workspaces = Workspace.objects.order_by("pk")
    if not user.is_superuser:
        workspaces = workspaces.filter(pk__in=Membership.objects.filter(user=user).values("workspace_id"))
    asked = next((headers.get(name) for name in WORKSPACE_HEADERS if headers.get(name)), None)
    if asked:
        asked = asked.strip()
        found = workspaces.filter(pk=int(asked)).first() if asked.isdigit() else None
        found = found or workspaces.filter(name=asked).first()
        if found is None:
            raise ApplicationError(
                f"you belong to no workspace {asked!r}", where="OpenAI-Project", code="workspace_not_found"
            )
        return found
    found = list(workspaces[:11])
    if len(found) == 1:
        return found[0]
    if not found:
        raise ApplicationError(
            "this token's user belongs to no workspace", where="OpenAI-Project", code="workspace_not_found"
        )
    names = ", ".join(repr(workspace.name) for workspace in found[:10])
    raise ApplicationError(f"this token's user belongs to several workspaces ({names}); name one in the OpenAI-Project "
                           "header (OpenAI(project=...) sends it)", where="OpenAI-Project", code="workspace_required")


def api_capability_check(*, user, workspace: Workspace, capability: str) -> None:
    """ApplicationError code "permission_denied" (a 403) unless `user` holds `capability` in `workspace`."""
    if not user_can(user, capability, workspace):
        raise ApplicationError(f"your role in workspace {workspace.name!r} does not allow this ({capability})",
                               where="", code="permission_denied")


def access_fine_tuning_file(*, user, workspace: Workspace, file_id: str, capability: str = DATA_VIEW):
    """The workspace's file `file_id`; ApplicationError "not_found" for another workspace's as for a wrong id."""
    from finetuning.selectors import file_get

    api_capability_check(user=user, workspace=workspace, capability=capability)
    file = file_get(workspace=workspace, file_id=file_id or "")
    if file is None:
        raise ApplicationError(f"No such File object: {file_id}", where="file_id", code="not_found")
    return file


def access_fine_tuning_job(*, user, workspace: Workspace, job_id: str, capability: str = VIEW):
    """The workspace's job `job_id`; ApplicationError "not_found" for another workspace's as for a wrong id."""
    from finetuning.selectors import job_get

    api_capability_check(user=user, workspace=workspace, capability=capability)
    job = job_get(workspace=workspace, job_id=job_id or "")
    if job is None:
        raise ApplicationError(f"Fine-tuning job {job_id} not found", where="fine_tuning_job_id", code="not_found")
    return job


def access_fine_tuning_job_page(user, job_id: str):
    """A job for the browser: in a workspace where `user` may view training; Http404 otherwise, as for a wrong id."""
    from django.http import Http404

    from accounts.access import scope_to_capability
    from finetuning.models import FineTuningJob

    jobs = scope_to_capability(FineTuningJob.objects.select_related("workspace", "base_model", "run__artifact"),
                               user=user, capability=VIEW)
    job = jobs.filter(public_id=job_id or "").first()
    if job is None:
        raise Http404
    return job

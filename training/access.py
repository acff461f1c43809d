"""Permission-checked fetches of training objects.

Every fetch first narrows to workspaces where the user may view training ("training.view"): a row that is missing
and a row the user may not see both raise Http404, so ids leak nothing. Asking for "training.launch" (launch,
cancel, register) on a row the user can see but not change raises PermissionDenied (403): that tells them nothing new.
"""

from django.db.models import Model, QuerySet

from accounts.access import fetch_in_workspace
from accounts.models import Workspace
from training.models import BaseModel, ModelArtifact, TrainingRun

VIEW = "training.view"
LAUNCH = "training.launch"


def _fetch(queryset: QuerySet, *, user, pk, capability: str, workspace_path: str, workspace_of) -> Model:
    return fetch_in_workspace(queryset, user=user, pk=pk, view_capability=VIEW, capability=capability,
                              workspace_path=workspace_path, workspace_of=workspace_of)


def access_training_workspace(user, workspace_id, *, capability: str = LAUNCH) -> Workspace:
    """The workspace a new run or base model goes into."""
    return _fetch(Workspace.objects.all(), user=user, pk=workspace_id, capability=capability, workspace_path="pk",
                  workspace_of=lambda workspace: workspace)


def access_training_run(user, run_id, *, capability: str = VIEW) -> TrainingRun:
    runs = TrainingRun.objects.select_related(
        "workspace", "base_model", "dataset_version__dataset", "created_by", "artifact", "resume_from", "parent"
    )
    return _fetch(
        runs,
        user=user,
        pk=run_id,
        capability=capability,
        workspace_path="workspace",
        workspace_of=lambda run: run.workspace,
    )


def access_base_model(user, base_model_id, *, capability: str = VIEW) -> BaseModel:
    return _fetch(BaseModel.objects.select_related("workspace"), user=user, pk=base_model_id, capability=capability,
                  workspace_path="workspace", workspace_of=lambda base_model: base_model.workspace)


def access_model_artifact(user, artifact_id, *, capability: str = VIEW) -> ModelArtifact:
    artifacts = ModelArtifact.objects.select_related("workspace", "base_model", "run", "dataset_version__dataset")
    return _fetch(artifacts, user=user, pk=artifact_id, capability=capability, workspace_path="workspace",
                  workspace_of=lambda artifact: artifact.workspace)

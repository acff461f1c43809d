"""Permission-checked fetches for the datahub.

Every fetch first narrows to workspaces where the user may view data: a row that is missing and a row the
user may not see both raise Http404, so ids leak nothing. Asking for a stronger capability (data.edit) on
a row the user can see but not change raises PermissionDenied (403): that tells them nothing new.
"""

from django.db.models import Model, QuerySet

from accounts.access import fetch_in_workspace
from accounts.models import Workspace
from datahub.models import Dataset, DatasetVersion, ImportJob, Source

VIEW = "data.view"
EDIT = "data.edit"


def _fetch(queryset: QuerySet, *, user, pk, capability: str, workspace_path: str, workspace_of) -> Model:
    return fetch_in_workspace(queryset, user=user, pk=pk, view_capability=VIEW, capability=capability,
                              workspace_path=workspace_path, workspace_of=workspace_of)


def access_data_workspace(user, workspace_id, *, capability: str = VIEW) -> Workspace:
    """The workspace a new source or dataset goes into."""
    return _fetch(Workspace.objects.all(), user=user, pk=workspace_id, capability=capability, workspace_path="pk",
                  workspace_of=lambda workspace: workspace)


def access_source(user, source_id, *, capability: str = VIEW) -> Source:
    return _fetch(Source.objects.select_related("workspace"), user=user, pk=source_id, capability=capability,
                  workspace_path="workspace", workspace_of=lambda source: source.workspace)


def access_dataset(user, dataset_id, *, capability: str = VIEW) -> Dataset:
    return _fetch(Dataset.objects.select_related("workspace"), user=user, pk=dataset_id, capability=capability,
                  workspace_path="workspace", workspace_of=lambda dataset: dataset.workspace)


def access_import_job(user, import_job_id, *, capability: str = VIEW) -> ImportJob:
    return _fetch(
        ImportJob.objects.select_related("dataset__workspace", "source"),
        user=user,
        pk=import_job_id,
        capability=capability,
        workspace_path="dataset__workspace",
        workspace_of=lambda job: job.dataset.workspace,
    )


def access_version(user, version_id, *, capability: str = VIEW) -> DatasetVersion:
    return _fetch(
        DatasetVersion.objects.select_related("dataset__workspace", "parent", "created_by"),
        user=user,
        pk=version_id,
        capability=capability,
        workspace_path="dataset__workspace",
        workspace_of=lambda version: version.dataset.workspace,
    )

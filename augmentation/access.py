"""Permission-checked fetches of augmentation, mixing and grading rows: data.view to see, data.edit to change.

Missing and unseen rows both raise Http404; a stronger capability the user lacks on a visible row raises
PermissionDenied.
"""

from accounts.access import fetch_in_workspace
from augmentation.models import AugmentationRun, GradingRun, MixRun, SynonymTable
from datahub.access import EDIT, VIEW

__all__ = ["EDIT", "VIEW", "access_augmentation_run", "access_grading_run", "access_mix_run", "access_synonym_table"]


def access_augmentation_run(user, run_id, *, capability: str = VIEW) -> AugmentationRun:
    return fetch_in_workspace(
        AugmentationRun.objects.select_related("version__dataset__workspace", "endpoint", "result_version"),
        user=user,
        pk=run_id,
        view_capability=VIEW,
        capability=capability,
        workspace_path="version__dataset__workspace",
        workspace_of=lambda run: run.version.dataset.workspace,
    )


def access_mix_run(user, run_id, *, capability: str = VIEW) -> MixRun:
    return fetch_in_workspace(
        MixRun.objects.select_related("dataset__workspace", "result_version"),
        user=user,
        pk=run_id,
        view_capability=VIEW,
        capability=capability,
        workspace_path="dataset__workspace",
        workspace_of=lambda run: run.dataset.workspace,
    )


def access_grading_run(user, run_id, *, capability: str = VIEW) -> GradingRun:
    return fetch_in_workspace(GradingRun.objects.select_related("source__workspace", "endpoint"), user=user, pk=run_id,
                              view_capability=VIEW, capability=capability, workspace_path="source__workspace",
                              workspace_of=lambda run: run.source.workspace)


def access_synonym_table(user, table_id, *, capability: str = VIEW) -> SynonymTable:
    return fetch_in_workspace(
        SynonymTable.objects.select_related("workspace"),
        user=user,
        pk=table_id,
        view_capability=VIEW,
        capability=capability,
    )

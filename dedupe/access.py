"""Permission-checked fetches for dedupe runs: data.view to look, data.edit to start, override and apply.

Missing and forbidden both raise Http404 (ids leak nothing); a viewer asking to change raises PermissionDenied.
"""

from accounts.access import fetch_in_workspace
from datahub.access import EDIT, VIEW
from dedupe.models import DedupeDecision, DedupeRun

__all__ = ["EDIT", "VIEW", "access_dedupe_run", "access_dedupe_decision"]


def access_dedupe_run(user, run_id, *, capability: str = VIEW) -> DedupeRun:
    return fetch_in_workspace(
        DedupeRun.objects.select_related("dataset__workspace", "version", "applied_version", "created_by"),
        user=user,
        pk=run_id,
        view_capability=VIEW,
        capability=capability,
        workspace_path="dataset__workspace",
        workspace_of=lambda run: run.dataset.workspace,
    )


def access_dedupe_decision(user, decision_id, *, capability: str = VIEW) -> DedupeDecision:
    return fetch_in_workspace(
        DedupeDecision.objects.select_related("run__dataset__workspace"),
        user=user,
        pk=decision_id,
        view_capability=VIEW,
        capability=capability,
        workspace_path="run__dataset__workspace",
        workspace_of=lambda decision: decision.run.dataset.workspace,
    )

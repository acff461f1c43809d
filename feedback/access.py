"""Permission-checked fetches for production feedback. Missing and forbidden both raise Http404, so ids leak nothing.

Capabilities (accounts/capabilities.py): "feedback.view" reads the dashboard and events, "feedback.manage" sets up
sources and tokens and turns events into datasets, "feedback.pick" uses the best-of-N workbench.
"""

from django.http import Http404

from accounts.access import fetch_in_workspace, scope_to_capability
from accounts.models import Workspace
from feedback.models import FeedbackIngestToken, FeedbackSource, WorkbenchDraft

VIEW = "feedback.view"
MANAGE = "feedback.manage"
PICK = "feedback.pick"


def access_feedback_workspace(user, workspace_id, *, capability: str = VIEW) -> Workspace:
    if workspace_id is None or not str(workspace_id).isdigit():
        raise Http404
    workspace = (
        scope_to_capability(Workspace.objects.all(), user=user, capability=capability, workspace_path="pk")
        .filter(pk=workspace_id)
        .first()
    )
    if workspace is None:
        raise Http404
    return workspace


def access_feedback_source(user, source_id, *, capability: str = VIEW) -> FeedbackSource:
    return fetch_in_workspace(FeedbackSource.objects.select_related("workspace"), user=user, pk=source_id,
                              view_capability=VIEW, capability=capability)


def access_feedback_token(user, token_id) -> FeedbackIngestToken:
    return fetch_in_workspace(FeedbackIngestToken.objects.select_related("source__workspace"), user=user, pk=token_id,
                              view_capability=VIEW, capability=MANAGE, workspace_path="source__workspace",
                              workspace_of=lambda token: token.source.workspace)


def access_workbench_draft(user, draft_id) -> WorkbenchDraft:
    """Only the agent who asked for the candidates may pick among them."""
    if draft_id is None or not str(draft_id).isdigit():
        raise Http404
    draft = WorkbenchDraft.objects.select_related("workspace").filter(pk=draft_id, agent=user).first()
    if draft is None:
        raise Http404
    return draft

"""Permission-checked fetches of scorecards and slots: outside the workspaces where the user holds release.view a row
is missing (404, like a wrong id); a stronger capability (release.manage, release.override) the user lacks on a row
they can see is a 403."""

from accounts.access import fetch_in_workspace
from releases.models import Deployment, Scorecard

VIEW = "release.view"


def access_scorecard(user, scorecard_id, *, capability: str = VIEW) -> Scorecard:
    return fetch_in_workspace(
        Scorecard.objects.select_related("workspace", "artifact__base_model", "artifact__run", "baseline"),
        user=user, pk=scorecard_id, view_capability=VIEW, capability=capability)


def access_deployment(user, deployment_id, *, capability: str = VIEW) -> Deployment:
    return fetch_in_workspace(
        Deployment.objects.select_related("workspace", "production_base_model", "production_artifact__base_model",
                                          "candidate_base_model", "candidate_artifact__base_model",
                                          "previous_base_model", "previous_artifact"),
        user=user, pk=deployment_id, view_capability=VIEW, capability=capability)


def access_deployment_for_assist(user, deployment_id) -> Deployment:
    """A slot whose assist workbench the user may use: feedback.pick in its workspace (agents hold it without
    release.view)."""
    return fetch_in_workspace(
        Deployment.objects.select_related("workspace", "production_base_model", "production_artifact__base_model",
                                          "candidate_base_model", "candidate_artifact__base_model"),
        user=user, pk=deployment_id, view_capability="feedback.pick", capability="feedback.pick")

"""The release decision in the browser: the model registry, a model's page with its lineage both ways, the scorecard
(printable) and the workspace's scorecard weights. Deployment slots and the release gate are in
frontend/views/deployments.py, under the same addresses.

The same services and selectors as releases/api/views.py; forms play the input serializer's part.
"""

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import path
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_POST

from accounts.access import access_workspace, user_can
from common.errors import ApplicationError
from frontend.views import deployments
from releases.access import access_scorecard
from releases.lineage import model_lineage, model_registry
from releases.scoring import DIMENSION_LABELS, DIMENSIONS, READY_TO_SHIP, RULES
from releases.selectors import scorecard_weights
from releases.services.scorecards import release_policy_set, scorecard_create
from training.access import access_base_model, access_model_artifact

app_name = "releases"
MANAGE = "release.manage"


@login_required
@require_GET
def registry_view(request):
    if not user_can(request.user, "training.view"):
        raise Http404
    rows = model_registry(user=request.user)
    return render(request, "frontend/releases/registry.html", {"rows": rows})


def _model_page(request, model, kind: str):
    lineage = model_lineage(model=model)
    context = {"lineage": lineage, "model": model, "kind": kind,
               "can_score": kind == "artifact" and user_can(request.user, MANAGE, model.workspace),
               "can_read_results": user_can(request.user, "study.view_results", model.workspace)
               or user_can(request.user, "study.manage", model.workspace)}
    return render(request, "frontend/releases/model_detail.html", context)


@login_required
@require_GET
def artifact_detail_view(request, artifact_id: int):
    return _model_page(request, access_model_artifact(request.user, artifact_id), "artifact")


@login_required
@require_GET
def base_model_detail_view(request, base_model_id: int):
    return _model_page(request, access_base_model(request.user, base_model_id), "base_model")


@login_required
@require_POST
def scorecard_create_view(request, artifact_id: int):
    artifact = access_model_artifact(request.user, artifact_id)
    if not user_can(request.user, MANAGE, artifact.workspace):
        raise PermissionDenied
    try:
        scorecard = scorecard_create(artifact=artifact, created_by=request.user)
    except ApplicationError as error:
        messages.error(request, error.message)
        return redirect("releases:artifact-detail", artifact_id=artifact.pk)
    messages.success(request, _("Scorecard queued: the evidence is gathered and the model measured now."))
    return redirect("releases:scorecard-detail", scorecard_id=scorecard.pk)


@login_required
@require_GET
def scorecard_detail_view(request, scorecard_id: int):
    scorecard = access_scorecard(request.user, scorecard_id)
    by_key = {d["key"]: d for d in scorecard.dimensions}
    rows = [{"key": key, "label": DIMENSION_LABELS[key], "rule": RULES[key], "weight": scorecard.weights.get(key),
             "dimension": by_key.get(key)} for key in DIMENSIONS]
    missing = [row["label"] for row in rows if row["dimension"] is not None and row["dimension"]["score"] is None]
    context = {"scorecard": scorecard, "rows": rows, "missing": missing, "ready_at": READY_TO_SHIP,
               "in_progress": scorecard.status in ("queued", "running"),
               "can_score": user_can(request.user, MANAGE, scorecard.workspace)}
    return render(request, "frontend/releases/scorecard_detail.html", context)


class WeightsForm(forms.Form):
    task = forms.FloatField(label=DIMENSION_LABELS["task"], min_value=0, max_value=100)
    general = forms.FloatField(label=DIMENSION_LABELS["general"], min_value=0, max_value=100)
    speed = forms.FloatField(label=DIMENSION_LABELS["speed"], min_value=0, max_value=100)
    resources = forms.FloatField(label=DIMENSION_LABELS["resources"], min_value=0, max_value=100)
    deployability = forms.FloatField(label=DIMENSION_LABELS["deployability"], min_value=0, max_value=100)

    help_text = gettext_lazy("Percent of the total; the five add up to 100. Each new scorecard keeps the weights it "
                             "was computed with.")


@login_required
def weights_view(request, workspace_id: int):
    workspace = access_workspace(request.user, workspace_id, capability="release.view")
    can_edit = user_can(request.user, MANAGE, workspace)
    initial = {key: round(value * 100, 4) for key, value in scorecard_weights(workspace=workspace).items()}
    form = WeightsForm(request.POST or None, initial=initial)
    if request.method == "POST":
        if not can_edit:
            raise PermissionDenied
        if form.is_valid():
            try:
                release_policy_set(workspace=workspace, updated_by=request.user,
                                   weights={key: value / 100 for key, value in form.cleaned_data.items()})
            except ApplicationError as error:
                form.add_error(None, error.message)
            else:
                messages.success(request, _("Weights saved; new scorecards use them."))
                return redirect("releases:weights", workspace_id=workspace.pk)
    return render(request, "frontend/releases/weights.html",
                  {"workspace": workspace, "form": form, "can_edit": can_edit, "rules": [
                      (DIMENSION_LABELS[key], RULES[key]) for key in DIMENSIONS]})


urlpatterns = [
    path("", registry_view, name="registry"),
    path("artifacts/<int:artifact_id>/", artifact_detail_view, name="artifact-detail"),
    path("artifacts/<int:artifact_id>/scorecard/", scorecard_create_view, name="scorecard-create"),
    path("base-models/<int:base_model_id>/", base_model_detail_view, name="base-model-detail"),
    path("scorecards/<int:scorecard_id>/", scorecard_detail_view, name="scorecard-detail"),
    path("weights/<int:workspace_id>/", weights_view, name="weights"),
    *deployments.urlpatterns,
]

"""Deployment slots in the browser: the list with the create form, and a slot's page: its models, the traffic split,
the release gate with each condition's state and reason, promotion (or an admin's override with a reason), rollback
and the history. Mounted under frontend/views/releases.py's addresses.

The same services and selectors as releases/api/views.py.
"""

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import path
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from accounts.access import user_can
from common.errors import ApplicationError
from evaluation.selectors import study_model_choices
from feedback.selectors import assist_support_rates
from releases.access import access_deployment
from releases.gate import deployment_gate
from releases.selectors import deployment_history, deployment_list_for_user
from releases.services.deployments import (
    REASON_MIN,
    deployment_candidate_set,
    deployment_create,
    deployment_promote,
    deployment_rollback,
)

MANAGE = "release.manage"


def _choices(base_models, artifacts) -> tuple[list, dict]:
    models = {f"base:{m.pk}": m for m in base_models} | {f"artifact:{a.pk}": a for a in artifacts}
    choices = [(f"base:{m.pk}", f"{m.name} · {m.workspace.name}") for m in base_models]
    choices += [(f"artifact:{a.pk}", f"{a.name} ({a.get_kind_display()}) · {a.workspace.name}") for a in artifacts]
    return choices, models


class DeploymentCreateForm(forms.Form):
    name = forms.SlugField(label=gettext_lazy("Slot name"), max_length=100,
                           help_text=gettext_lazy("What apps send as model, e.g. support-bot."))
    production = forms.ChoiceField(label=gettext_lazy("Production model"))

    def __init__(self, *args, base_models, artifacts, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["production"].choices, self.models = _choices(base_models, artifacts)


class CandidateForm(forms.Form):
    candidate = forms.ChoiceField(label=gettext_lazy("Candidate"), required=False)
    candidate_share = forms.FloatField(label=gettext_lazy("Share of end users (%)"), min_value=0, max_value=100,
                                       initial=10)
    support_band_low = forms.FloatField(
        label=gettext_lazy("Gate: support-rate interval above (%)"), min_value=0, max_value=99, initial=50)

    def __init__(self, *args, base_models, artifacts, **kwargs):
        super().__init__(*args, **kwargs)
        choices, self.models = _choices(base_models, artifacts)
        self.fields["candidate"].choices = [("", _("none")), *choices]


def _model_choices(request, workspace):
    base_models, artifacts = study_model_choices(user=request.user)
    return ([m for m in base_models if m.workspace_id == workspace.pk],
            [a for a in artifacts if a.workspace_id == workspace.pk])


@login_required
def deployment_list_view(request):
    if not user_can(request.user, "release.view"):
        raise Http404
    form = None
    if user_can(request.user, MANAGE):
        base_models, artifacts = study_model_choices(user=request.user)
        form = DeploymentCreateForm(request.POST or None, base_models=base_models, artifacts=artifacts)
        if request.method == "POST" and form.is_valid():
            production = form.models[form.cleaned_data["production"]]
            if not user_can(request.user, MANAGE, production.workspace):
                raise Http404
            try:
                deployment = deployment_create(workspace=production.workspace, name=form.cleaned_data["name"],
                                               production=production, created_by=request.user)
            except ApplicationError as error:
                form.add_error("name" if error.where == "name" else None, error.message)
            else:
                return redirect("releases:deployment-detail", deployment_id=deployment.pk)
    elif request.method == "POST":
        raise Http404
    return render(request, "frontend/releases/deployment_list.html",
                  {"deployments": deployment_list_for_user(user=request.user), "form": form})


@login_required
def deployment_detail_view(request, deployment_id: int):
    deployment = access_deployment(request.user, deployment_id)
    can_manage = user_can(request.user, MANAGE, deployment.workspace)
    form = None
    if can_manage:
        base_models, artifacts = _model_choices(request, deployment.workspace)
        candidate = deployment.candidate
        initial = {"candidate": (f"artifact:{candidate.pk}" if hasattr(candidate, "kind") else f"base:{candidate.pk}")
                   if candidate is not None else "",
                   "candidate_share": round(deployment.candidate_share * 100, 4),
                   "support_band_low": round(deployment.support_band_low * 100, 4)}
        form = CandidateForm(request.POST or None, initial=initial, base_models=base_models, artifacts=artifacts)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                deployment_candidate_set(deployment=deployment, candidate=form.models.get(data["candidate"]),
                                         share=data["candidate_share"] / 100,
                                         support_band_low=data["support_band_low"] / 100, set_by=request.user)
            except ApplicationError as error:
                form.add_error("candidate" if error.where == "candidate" else None, error.message)
            else:
                messages.success(request, _("Candidate saved."))
                return redirect("releases:deployment-detail", deployment_id=deployment.pk)
    elif request.method == "POST":
        raise Http404
    context = {"deployment": deployment, "gate": deployment_gate(deployment=deployment), "form": form,
               "can_manage": can_manage, "reason_min": REASON_MIN,
               "can_override": user_can(request.user, "release.override", deployment.workspace),
               "history": deployment_history(deployment=deployment)[:50],
               "assist": assist_support_rates(workspace=deployment.workspace, deployment_id=deployment.pk)}
    return render(request, "frontend/releases/deployment_detail.html", context)


@login_required
@require_POST
def deployment_promote_view(request, deployment_id: int):
    deployment = access_deployment(request.user, deployment_id, capability=MANAGE)
    try:
        deployment_promote(deployment=deployment, promoted_by=request.user,
                           override_reason=request.POST.get("override_reason", ""))
    except ApplicationError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, _("Promoted: the candidate is the production model now."))
    return redirect("releases:deployment-detail", deployment_id=deployment.pk)


@login_required
@require_POST
def deployment_rollback_view(request, deployment_id: int):
    deployment = access_deployment(request.user, deployment_id, capability=MANAGE)
    try:
        deployment_rollback(deployment=deployment, rolled_back_by=request.user)
    except ApplicationError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, _("Rolled back to the previous production model."))
    return redirect("releases:deployment-detail", deployment_id=deployment.pk)


urlpatterns = [
    path("deployments/", deployment_list_view, name="deployment-list"),
    path("deployments/<int:deployment_id>/", deployment_detail_view, name="deployment-detail"),
    path("deployments/<int:deployment_id>/promote/", deployment_promote_view, name="deployment-promote"),
    path("deployments/<int:deployment_id>/rollback/", deployment_rollback_view, name="deployment-rollback"),
]

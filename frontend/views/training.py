"""Browser pages of training: runs with live loss and log, launching a run, registering a base model.

Forms play the input serializer's part; every change goes through the same services as the API, and
every fetch through training.access, so the pages hold no rules of their own.
"""

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.urls import path
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_POST

from accounts.access import user_can
from common.errors import ApplicationError
from training.access import LAUNCH, access_training_run, access_training_workspace
from training.models import TrainingRun
from training.selectors import (
    base_model_choices,
    base_model_list,
    dataset_version_choices,
    model_artifact_list,
    training_run_list,
    training_run_log_tail,
    training_workspaces_for,
)
from training.services.base_models import base_model_register
from training.services.hyperparameters import HYPERPARAMETERS, hyperparameter_defaults
from training.services.runs import training_run_cancel, training_run_create

app_name = "training"

RUNS_PER_PAGE = 25
LIST_LIMIT = 50


# ---------------------------------------------------------------- forms


class VersionChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, version):
        return _("%(workspace)s / %(dataset)s v%(number)s (%(train)s train, %(validation)s validation)") % {
            "workspace": version.dataset.workspace.name, "dataset": version.dataset.name, "number": version.number,
            "train": version.counts.get("train", 0), "validation": version.counts.get("validation", 0)}


class BaseModelChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, base_model):
        return f"{base_model.workspace.name} / {base_model.name}"


class RunForm(forms.Form):
    """The run's name, model, data and adapter, then one field per hyperparameter with its recommended range."""

    name = forms.CharField(max_length=200, label=gettext_lazy("Name"))
    # No blank choice: with one model or one version (the usual start) it is already chosen.
    base_model = BaseModelChoiceField(queryset=None, empty_label=None, label=gettext_lazy("Base model"))
    dataset_version = VersionChoiceField(queryset=None, empty_label=None, label=gettext_lazy("Dataset version"))
    adapter = forms.ChoiceField(choices=[(TrainingRun.Adapter.LORA, TrainingRun.Adapter.LORA.label)], label=gettext_lazy("Adapter"),
                                help_text=gettext_lazy("LoRA: small trainable matrices on every linear layer; "
                                                       "the base weights stay frozen."))

    def __init__(self, *args, workspace_ids, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["base_model"].queryset = base_model_choices(workspace_ids=workspace_ids)
        self.fields["dataset_version"].queryset = dataset_version_choices(workspace_ids=workspace_ids)
        defaults = hyperparameter_defaults()
        for spec in HYPERPARAMETERS:
            field_class = forms.IntegerField if spec.kind is int else forms.FloatField
            # max_length depends on the model chosen: left empty, the service caps its default at the model's context.
            initial = None if spec.name == "max_length" else defaults[spec.name]
            placeholder = _("%(default)s or the model's context, if shorter") % {"default": defaults[spec.name]} if initial is None else ""
            self.fields[spec.name] = field_class(
                label=spec.label, initial=initial, min_value=spec.minimum, max_value=spec.maximum, required=False,
                help_text=spec.recommended, widget=forms.NumberInput(attrs={"step": "any", "placeholder": placeholder}),
            )

    def hyperparameters(self) -> dict:
        return {spec.name: self.cleaned_data[spec.name] for spec in HYPERPARAMETERS if self.cleaned_data.get(spec.name) is not None}

    def hyperparameter_fields(self):
        return [self[spec.name] for spec in HYPERPARAMETERS]

    def setup_fields(self):
        return [self[name] for name in ("name", "base_model", "dataset_version", "adapter")]


class BaseModelForm(forms.Form):
    workspace = forms.ModelChoiceField(queryset=None, label=gettext_lazy("Workspace"))
    name = forms.CharField(max_length=200, label=gettext_lazy("Name"))
    path = forms.CharField(max_length=500, label=gettext_lazy("Path on the server"),
                           help_text=gettext_lazy("A model directory with config.json, weights and tokenizer: absolute, or relative to "
                                                  "the storage root."))

    def __init__(self, *args, workspaces, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["workspace"].queryset = workspaces


def _add_service_error(form: forms.Form, exc: ApplicationError) -> None:
    """Show a service's error beside the field it names ("hyperparameters.lora_r" → lora_r), or above the form."""
    field = exc.where.removeprefix("hyperparameters.")
    form.add_error(field if field in form.fields else None, exc.message)


# ---------------------------------------------------------------- pages


def _list_context(request, *, base_model_form=None) -> dict:
    launchable = training_workspaces_for(user=request.user, capability=LAUNCH)
    runs = Paginator(training_run_list(user=request.user), RUNS_PER_PAGE).get_page(request.GET.get("page"))
    return {
        "runs": runs,
        "base_models": base_model_list(user=request.user)[:LIST_LIMIT],
        "artifacts": model_artifact_list(user=request.user)[:LIST_LIMIT],
        "can_launch": launchable.exists(),
        "base_model_form": base_model_form or BaseModelForm(workspaces=launchable, prefix="base_model"),
    }


@login_required
@require_GET
def run_list_view(request):
    return render(request, "frontend/training/run_list.html", _list_context(request))


@login_required
@require_POST
def base_model_create_view(request):
    launchable = training_workspaces_for(user=request.user, capability=LAUNCH)
    form = BaseModelForm(request.POST, workspaces=launchable, prefix="base_model")
    if form.is_valid():
        workspace = access_training_workspace(request.user, form.cleaned_data["workspace"].pk, capability=LAUNCH)
        try:
            base_model = base_model_register(workspace=workspace, name=form.cleaned_data["name"], path=form.cleaned_data["path"],
                                             registered_by=request.user)
        except ApplicationError as exc:
            _add_service_error(form, exc)
        else:
            messages.success(request, _("Base model “%(name)s” registered.") % {"name": base_model.name})
            for warning in base_model.warnings:
                messages.warning(request, warning)
            return redirect("training:run-list")
    return render(request, "frontend/training/run_list.html", _list_context(request, base_model_form=form), status=400)


@login_required
def run_new_view(request):
    workspace_ids = list(training_workspaces_for(user=request.user, capability=LAUNCH).values_list("pk", flat=True))
    if not workspace_ids:
        messages.error(request, _("You may not launch training runs in any workspace."))
        return redirect("training:run-list")
    initial = {key: request.GET[key] for key in ("base_model", "dataset_version") if request.GET.get(key, "").isdigit()}
    form = RunForm(request.POST or None, workspace_ids=workspace_ids, initial=initial)
    if request.method == "POST" and form.is_valid():
        base_model = form.cleaned_data["base_model"]
        workspace = access_training_workspace(request.user, base_model.workspace_id, capability=LAUNCH)
        try:
            run = training_run_create(workspace=workspace, name=form.cleaned_data["name"], base_model=base_model,
                                      dataset_version=form.cleaned_data["dataset_version"], adapter=form.cleaned_data["adapter"],
                                      hyperparameters=form.hyperparameters(), created_by=request.user)
        except ApplicationError as exc:
            _add_service_error(form, exc)
        else:
            messages.success(request, _("Run “%(name)s” queued.") % {"name": run.name})
            return redirect("training:run-detail", run_id=run.pk)
    return render(request, "frontend/training/run_new.html", {"form": form}, status=400 if form.errors else 200)


def _status_context(request, run) -> dict:
    return {
        "run": run,
        "artifact": getattr(run, "artifact", None),
        "log_tail": training_run_log_tail(run=run),
        "can_launch": user_can(request.user, LAUNCH, run.workspace),
        "is_finished": run.status in (TrainingRun.Status.SUCCEEDED, TrainingRun.Status.FAILED, TrainingRun.Status.CANCELLED),
        "percent": round(run.progress * 100),
    }


@login_required
@require_GET
def run_detail_view(request, run_id: int):
    run = access_training_run(request.user, run_id)
    context = _status_context(request, run)
    context["hyperparameters"] = [(spec.label, run.hyperparameters[spec.name]) for spec in HYPERPARAMETERS
                                  if spec.name in run.hyperparameters]
    return render(request, "frontend/training/run_detail.html", context)


@login_required
@require_GET
def run_status_view(request, run_id: int):
    """The run's live panel (status, progress, log, outcome), polled by htmx while the run is queued or running."""
    run = access_training_run(request.user, run_id)
    return render(request, "frontend/training/_run_status.html", _status_context(request, run))


@login_required
@require_POST
def run_cancel_view(request, run_id: int):
    run = access_training_run(request.user, run_id, capability=LAUNCH)
    try:
        run = training_run_cancel(run=run, cancelled_by=request.user)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        if run.status == TrainingRun.Status.CANCELLED:
            messages.success(request, _("Run cancelled."))
        else:
            messages.success(request, _("Cancelling: the run stops after its current step and keeps what it learned so far."))
    return redirect("training:run-detail", run_id=run.pk)


urlpatterns = [
    path("", run_list_view, name="run-list"),
    path("base-models/new/", base_model_create_view, name="base-model-create"),
    path("runs/new/", run_new_view, name="run-new"),
    path("runs/<int:run_id>/", run_detail_view, name="run-detail"),
    path("runs/<int:run_id>/status/", run_status_view, name="run-status"),
    path("runs/<int:run_id>/cancel/", run_cancel_view, name="run-cancel"),
]

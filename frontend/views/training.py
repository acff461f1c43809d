"""Browser pages of training: runs with live loss and log, launching a run, registering a base model.

Forms play the input serializer's part; every change goes through the same services as the API, and
every fetch through training.access, so the pages hold no rules of their own.
"""

import json

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import path
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_POST

from accounts.access import user_can
from common.errors import ApplicationError
from datahub.access import access_version
from frontend.views import model_exports
from frontend.views.training_forms import BaseModelForm, RetryForm, RunForm
from training.access import (
    LAUNCH,
    access_base_model,
    access_model_artifact,
    access_training_run,
    access_training_workspace,
)
from training.models import TrainingRun
from training.selectors import (
    base_model_list,
    dataset_version_newest_of_kind,
    model_artifact_list,
    training_run_checkpoints,
    training_run_list,
    training_run_log_tail,
    training_runs_compare,
    training_workspaces_for,
)
from training.services.artifacts import model_artifact_zip_name, model_artifact_zip_stream
from training.services.base_models import base_model_register
from training.services.chat_templates import (
    WARNING,
    base_model_template_summary,
    masks_message,
    model_notes,
    template_facts_load,
)
from training.services.hyperparameters import HYPERPARAMETERS
from training.services.merging import model_artifact_merge_request
from training.services.recommendations import training_run_recommend
from training.services.runs import (
    METHOD_RECORD_KIND,
    training_run_cancel,
    training_run_create,
    training_run_preflight,
    training_run_retry,
)

app_name = "training"

RUNS_PER_PAGE = 25
LIST_LIMIT = 50


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
            base_model = base_model_register(
                workspace=workspace,
                name=form.cleaned_data["name"],
                path=form.cleaned_data["path"],
                registered_by=request.user,
            )
        except ApplicationError as exc:
            _add_service_error(form, exc)
        else:
            messages.success(request, _("Base model “%(name)s” registered.") % {"name": base_model.name})
            facts = template_facts_load(base_model.chat_template_facts)
            if facts is not None and facts.turn_end:
                messages.info(
                    request, _("A turn ends with %(token)s: generation stops there.") % {"token": facts.turn_end}
                )
            for note in model_notes(facts=facts, has_chat_template=base_model.has_chat_template):
                (messages.warning if note.level == WARNING else messages.info)(request, note.message)
            return redirect("training:base-model-detail", base_model_id=base_model.pk)
    return render(request, "frontend/training/run_list.html", _list_context(request, base_model_form=form), status=400)


@login_required
@require_GET
def base_model_detail_view(request, base_model_id: int):
    """A base model: what registration found, what its chat template does (end of turn, stop tokens, traps and their
    fixes) and a short conversation as a default SFT run trains it."""
    base_model = access_base_model(request.user, base_model_id)
    try:
        summary = base_model_template_summary(base_model)
    except ApplicationError as exc:
        summary, load_error = None, exc.message
    else:
        load_error = ""
    context = {"base_model": base_model, "summary": summary, "load_error": load_error,
               "can_launch": user_can(request.user, LAUNCH, base_model.workspace)}
    if summary is not None and summary["plan"] is not None:
        context["masks"] = masks_message(summary["plan"], assistant_only_loss=True, method="sft")
    return render(request, "frontend/training/base_model_detail.html", context)


@login_required
def run_new_view(request):
    workspace_ids = list(training_workspaces_for(user=request.user, capability=LAUNCH).values_list("pk", flat=True))
    if not workspace_ids:
        messages.error(request, _("You may not launch training runs in any workspace."))
        return redirect("training:run-list")
    initial = {key: request.GET[key] for key in ("base_model", "dataset_version") if request.GET.get(key, "").isdigit()}
    form = RunForm(request.POST or None, workspace_ids=workspace_ids, initial=initial)
    if request.method != "POST":
        form.initial.update(_method_and_version_initial(form, asked_version=initial.get("dataset_version"),
                                                        asked_method=request.GET.get("method")))
    if request.method == "POST" and form.is_valid():
        base_model = form.cleaned_data["base_model"]
        workspace = access_training_workspace(request.user, base_model.workspace_id, capability=LAUNCH)
        try:
            run = training_run_create(
                workspace=workspace,
                name=form.cleaned_data["name"],
                base_model=base_model,
                dataset_version=form.cleaned_data["dataset_version"],
                method=form.cleaned_data["method"],
                adapter=form.cleaned_data["adapter"],
                hyperparameters=form.hyperparameters(),
                override_memory=form.cleaned_data["override_memory"],
                created_by=request.user,
                probe_prompts=form.probe_prompts_list(),
                probe_test_count=form.cleaned_data.get("probe_test_count") or 0,
                graders=list(form.cleaned_data.get("graders") or []),
            )
        except ApplicationError as exc:
            _add_service_error(form, exc)
        else:
            messages.success(request, _("Run “%(name)s” launched; its status below follows it.") % {"name": run.name})
            return redirect("training:run-detail", run_id=run.pk)
    return render(request, "frontend/training/run_new.html", {"form": form}, status=400 if form.errors else 200)


def _method_and_version_initial(form: RunForm, *, asked_version: str | None, asked_method: str | None) -> dict:
    """What a new run starts with, so that it can launch as it is: the version asked for with the method its records
    fit, or the newest version that fits the method asked for (SFT by default), or else the newest version and its
    method."""
    versions = list(form.fields["dataset_version"].queryset)
    method_of_kind = {}
    for method, kind in METHOD_RECORD_KIND.items():
        method_of_kind.setdefault(kind, method)  # conversations: SFT, not GRPO, unless asked for
    chosen = next((v for v in versions if str(v.pk) == asked_version), None)
    if chosen is None:
        method = asked_method if asked_method in TrainingRun.Method.values else TrainingRun.Method.SFT
        chosen = dataset_version_newest_of_kind(versions, kind=METHOD_RECORD_KIND[method]) or (
            versions[0] if versions else None
        )
    if chosen is None:
        return {}
    if asked_method in METHOD_RECORD_KIND and METHOD_RECORD_KIND[asked_method] == chosen.train_kind:
        return {"dataset_version": chosen.pk, "method": asked_method}
    return {"dataset_version": chosen.pk, "method": method_of_kind.get(chosen.train_kind, TrainingRun.Method.SFT)}


@login_required
@require_POST
def run_preflight_view(request):
    """The run-new page's live panel, re-rendered by htmx as fields change: the memory estimate with its parts and
    the preview of the training text (training_run_preflight, the service the API calls)."""
    workspace_ids = list(training_workspaces_for(user=request.user, capability=LAUNCH).values_list("pk", flat=True))
    form = RunForm(request.POST, workspace_ids=workspace_ids)
    form.is_valid()
    # The name does not change what a run needs; every other field does.
    errors = [error for field, field_errors in form.errors.items()
              if field not in ("name", "override_memory", "probe_prompts", "probe_test_count")
              for error in field_errors]
    context = {"errors": errors, "result": None}
    base_model = form.cleaned_data.get("base_model")
    if not errors and base_model is not None:
        workspace = access_training_workspace(request.user, base_model.workspace_id, capability=LAUNCH)
        try:
            context["result"] = training_run_preflight(
                workspace=workspace,
                base_model=base_model,
                dataset_version=form.cleaned_data["dataset_version"],
                method=form.cleaned_data["method"],
                adapter=form.cleaned_data["adapter"],
                hyperparameters=form.hyperparameters(),
            )
        except ApplicationError as exc:
            context["errors"] = [exc.message]
    if context["result"] is not None:
        parts = context["result"]["memory"]["parts"]
        total = parts["total"] or 1
        context["memory_parts"] = [
            (label, parts[key], round(100 * parts[key] / total)) for key, label in MEMORY_PART_LABELS
        ]
    return render(request, "frontend/training/_preflight.html", context)


@login_required
@require_POST
def run_recommend_view(request):
    """The run-new page's recommendations, re-rendered by htmx as the model, the version or the goal change: each
    setting recommended from the data and the model with its reason, and the warnings
    (training.services.recommendations, the service the API and `train --recommend` call)."""
    context = {"goals": [(goal, label) for goal, label in GOAL_LABELS], "goal": request.POST.get("goal", "")}
    base_model_id, version_id = request.POST.get("base_model", ""), request.POST.get("dataset_version", "")
    if not (base_model_id.isdigit() and version_id.isdigit()):
        return render(request, "frontend/training/_recommendations.html", context)
    base_model = access_base_model(request.user, base_model_id)
    version = access_version(request.user, version_id)
    chosen = {name: int(request.POST[name]) for name in ("lora_r", "max_length")
              if request.POST.get(name, "").isdigit()}
    try:
        result = training_run_recommend(version=version, base_model=base_model, goal=context["goal"] or None,
                                        chosen=chosen)
    except ApplicationError as exc:
        context["error"] = exc.message
        return render(request, "frontend/training/_recommendations.html", context)
    labels = {spec.name: spec.label for spec in HYPERPARAMETERS}
    labels |= {"goal": _("Goal"), "adapter": _("Adapter")}
    shown = {"goal": dict(GOAL_LABELS), "adapter": dict(TrainingRun.Adapter.choices)}
    context["result"] = result
    context["items"] = [(labels.get(item["name"], item["name"]), shown.get(item["name"], {}).get(item["value"],
                                                                                                  item["value"]),
                         item["reason"]) for item in result["items"]]
    context["apply"] = json.dumps({"adapter": result["adapter"], **result["hyperparameters"]})
    return render(request, "frontend/training/_recommendations.html", context)


GOAL_LABELS = [
    ("style", gettext_lazy("Style (tone, format)")),
    ("knowledge", gettext_lazy("Knowledge (a domain)")),
    ("reasoning", gettext_lazy("Complex reasoning")),
]


MEMORY_PART_LABELS = [
    ("weights", gettext_lazy("Weights")),
    ("trainable", gettext_lazy("Trainable parameters and optimizer")),
    ("activations", gettext_lazy("Activations")),
    ("logits", gettext_lazy("Logits")),
    ("overhead", gettext_lazy("Runtime overhead")),
]


def _status_context(request, run) -> dict:
    is_finished = run.status in (TrainingRun.Status.SUCCEEDED, TrainingRun.Status.FAILED, TrainingRun.Status.CANCELLED)
    checkpoints = training_run_checkpoints(run=run) if is_finished else []
    return {
        "run": run,
        "artifact": getattr(run, "artifact", None),
        "log_tail": training_run_log_tail(run=run),
        "can_launch": user_can(request.user, LAUNCH, run.workspace),
        "is_finished": run.status
        in (TrainingRun.Status.SUCCEEDED, TrainingRun.Status.FAILED, TrainingRun.Status.CANCELLED),
        "percent": round(run.progress * 100),
        "checkpoints": checkpoints,
        "checkpoints_last": checkpoints[-1] if checkpoints else None,
    }


@login_required
@require_GET
def run_detail_view(request, run_id: int):
    run = access_training_run(request.user, run_id)
    context = _status_context(request, run)
    context["hyperparameters"] = [(spec.label, run.hyperparameters[spec.name]) for spec in HYPERPARAMETERS
                                  if spec.name in run.hyperparameters]
    # A run made by the OpenAI-compatible fine-tuning API links back to its job.
    context["fine_tuning_job"] = run.fine_tuning_jobs.values_list("public_id", flat=True).first()
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
            messages.success(
                request, _("Cancelling: the run stops after its current step and keeps what it learned so far.")
            )
    return redirect("training:run-detail", run_id=run.pk)


@login_required
def run_retry_view(request, run_id: int):
    """Retry a finished run with edited hyperparameters (optionally resuming from its last checkpoint)."""
    run = access_training_run(request.user, run_id, capability=LAUNCH)
    form = RetryForm(request.POST or None, run=run)
    if request.method == "POST" and form.is_valid():
        try:
            new_run = training_run_retry(
                run=run,
                hyperparameters=form.hyperparameters(),
                resume=form.cleaned_data["resume"],
                name=form.cleaned_data["name"],
                override_memory=form.cleaned_data["override_memory"],
                created_by=request.user,
            )
        except ApplicationError as exc:
            _add_service_error(form, exc)
        else:
            messages.success(
                request, _("Run “%(name)s” launched; its status below follows it.") % {"name": new_run.name}
            )
            return redirect("training:run-detail", run_id=new_run.pk)
    can_resume = run.status in (TrainingRun.Status.CANCELLED, TrainingRun.Status.FAILED) and bool(
        training_run_checkpoints(run=run)
    )
    return render(request, "frontend/training/run_retry.html", {"form": form, "run": run, "can_resume": can_resume},
                  status=400 if form.errors else 200)


@login_required
@require_POST
def run_resume_view(request, run_id: int):
    """Resume a cancelled or failed run from its last checkpoint, as a new run linked to it."""
    run = access_training_run(request.user, run_id, capability=LAUNCH)
    try:
        new_run = training_run_retry(run=run, resume=True, created_by=request.user)
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return redirect("training:run-detail", run_id=run.pk)
    messages.success(request, _("Run “%(name)s” launched; its status below follows it.") % {"name": new_run.name})
    return redirect("training:run-detail", run_id=new_run.pk)


@login_required
@require_POST
def artifact_merge_view(request, artifact_id: int):
    artifact = access_model_artifact(request.user, artifact_id, capability=LAUNCH)
    try:
        model_artifact_merge_request(artifact=artifact, requested_by=request.user)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(
            request,
            _("Merging “%(name)s” into its base model; the merged model appears in the list when done.")
            % {"name": artifact.name},
        )
    return redirect("training:run-list")


@login_required
@require_GET
def artifact_download_view(request, artifact_id: int):
    artifact = access_model_artifact(request.user, artifact_id)
    try:
        chunks = model_artifact_zip_stream(artifact=artifact)
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return redirect("training:run-list")
    response = StreamingHttpResponse(chunks, content_type="application/zip")
    response["Content-Disposition"] = f'attachment; filename="{model_artifact_zip_name(artifact)}"'
    return response


@login_required
@require_GET
def run_compare_view(request):
    """Runs side by side: overlaid loss curves and final metrics. ?run=<id> repeated (the run list's checkboxes)."""
    run_ids = [int(value) for value in request.GET.getlist("run") if value.isdigit()]
    compared = training_runs_compare(user=request.user, run_ids=run_ids)
    for entry in compared:
        # "rewards/accuracies" cannot be looked up in a template.
        entry["accuracy"] = entry["final"].get("rewards/accuracies")
    chart = [{"name": entry["run"].name, "series": entry["series"]} for entry in compared]
    return render(request, "frontend/training/run_compare.html", {"compared": compared, "chart": chart})


urlpatterns = [
    path("", run_list_view, name="run-list"),
    path("base-models/new/", base_model_create_view, name="base-model-create"),
    path("base-models/<int:base_model_id>/", base_model_detail_view, name="base-model-detail"),
    path("runs/new/", run_new_view, name="run-new"),
    path("runs/compare/", run_compare_view, name="run-compare"),
    path("runs/preflight/", run_preflight_view, name="run-preflight"),
    path("runs/recommend/", run_recommend_view, name="run-recommend"),
    path("runs/<int:run_id>/", run_detail_view, name="run-detail"),
    path("runs/<int:run_id>/status/", run_status_view, name="run-status"),
    path("runs/<int:run_id>/cancel/", run_cancel_view, name="run-cancel"),
    path("runs/<int:run_id>/retry/", run_retry_view, name="run-retry"),
    path("runs/<int:run_id>/resume/", run_resume_view, name="run-resume"),
    path("artifacts/<int:artifact_id>/download/", artifact_download_view, name="artifact-download"),
    path("artifacts/<int:artifact_id>/merge/", artifact_merge_view, name="artifact-merge"),
    path("artifacts/<int:artifact_id>/", model_exports.artifact_detail_view, name="artifact-detail"),
    path("artifacts/<int:artifact_id>/exports/", model_exports.artifact_export_view, name="artifact-export"),
]

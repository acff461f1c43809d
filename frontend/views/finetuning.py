"""Browser pages of the fine-tuning API: "New fine-tuning job" (as on a hosted platform) and a job's page with its
model id and a ready-to-copy Python snippet. The same services as /v1/fine_tuning/jobs; the training run behind the
job has its own page with the live loss."""

from datetime import UTC, datetime

from django import forms
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import path
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts.access import user_can
from common.errors import ApplicationError
from finetuning.access import access_fine_tuning_job_page
from finetuning.models import FineTuningJob
from finetuning.selectors import job_checkpoints, job_events, job_object
from finetuning.services.files import fine_tuning_file_create, fine_tuning_file_from_version
from finetuning.services.jobs import BASE_LEARNING_RATE, fine_tuning_job_create
from frontend.views.training_forms import BaseModelChoiceField, VersionChoiceField
from training.access import LAUNCH, access_training_workspace
from training.selectors import base_model_choices, dataset_version_choices, training_workspaces_for

app_name = "finetuning"
EVENTS_SHOWN = 20


def _auto_or_number(value: str, *, integer: bool):
    value = (value or "").strip().lower()
    if value in ("", "auto"):
        return "auto"
    try:
        return int(value) if integer else float(value)
    except ValueError:
        raise forms.ValidationError(_("Enter “auto” or a number.")) from None


class FineTuningJobForm(forms.Form):
    """OpenAI's job settings, with "auto" (the recommended values) filled in."""

    base_model = BaseModelChoiceField(queryset=None, empty_label=None, label=gettext_lazy("Base model"))
    training_upload = forms.FileField(required=False, label=gettext_lazy("Upload a training file"),
                                      help_text=gettext_lazy("JSONL in OpenAI's format: “messages” for supervised "
                                                             "fine-tuning, or “input” / “preferred_output” / "
                                                             "“non_preferred_output” for DPO."))
    training_version = VersionChoiceField(
        queryset=None,
        required=False,
        label=gettext_lazy("…or pick a dataset version"),
        empty_label=gettext_lazy("(none: use the upload)"),
    )
    validation_upload = forms.FileField(required=False, label=gettext_lazy("Validation file"),
                                        help_text=gettext_lazy("Optional; same format as the training file."))
    validation_split = forms.FloatField(required=False, min_value=0, max_value=0.5, initial=0.1,
                                        label=gettext_lazy("…or hold out a validation split"),
                                        help_text=gettext_lazy("Share of the uploaded examples kept for the validation "
                                                               "loss when no validation file is given (0 – 0.5; 0.1 "
                                                               "recommended). A picked version keeps its own split."))
    n_epochs = forms.CharField(
        initial="auto",
        label=gettext_lazy("Epochs"),
        help_text=gettext_lazy("auto: 3, more for small files (at least 100 examples seen), at most 10"),
    )
    batch_size = forms.CharField(initial="auto", label=gettext_lazy("Batch size"),
                                 help_text=gettext_lazy("auto: 1 per 500 examples, at least 1"))
    learning_rate_multiplier = forms.CharField(
        initial="auto",
        label=gettext_lazy("Learning rate multiplier"),
        help_text=gettext_lazy("auto: 1.0 × %(sft)g (supervised) or %(dpo)g (DPO)"),
    )
    beta = forms.CharField(initial="auto", label=gettext_lazy("Beta (DPO only)"), help_text=gettext_lazy("auto: 0.1"))
    suffix = forms.CharField(required=False, max_length=64, label=gettext_lazy("Suffix"),
                             help_text=gettext_lazy("Part of the model's name, e.g. “support”."))

    def __init__(self, *args, workspace_ids, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["base_model"].queryset = base_model_choices(workspace_ids=workspace_ids)
        self.fields["training_version"].queryset = dataset_version_choices(workspace_ids=workspace_ids)
        field = self.fields["learning_rate_multiplier"]
        field.help_text = field.help_text % {"sft": BASE_LEARNING_RATE["supervised"], "dpo": BASE_LEARNING_RATE["dpo"]}

    def clean_n_epochs(self):
        return _auto_or_number(self.cleaned_data.get("n_epochs"), integer=True)

    def clean_batch_size(self):
        return _auto_or_number(self.cleaned_data.get("batch_size"), integer=True)

    def clean_learning_rate_multiplier(self):
        return _auto_or_number(self.cleaned_data.get("learning_rate_multiplier"), integer=False)

    def clean_beta(self):
        return _auto_or_number(self.cleaned_data.get("beta"), integer=False)

    def clean(self):
        data = super().clean()
        if not data.get("training_upload") and not data.get("training_version"):
            raise forms.ValidationError(_("Upload a training file or pick a dataset version."))
        return data

    def data_fields(self):
        return [self[name] for name in ("base_model", "training_upload", "training_version", "validation_upload",
                                        "validation_split")]

    def hyperparameter_fields(self):
        return [self[name] for name in ("n_epochs", "batch_size", "learning_rate_multiplier", "beta")]


FIELD_OF_PARAM = {"model": "base_model", "training_file": "training_upload", "validation_file": "validation_upload",
                  "suffix": "suffix", "validation_split": "validation_split", "file": "training_upload"}


def _field_of(where: str) -> str | None:
    if where.startswith("line "):
        return "training_upload"
    name = where.split(".")[-1]
    return (
        name
        if name in ("n_epochs", "batch_size", "learning_rate_multiplier", "beta")
        else FIELD_OF_PARAM.get(where.split(".")[0])
    )


@login_required
def job_new_view(request):
    workspace_ids = list(training_workspaces_for(user=request.user, capability=LAUNCH).values_list("pk", flat=True))
    if not workspace_ids:
        raise Http404
    form = FineTuningJobForm(request.POST or None, request.FILES or None, workspace_ids=workspace_ids)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        workspace = access_training_workspace(request.user, data["base_model"].workspace_id, capability=LAUNCH)
        try:
            job = _job_start(request, workspace, data)
        except ApplicationError as error:
            form.add_error(
                _field_of(error.where),
                f"{error.where}: {error.message}" if error.where.startswith("line ") else error.message,
            )
        else:
            return redirect("finetuning:job-detail", job_id=job.public_id)
    return render(request, "frontend/finetuning/job_new.html", {"form": form}, status=400 if form.errors else 200)


def _job_start(request, workspace, data) -> FineTuningJob:
    from django.db import transaction

    with transaction.atomic():
        if data.get("training_upload"):
            upload = data["training_upload"]
            training = fine_tuning_file_create(workspace=workspace, filename=upload.name, data=upload.read(),
                                               created_by=request.user)
            split = 0.0 if data.get("validation_upload") else (data.get("validation_split") or 0.0)
        else:
            version = data["training_version"]
            if version.dataset.workspace_id != workspace.pk:
                raise ApplicationError(
                    _("the version and the base model belong to different workspaces"), where="training_file"
                )
            training = fine_tuning_file_from_version(version=version, created_by=request.user)
            split = 0.0
        validation = None
        if data.get("validation_upload"):
            upload = data["validation_upload"]
            validation = fine_tuning_file_create(workspace=workspace, filename=upload.name, data=upload.read(),
                                                 created_by=request.user)
        names = ["n_epochs", "batch_size", "learning_rate_multiplier"] + (["beta"] if training.kind == "dpo" else [])
        method = {"type": training.kind, training.kind: {"hyperparameters": {name: data[name] for name in names}}}
        job = fine_tuning_job_create(workspace=workspace, model=data["base_model"].name, training_file=training,
                                     validation_file=validation, suffix=data.get("suffix"), method=method,
                                     validation_split=split, created_by=request.user)
    return job


@login_required
def job_detail_view(request, job_id: str):
    job = access_fine_tuning_job_page(request.user, job_id)
    shown = job_object(job)
    base_url = request.build_absolute_uri("/v1")
    model = shown["fine_tuned_model"] or f"ft:{job.base_model.name}:…:{job.public_id}"
    snippet = (
        "from openai import OpenAI\n\n"
        f'client = OpenAI(base_url="{base_url}", api_key="YOUR_WHETSTONE_API_TOKEN")\n\n'
        "reply = client.chat.completions.create(\n"
        f'    model="{model}",\n'
        '    messages=[{"role": "user", "content": "Hello!"}],\n'
        ")\n"
        "print(reply.choices[0].message.content)\n"
    )
    events = job_events(job=job)[:EVENTS_SHOWN]
    for event in events:
        event["when"] = datetime.fromtimestamp(event["created_at"], tz=UTC)
    context = {"job": job, "shown": shown, "snippet": snippet, "events": events,
               "checkpoints": job_checkpoints(job=job), "can_launch": user_can(request.user, LAUNCH, job.workspace),
               "is_live": shown["status"] in ("validating_files", "queued", "running")}
    return render(request, "frontend/finetuning/job_detail.html", context)


urlpatterns = [
    path("new/", job_new_view, name="job-new"),
    path("<str:job_id>/", job_detail_view, name="job-detail"),
]

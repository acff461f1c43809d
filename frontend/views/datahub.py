"""Browser pages of the datahub: datasets, imports with live progress, frozen versions and their export.

Forms play the input serializer's part; every change goes through the same services as the API, and
every fetch through datahub.access, so the pages hold no rules of their own.
"""

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_POST

from accounts.access import user_can
from common.errors import ApplicationError
from datahub.access import EDIT, access_dataset, access_import_job, access_version
from datahub.downloads import export_split_check, version_jsonl_response
from datahub.models import ImportJob, Source
from datahub.selectors import (
    dataset_import_jobs,
    dataset_list,
    dataset_records,
    dataset_versions,
    dataset_with_counts,
    source_choices,
    source_list,
    version_entry_list,
    workspace_list_for,
)
from datahub.services.datasets import dataset_create, source_create
from datahub.services.imports import import_job_create
from datahub.services.versions import dataset_version_freeze
from datahub.splits import DEFAULT_RATIOS, SPLITS

app_name = "datahub"

RECORDS_PER_PAGE = 25
ENTRIES_PER_PAGE = 25
IMPORT_JOBS_SHOWN = 10


# ---------------------------------------------------------------- forms


class DatasetForm(forms.Form):
    workspace = forms.ModelChoiceField(queryset=None, label=gettext_lazy("Workspace"))
    name = forms.CharField(max_length=200, label=gettext_lazy("Name"))
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}), label=gettext_lazy("Description"))

    def __init__(self, *args, workspaces, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["workspace"].queryset = workspaces


class SourceForm(forms.Form):
    workspace = forms.ModelChoiceField(queryset=None, label=gettext_lazy("Workspace"))
    name = forms.CharField(max_length=200, label=gettext_lazy("Name"))
    kind = forms.ChoiceField(choices=Source.Kind.choices, initial=Source.Kind.OWN, label=gettext_lazy("Kind"))
    quality_tier = forms.ChoiceField(choices=Source.Tier.choices, initial=Source.Tier.B, label=gettext_lazy("Quality tier"))
    description = forms.CharField(required=False, label=gettext_lazy("Description"))

    def __init__(self, *args, workspaces, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["workspace"].queryset = workspaces


class ImportForm(forms.Form):
    file = forms.FileField(label=gettext_lazy("File (JSON or JSONL)"), allow_empty_file=True)
    format = forms.ChoiceField(choices=ImportJob.Format.choices, initial=ImportJob.Format.AUTO, label=gettext_lazy("Format"))
    source = forms.ModelChoiceField(queryset=None, required=False, label=gettext_lazy("Source"), empty_label=gettext_lazy("(none)"))

    def __init__(self, *args, sources, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["source"].queryset = sources


class FreezeForm(forms.Form):
    seed = forms.IntegerField(initial=0, label=gettext_lazy("Seed"))
    train = forms.FloatField(min_value=0, max_value=1, initial=DEFAULT_RATIOS["train"], label=gettext_lazy("Train"))
    validation = forms.FloatField(min_value=0, max_value=1, initial=DEFAULT_RATIOS["validation"], label=gettext_lazy("Validation"))
    test = forms.FloatField(min_value=0, max_value=1, initial=DEFAULT_RATIOS["test"], label=gettext_lazy("Test"))
    note = forms.CharField(required=False, label=gettext_lazy("Note"))

    def ratios(self) -> dict:
        return {split: self.cleaned_data[split] for split in SPLITS}


def _add_service_error(form: forms.Form, exc: ApplicationError) -> None:
    """Show a service's error beside the field it names, or above the form."""
    field = exc.where if exc.where in form.fields else None
    form.add_error(field, exc.message)


# ---------------------------------------------------------------- datasets and sources


@login_required
def dataset_list_view(request):
    editable = workspace_list_for(user=request.user, capability=EDIT)
    form = DatasetForm(request.POST or None, workspaces=editable, prefix="dataset")
    if request.method == "POST" and form.is_valid():
        try:
            dataset = dataset_create(created_by=request.user, **form.cleaned_data)
        except ApplicationError as exc:
            _add_service_error(form, exc)
        else:
            messages.success(request, _("Dataset “%(name)s” created.") % {"name": dataset.name})
            return redirect("datahub:dataset-detail", dataset_id=dataset.pk)
    context = {
        "datasets": dataset_list(user=request.user),
        "sources": source_list(user=request.user),
        "form": form,
        "source_form": SourceForm(workspaces=editable, prefix="source"),
        "can_create": editable.exists(),
    }
    return render(request, "frontend/datahub/dataset_list.html", context, status=400 if form.errors else 200)


@login_required
@require_POST
def source_create_view(request):
    editable = workspace_list_for(user=request.user, capability=EDIT)
    form = SourceForm(request.POST, workspaces=editable, prefix="source")
    if form.is_valid():
        try:
            source = source_create(created_by=request.user, **form.cleaned_data)
        except ApplicationError as exc:
            _add_service_error(form, exc)
        else:
            messages.success(request, _("Source “%(name)s” registered.") % {"name": source.name})
            return redirect("datahub:dataset-list")
    context = {
        "datasets": dataset_list(user=request.user),
        "sources": source_list(user=request.user),
        "form": DatasetForm(workspaces=editable, prefix="dataset"),
        "source_form": form,
        "can_create": editable.exists(),
    }
    return render(request, "frontend/datahub/dataset_list.html", context, status=400)


def _detail_context(request, dataset, *, import_form=None, freeze_form=None) -> dict:
    can_edit = user_can(request.user, EDIT, dataset.workspace)
    records = Paginator(dataset_records(dataset=dataset), RECORDS_PER_PAGE).get_page(request.GET.get("page"))
    return {
        "dataset": dataset_with_counts(dataset=dataset),
        "records": records,
        "import_jobs": dataset_import_jobs(dataset=dataset)[:IMPORT_JOBS_SHOWN],
        "versions": dataset_versions(dataset=dataset),
        "can_edit": can_edit,
        "import_form": import_form or ImportForm(sources=source_choices(workspace=dataset.workspace), prefix="import"),
        "freeze_form": freeze_form or FreezeForm(prefix="freeze"),
        "splits": SPLITS,
    }


@login_required
@require_GET
def dataset_detail_view(request, dataset_id: int):
    dataset = access_dataset(request.user, dataset_id)
    return render(request, "frontend/datahub/dataset_detail.html", _detail_context(request, dataset))


@login_required
@require_POST
def dataset_import_view(request, dataset_id: int):
    dataset = access_dataset(request.user, dataset_id, capability=EDIT)
    form = ImportForm(request.POST, request.FILES, sources=source_choices(workspace=dataset.workspace), prefix="import")
    if form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            job = import_job_create(dataset=dataset, uploaded_file=upload, file_name=upload.name, format=form.cleaned_data["format"],
                                    source=form.cleaned_data["source"], created_by=request.user)
        except ApplicationError as exc:
            _add_service_error(form, exc)
        else:
            messages.success(request, _("Importing “%(file)s”: the progress shows below.") % {"file": job.file_name})
            return redirect("datahub:dataset-detail", dataset_id=dataset.pk)
    return render(request, "frontend/datahub/dataset_detail.html", _detail_context(request, dataset, import_form=form), status=400)


@login_required
@require_GET
def import_job_view(request, import_job_id: int):
    """The job's row, polled by htmx while it runs. When a polled job finishes, the page reloads to show the new records."""
    job = access_import_job(request.user, import_job_id)
    response = render(request, "frontend/datahub/_import_job.html", {"job": job})
    if request.htmx and job.is_finished and request.GET.get("poll"):
        response["HX-Refresh"] = "true"
    return response


@login_required
@require_POST
def dataset_freeze_view(request, dataset_id: int):
    dataset = access_dataset(request.user, dataset_id, capability=EDIT)
    form = FreezeForm(request.POST, prefix="freeze")
    if form.is_valid():
        try:
            version = dataset_version_freeze(dataset=dataset, created_by=request.user, seed=form.cleaned_data["seed"],
                                             ratios=form.ratios(), note=form.cleaned_data["note"])
        except ApplicationError as exc:
            _add_service_error(form, exc)
        else:
            messages.success(request, _("Version %(number)s frozen.") % {"number": version.number})
            return redirect("datahub:version-detail", version_id=version.pk)
    return render(request, "frontend/datahub/dataset_detail.html", _detail_context(request, dataset, freeze_form=form), status=400)


# ---------------------------------------------------------------- versions


@login_required
@require_GET
def version_detail_view(request, version_id: int):
    version = access_version(request.user, version_id)
    split = request.GET.get("split") or None
    if split not in (None, *SPLITS):
        split = None
    entries = Paginator(version_entry_list(version=version, split=split), ENTRIES_PER_PAGE).get_page(request.GET.get("page"))
    exports = [{"split": s, "count": version.counts.get(s, 0), "url": reverse("datahub:version-export", args=[version.pk]) + f"?split={s}"}
               for s in SPLITS]
    context = {
        "version": version,
        "dataset": version.dataset,
        "entries": entries,
        "split": split,
        "exports": exports,
        "total": sum(version.counts.values()),
        "splits": SPLITS,
    }
    return render(request, "frontend/datahub/version_detail.html", context)


@login_required
@require_GET
def version_export_view(request, version_id: int):
    version = access_version(request.user, version_id)
    try:
        split = export_split_check(request.GET.get("split"))
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return redirect("datahub:version-detail", version_id=version.pk)
    return version_jsonl_response(version, split)


urlpatterns = [
    path("", dataset_list_view, name="dataset-list"),
    path("sources/new/", source_create_view, name="source-create"),
    path("datasets/<int:dataset_id>/", dataset_detail_view, name="dataset-detail"),
    path("datasets/<int:dataset_id>/import/", dataset_import_view, name="dataset-import"),
    path("datasets/<int:dataset_id>/freeze/", dataset_freeze_view, name="dataset-freeze"),
    path("imports/<int:import_job_id>/", import_job_view, name="import-job"),
    path("versions/<int:version_id>/", version_detail_view, name="version-detail"),
    path("versions/<int:version_id>/export/", version_export_view, name="version-export"),
]

"""Browser pages of the datahub: datasets, imports with live progress, frozen versions and their export.

Forms play the input serializer's part; every change goes through the same services as the API, and
every fetch through datahub.access, so the pages hold no rules of their own.
"""

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_POST

from accounts.access import user_can
from common.errors import ApplicationError
from datahub.access import EDIT, access_dataset, access_import_job, access_version
from datahub.downloads import (
    export_shape_check,
    export_split_check,
    import_errors_response,
    version_hf_response,
    version_jsonl_response,
)
from datahub.models import ImportJob, Record, Source, VersionRecord
from datahub.selectors import (
    dataset_ids_natural,
    dataset_import_jobs,
    dataset_page,
    dataset_records,
    dataset_versions,
    dataset_with_counts,
    import_job_removed_dataset,
    record_search,
    source_choices,
    source_list,
    source_stats,
    version_by_number,
    version_card,
    version_diff,
    version_entry_list,
    version_leakage,
    workspace_list_for,
)
from datahub.services.datasets import dataset_create, dataset_delete, source_create
from datahub.services.imports import dataset_import_new, import_job_create, import_job_resume
from datahub.services.records import records_tag
from datahub.services.versions import dataset_version_freeze
from datahub.splits import DEFAULT_RATIOS, SPLITS
from training.selectors import version_card_base_model, version_card_base_models, version_token_lengths

app_name = "datahub"

RECORDS_PER_PAGE = 25
ENTRIES_PER_PAGE = 25
DATASETS_PER_PAGE = 25
IMPORT_JOBS_SHOWN = 10


# ---------------------------------------------------------------- forms


class DatasetForm(forms.Form):
    workspace = forms.ModelChoiceField(queryset=None, empty_label=None, label=gettext_lazy("Workspace"))
    name = forms.CharField(max_length=200, label=gettext_lazy("Name"))
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}), label=gettext_lazy("Description"))
    file = forms.FileField(required=False, allow_empty_file=True, label=gettext_lazy("First file (optional)"),
                           help_text=gettext_lazy("Imported right away, its format detected. Should the import fail, the "
                                                  "dataset is not kept."))

    def __init__(self, *args, workspaces, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["workspace"].queryset = workspaces


class DatasetSearchForm(forms.Form):
    q = forms.CharField(required=False, max_length=200, label=gettext_lazy("Search datasets"))


class SourceForm(forms.Form):
    workspace = forms.ModelChoiceField(queryset=None, empty_label=None, label=gettext_lazy("Workspace"))
    name = forms.CharField(max_length=200, label=gettext_lazy("Name"))
    kind = forms.ChoiceField(choices=Source.Kind.choices, initial=Source.Kind.OWN, label=gettext_lazy("Kind"))
    quality_tier = forms.ChoiceField(choices=Source.Tier.choices, initial=Source.Tier.B, label=gettext_lazy("Quality tier"))
    description = forms.CharField(required=False, label=gettext_lazy("Description"))

    def __init__(self, *args, workspaces, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["workspace"].queryset = workspaces


class ImportForm(forms.Form):
    file = forms.FileField(label=gettext_lazy("File (JSON, JSONL, CSV, TSV or Parquet)"), allow_empty_file=True)
    format = forms.ChoiceField(choices=ImportJob.Format.choices, initial=ImportJob.Format.AUTO, label=gettext_lazy("Format"))
    source = forms.ModelChoiceField(queryset=None, required=False, label=gettext_lazy("Source"), empty_label=gettext_lazy("(none)"))
    container = forms.ChoiceField(choices=ImportJob.Container.choices, required=False, label=gettext_lazy("File type"))
    column_map = forms.CharField(required=False, label=gettext_lazy("Column mapping"),
                                 help_text=gettext_lazy("field=column pairs, comma-separated, e.g. instruction=question, output=answer"))
    skip_invalid = forms.BooleanField(required=False, label=gettext_lazy("Skip invalid rows (and report them)"))
    max_record_chars = forms.IntegerField(required=False, min_value=100, label=gettext_lazy("Record size limit (characters)"))

    def __init__(self, *args, sources, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["source"].queryset = sources

    def clean_column_map(self) -> dict:
        mapping = {}
        for pair in filter(None, (p.strip() for p in self.cleaned_data["column_map"].split(","))):
            field, _, column = pair.partition("=")
            if not field.strip() or not column.strip():
                raise forms.ValidationError(gettext_lazy("Write each mapping as field=column."))
            mapping[field.strip()] = column.strip()
        return mapping


class RecordFilterForm(forms.Form):
    """The record browser's filters (GET). Plays the API's FilterSerializer part; record_search holds the rules."""

    q = forms.CharField(required=False, label=gettext_lazy("Search"))
    source = forms.ModelChoiceField(queryset=None, required=False, label=gettext_lazy("Source"), empty_label=gettext_lazy("(any)"))
    tag = forms.CharField(required=False, max_length=64, label=gettext_lazy("Tag"))
    kind = forms.ChoiceField(choices=[("", gettext_lazy("(any)")), *Record.Kind.choices], required=False, label=gettext_lazy("Kind"))
    label = forms.NullBooleanField(required=False, label=gettext_lazy("KTO label"), widget=forms.Select(choices=[
        ("", gettext_lazy("(any)")), ("true", gettext_lazy("desirable")), ("false", gettext_lazy("undesirable"))]))
    version = forms.IntegerField(required=False, min_value=1, label=gettext_lazy("Version"))
    split = forms.ChoiceField(choices=[("", gettext_lazy("(any)")), *VersionRecord.Split.choices], required=False,
                              label=gettext_lazy("Split"))
    min_length = forms.IntegerField(required=False, min_value=0, label=gettext_lazy("Min length"))
    max_length = forms.IntegerField(required=False, min_value=0, label=gettext_lazy("Max length"))

    def __init__(self, *args, sources, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["source"].queryset = sources


class TagForm(forms.Form):
    records = forms.CharField(widget=forms.HiddenInput, required=False)
    add = forms.CharField(required=False, max_length=200, label=gettext_lazy("Add tags (comma-separated)"))
    remove = forms.CharField(required=False, max_length=200, label=gettext_lazy("Remove tags"))

    @staticmethod
    def _tags(text: str) -> list[str]:
        return [t.strip() for t in text.split(",") if t.strip()]

    def values(self, record_ids: list[int]) -> dict:
        return {"record_ids": record_ids, "add": self._tags(self.cleaned_data["add"]), "remove": self._tags(self.cleaned_data["remove"])}


class FreezeForm(forms.Form):
    seed = forms.IntegerField(initial=0, label=gettext_lazy("Seed"))
    train = forms.FloatField(min_value=0, max_value=1, initial=DEFAULT_RATIOS["train"], label=gettext_lazy("Train"))
    validation = forms.FloatField(min_value=0, max_value=1, initial=DEFAULT_RATIOS["validation"], label=gettext_lazy("Validation"))
    test = forms.FloatField(min_value=0, max_value=1, initial=DEFAULT_RATIOS["test"], label=gettext_lazy("Test"))
    note = forms.CharField(required=False, label=gettext_lazy("Note"))
    stratify = forms.BooleanField(required=False, label=gettext_lazy("Stratify by label (each kind and KTO label split in the ratios)"))

    def ratios(self) -> dict:
        return {split: self.cleaned_data[split] for split in SPLITS}


def _add_service_error(form: forms.Form, exc: ApplicationError) -> None:
    """Show a service's error beside the field it names, or above the form."""
    field = exc.where if exc.where in form.fields else None
    form.add_error(field, exc.message)


# ---------------------------------------------------------------- datasets and sources


def _list_context(request, *, form: DatasetForm, source_form: "SourceForm", editable) -> dict:
    search = DatasetSearchForm(request.GET or None)
    query = search.cleaned_data["q"] if search.is_valid() else ""
    page = Paginator(dataset_ids_natural(user=request.user, query=query), DATASETS_PER_PAGE).get_page(request.GET.get("page"))
    return {
        "datasets": dataset_page(ids=list(page)),
        "page": page,
        "search": search,
        "query": query,
        "page_prefix": f"{urlencode({'q': query})}&" if query else "",
        "sources": source_list(user=request.user),
        "form": form,
        "source_form": source_form,
        "can_create": editable.exists(),
    }


@login_required
def dataset_list_view(request):
    editable = workspace_list_for(user=request.user, capability=EDIT)
    form = DatasetForm(request.POST or None, request.FILES or None, workspaces=editable, prefix="dataset")
    if request.method == "POST" and form.is_valid():
        values = dict(form.cleaned_data)
        upload = values.pop("file")
        try:
            if upload is None:
                dataset = dataset_create(created_by=request.user, **values)
            else:
                dataset = dataset_import_new(created_by=request.user, uploaded_file=upload, file_name=upload.name, **values).dataset
        except ApplicationError as exc:
            _add_service_error(form, exc)
        else:
            messages.success(request, _("Dataset “%(name)s” created.") % {"name": dataset.name})
            return redirect("datahub:dataset-detail", dataset_id=dataset.pk)
    context = _list_context(request, form=form, source_form=SourceForm(workspaces=editable, prefix="source"), editable=editable)
    return render(request, "frontend/datahub/dataset_list.html", context, status=400 if form.errors else 200)


@login_required
@require_GET
def source_stats_view(request):
    """Every source the user may see, with its statistics and a chart."""
    sources = list(source_stats(user=request.user))
    chart = {"names": [s.name for s in sources],
             "kinds": {"sft": [s.sft_count for s in sources], "preference": [s.preference_count for s in sources],
                       "kto": [s.kto_count for s in sources]},
             "words": {"title": _("Records per source, by kind"), "records": _("Records")}}
    return render(request, "frontend/datahub/source_stats.html", {"sources": sources, "chart": chart})


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
    context = _list_context(request, form=DatasetForm(workspaces=editable, prefix="dataset"), source_form=form, editable=editable)
    return render(request, "frontend/datahub/dataset_list.html", context, status=400)


def _filtered_records(dataset, form: RecordFilterForm):
    values = dict(form.cleaned_data)
    number = values.pop("version")
    version = version_by_number(dataset=dataset, number=number) if number else None
    if number and version is None:
        form.add_error("version", _("This dataset has no version %(number)s.") % {"number": number})
        return dataset_records(dataset=dataset).none()
    if values["split"] and version is None:
        form.add_error("split", _("A split belongs to a version: choose the version too."))
        return dataset_records(dataset=dataset).none()
    source = values.pop("source")
    return record_search(dataset=dataset, source_id=source.pk if source else None, version=version, **values)


def _detail_context(request, dataset, *, import_form=None, freeze_form=None) -> dict:
    can_edit = user_can(request.user, EDIT, dataset.workspace)
    sources = source_choices(workspace=dataset.workspace)
    filter_form = RecordFilterForm(request.GET or None, sources=sources)
    records_query = dataset_records(dataset=dataset)
    if filter_form.is_valid():
        records_query = _filtered_records(dataset, filter_form)
    records = Paginator(records_query, RECORDS_PER_PAGE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return {
        "filter_form": filter_form,
        "filter_query": query.urlencode(),
        "page_prefix": f"{query.urlencode()}&" if query else "",
        "tag_form": TagForm(prefix="tags"),
        "dataset": dataset_with_counts(dataset=dataset),
        "records": records,
        "import_jobs": dataset_import_jobs(dataset=dataset)[:IMPORT_JOBS_SHOWN],
        "versions": dataset_versions(dataset=dataset),
        "can_edit": can_edit,
        "import_form": import_form or ImportForm(sources=source_choices(workspace=dataset.workspace), prefix="import"),
        "freeze_form": freeze_form or FreezeForm(prefix="freeze"),
        # The forms fold away once they are not the next step: importing into an empty dataset, or fixing a bad entry.
        "import_open": import_form is not None or not records.paginator.count and not filter_form.is_bound,
        "freeze_open": freeze_form is not None,
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
            values = form.cleaned_data
            job = import_job_create(dataset=dataset, uploaded_file=upload, file_name=upload.name, format=values["format"],
                                    source=values["source"], created_by=request.user, container=values["container"] or "",
                                    column_map=values["column_map"], skip_invalid=values["skip_invalid"],
                                    max_record_chars=values["max_record_chars"])
        except ApplicationError as exc:
            _add_service_error(form, exc)
        else:
            messages.success(request, _("Importing “%(file)s”: the progress shows below.") % {"file": job.file_name})
            return redirect("datahub:dataset-detail", dataset_id=dataset.pk)
    return render(request, "frontend/datahub/dataset_detail.html", _detail_context(request, dataset, import_form=form), status=400)


@login_required
@require_GET
def import_job_view(request, import_job_id: int):
    """The job's row, polled by htmx while it runs. When a polled job finishes, the page reloads to show the new records.
    When the job failed and took its new dataset with it (dataset_import_new), the poll says why and goes to the list."""
    try:
        job = access_import_job(request.user, import_job_id)
    except Http404:
        removed = import_job_removed_dataset(user=request.user, import_job_id=import_job_id) if request.htmx else None
        if removed is None:
            raise
        where = f"{removed['where']}: " if removed.get("where") else ""
        messages.error(request, _("The import of “%(file)s” failed (%(error)s), so the new dataset “%(name)s” was not kept.")
                       % {"file": removed.get("file_name", ""), "error": where + removed.get("error", ""), "name": removed.get("name", "")})
        response = HttpResponse(status=204)
        response["HX-Redirect"] = reverse("datahub:dataset-list")
        return response
    response = render(request, "frontend/datahub/_import_job.html", {"job": job})
    if request.htmx and job.is_finished and request.GET.get("poll"):
        response["HX-Refresh"] = "true"
    return response


@login_required
@require_POST
def dataset_records_tag_view(request, dataset_id: int):
    """Bulk tagging from the record browser: the ticked records get the tags added and removed."""
    dataset = access_dataset(request.user, dataset_id, capability=EDIT)
    form = TagForm(request.POST, prefix="tags")
    record_ids = [int(v) for v in request.POST.getlist("record") if v.isdigit()]
    if form.is_valid():
        try:
            changed = records_tag(dataset=dataset, actor=request.user, **form.values(record_ids))
        except ApplicationError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, _("Tags changed on %(count)s records.") % {"count": changed})
    back = reverse("datahub:dataset-detail", args=[dataset.pk])
    query = request.POST.get("filter_query", "")
    return redirect(f"{back}?{query}#records" if query else f"{back}#records")


@login_required
@require_GET
def import_job_errors_view(request, import_job_id: int):
    """The rows an import left out, as a CSV download (line, field, reason)."""
    return import_errors_response(access_import_job(request.user, import_job_id))


@login_required
@require_POST
def import_job_resume_view(request, import_job_id: int):
    job = access_import_job(request.user, import_job_id, capability=EDIT)
    try:
        import_job_resume(job=job, actor=request.user)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("Import “%(file)s” resumes from row %(row)s.") % {"file": job.file_name, "row": job.resume_row})
    return redirect("datahub:dataset-detail", dataset_id=job.dataset_id)


@login_required
@require_POST
def dataset_freeze_view(request, dataset_id: int):
    dataset = access_dataset(request.user, dataset_id, capability=EDIT)
    form = FreezeForm(request.POST, prefix="freeze")
    if form.is_valid():
        try:
            version = dataset_version_freeze(dataset=dataset, created_by=request.user, seed=form.cleaned_data["seed"],
                                             ratios=form.ratios(), note=form.cleaned_data["note"],
                                             stratify=form.cleaned_data["stratify"])
        except ApplicationError as exc:
            _add_service_error(form, exc)
        else:
            messages.success(request, _("Version %(number)s frozen.") % {"number": version.number})
            return redirect("datahub:version-detail", version_id=version.pk)
    return render(request, "frontend/datahub/dataset_detail.html", _detail_context(request, dataset, freeze_form=form), status=400)


@login_required
@require_POST
def dataset_delete_view(request, dataset_id: int):
    dataset = access_dataset(request.user, dataset_id, capability=EDIT)
    try:
        dataset_delete(dataset=dataset, deleted_by=request.user)
    except ApplicationError as exc:
        if exc.code != "in_use":
            raise
        messages.error(request, _("“%(name)s” was not deleted: it is in use by %(users)s. Delete or finish those first.")
                       % {"name": dataset.name, "users": "; ".join(exc.extra["used_by"])})
        return redirect("datahub:dataset-detail", dataset_id=dataset.pk)
    messages.success(request, _("Dataset “%(name)s” deleted.") % {"name": dataset.name})
    return redirect("datahub:dataset-list")


# ---------------------------------------------------------------- versions


@login_required
@require_GET
def version_detail_view(request, version_id: int):
    version = access_version(request.user, version_id)
    split = request.GET.get("split") or None
    if split not in (None, *SPLITS):
        split = None
    entries = Paginator(version_entry_list(version=version, split=split), ENTRIES_PER_PAGE).get_page(request.GET.get("page"))
    total = sum(version.counts.values())
    # Requested (the ratios the version was frozen with) beside achieved (each split's share of the records).
    exports = [{"split": s, "count": version.counts.get(s, 0), "url": reverse("datahub:version-export", args=[version.pk]) + f"?split={s}",
                "requested": 100 * version.ratios[s] if s in version.ratios else None,
                "achieved": 100 * version.counts.get(s, 0) / total if total else 0.0}
               for s in SPLITS]
    context = {
        "version": version,
        "dataset": version.dataset,
        "entries": entries,
        "split": split,
        "exports": exports,
        "total": total,
        "splits": SPLITS,
    }
    return render(request, "frontend/datahub/version_detail.html", context)


@login_required
@require_GET
def version_export_view(request, version_id: int):
    version = access_version(request.user, version_id)
    try:
        split = export_split_check(request.GET.get("split"))
        shape = export_shape_check(request.GET.get("shape"))
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return redirect("datahub:version-detail", version_id=version.pk)
    return version_jsonl_response(version, split, shape)


@login_required
@require_GET
def version_export_hf_view(request, version_id: int):
    version = access_version(request.user, version_id)
    try:
        shape = export_shape_check(request.GET.get("shape"))
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return redirect("datahub:version-detail", version_id=version.pk)
    return version_hf_response(version, shape)


@login_required
@require_GET
def version_leakage_view(request, version_id: int):
    """The leakage check, run on request (it reads every train and test prompt); htmx swaps it into the version page."""
    version = access_version(request.user, version_id)
    return render(request, "frontend/datahub/_leakage.html", {"version": version, "report": version_leakage(version=version)})


@login_required
@require_GET
def version_diff_view(request, version_id: int):
    version = access_version(request.user, version_id)
    other = access_version(request.user, request.GET.get("against"))
    if other.dataset_id != version.dataset_id:
        messages.error(request, _("Both versions must belong to the same dataset."))
        return redirect("datahub:version-detail", version_id=version.pk)
    diff = version_diff(old=other, new=version)
    return render(request, "frontend/datahub/_diff.html", {"version": version, "other": other, "diff": diff})


@login_required
@require_GET
def version_card_view(request, version_id: int):
    """The dataset card of a version: counts, sources, kind mix, length histogram, with charts. Lengths are characters
    unless ?base_model=<id> (a base model of the version's workspace) asks for tokens through its chat template."""
    version = access_version(request.user, version_id)
    base_models = list(version_card_base_models(user=request.user, version=version))
    base_model_id = request.GET.get("base_model") or ""
    base_model = version_card_base_model(user=request.user, version=version, base_model_id=base_model_id) if base_model_id else None
    card = version_card(version=version)
    tokens = None
    if base_model is not None:
        try:
            tokens = version_token_lengths(version=version, base_model=base_model)
        except ApplicationError as error:
            messages.error(request, error.message)
    words = {"records": _("Records"), "mix": _("Kinds per split"), "histogram": _("Record lengths"),
             "length": _("Length (tokens)") if tokens else _("Length (characters)")}
    chart = {"lengths": tokens["histogram"] if tokens else card["lengths"], "mix": card["mix"], "words": words}
    return render(request, "frontend/datahub/version_card.html",
                  {"version": version, "dataset": version.dataset, "card": card, "chart": chart, "tokens": tokens,
                   "base_models": base_models, "base_model": base_model})


urlpatterns = [
    path("", dataset_list_view, name="dataset-list"),
    path("sources/new/", source_create_view, name="source-create"),
    path("sources/", source_stats_view, name="source-stats"),
    path("datasets/<int:dataset_id>/", dataset_detail_view, name="dataset-detail"),
    path("datasets/<int:dataset_id>/import/", dataset_import_view, name="dataset-import"),
    path("datasets/<int:dataset_id>/records/tag/", dataset_records_tag_view, name="dataset-records-tag"),
    path("datasets/<int:dataset_id>/freeze/", dataset_freeze_view, name="dataset-freeze"),
    path("datasets/<int:dataset_id>/delete/", dataset_delete_view, name="dataset-delete"),
    path("imports/<int:import_job_id>/", import_job_view, name="import-job"),
    path("imports/<int:import_job_id>/errors/", import_job_errors_view, name="import-job-errors"),
    path("imports/<int:import_job_id>/resume/", import_job_resume_view, name="import-job-resume"),
    path("versions/<int:version_id>/", version_detail_view, name="version-detail"),
    path("versions/<int:version_id>/export/", version_export_view, name="version-export"),
    path("versions/<int:version_id>/export/hf/", version_export_hf_view, name="version-export-hf"),
    path("versions/<int:version_id>/leakage/", version_leakage_view, name="version-leakage"),
    path("versions/<int:version_id>/card/", version_card_view, name="version-card"),
    path("versions/<int:version_id>/diff/", version_diff_view, name="version-diff"),
]

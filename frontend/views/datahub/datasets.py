"""Browser pages of datasets and sources: the list, a dataset with its records, imports with live progress,
tagging, freezing and deleting.

Every change goes through the same services as the API, and every fetch through datahub.access, so the pages hold
no rules of their own."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from accounts.access import user_can
from common.errors import ApplicationError
from datahub.access import EDIT, access_dataset, access_import_job
from datahub.downloads import import_errors_response
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
    workspace_list_for,
)
from datahub.services.datasets import dataset_create, dataset_delete, source_create
from datahub.services.imports import dataset_import_new, import_job_create, import_job_resume
from datahub.services.records import records_tag
from datahub.services.versions import dataset_version_freeze
from datahub.splits import SPLITS
from frontend.views.datahub.forms import (
    DatasetForm,
    DatasetSearchForm,
    FreezeForm,
    ImportForm,
    RecordFilterForm,
    SourceForm,
    TagForm,
    add_service_error,
)

RECORDS_PER_PAGE = 25


DATASETS_PER_PAGE = 25


IMPORT_JOBS_SHOWN = 10


def _list_context(request, *, form: DatasetForm, source_form: "SourceForm", editable) -> dict:
    search = DatasetSearchForm(request.GET or None)
    query = search.cleaned_data["q"] if search.is_valid() else ""
    page = Paginator(dataset_ids_natural(user=request.user, query=query), DATASETS_PER_PAGE).get_page(
        request.GET.get("page")
    )
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
                dataset = dataset_import_new(
                    created_by=request.user, uploaded_file=upload, file_name=upload.name, **values
                ).dataset
        except ApplicationError as exc:
            add_service_error(form, exc)
        else:
            messages.success(request, _("Dataset “%(name)s” created.") % {"name": dataset.name})
            return redirect("datahub:dataset-detail", dataset_id=dataset.pk)
    context = _list_context(
        request, form=form, source_form=SourceForm(workspaces=editable, prefix="source"), editable=editable
    )
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
            add_service_error(form, exc)
        else:
            messages.success(request, _("Source “%(name)s” registered.") % {"name": source.name})
            return redirect("datahub:dataset-list")
    context = _list_context(
        request, form=DatasetForm(workspaces=editable, prefix="dataset"), source_form=form, editable=editable
    )
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
            job = import_job_create(
                dataset=dataset,
                uploaded_file=upload,
                file_name=upload.name,
                format=values["format"],
                source=values["source"],
                created_by=request.user,
                container=values["container"] or "",
                column_map=values["column_map"],
                skip_invalid=values["skip_invalid"],
                max_record_chars=values["max_record_chars"],
            )
        except ApplicationError as exc:
            add_service_error(form, exc)
        else:
            messages.success(request, _("Importing “%(file)s”: the progress shows below.") % {"file": job.file_name})
            return redirect("datahub:dataset-detail", dataset_id=dataset.pk)
    return render(
        request, "frontend/datahub/dataset_detail.html", _detail_context(request, dataset, import_form=form), status=400
    )


@login_required
@require_GET
def import_job_view(request, import_job_id: int):
    """The job's row, polled by htmx while it runs. When a polled job finishes, the page reloads to show the new
    records.
    When the job failed and took its new dataset with it (dataset_import_new), the poll says why and goes to the
    list."""
    try:
        job = access_import_job(request.user, import_job_id)
    except Http404:
        removed = import_job_removed_dataset(user=request.user, import_job_id=import_job_id) if request.htmx else None
        if removed is None:
            raise
        where = f"{removed['where']}: " if removed.get("where") else ""
        messages.error(
            request,
            _("The import of “%(file)s” failed (%(error)s), so the new dataset “%(name)s” was not kept.")
            % {
                "file": removed.get("file_name", ""),
                "error": where + removed.get("error", ""),
                "name": removed.get("name", ""),
            },
        )
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
        messages.success(
            request, _("Import “%(file)s” resumes from row %(row)s.") % {"file": job.file_name, "row": job.resume_row}
        )
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
            add_service_error(form, exc)
        else:
            messages.success(request, _("Version %(number)s frozen.") % {"number": version.number})
            return redirect("datahub:version-detail", version_id=version.pk)
    return render(
        request, "frontend/datahub/dataset_detail.html", _detail_context(request, dataset, freeze_form=form), status=400
    )


@login_required
@require_POST
def dataset_delete_view(request, dataset_id: int):
    dataset = access_dataset(request.user, dataset_id, capability=EDIT)
    try:
        dataset_delete(dataset=dataset, deleted_by=request.user)
    except ApplicationError as exc:
        if exc.code != "in_use":
            raise
        messages.error(
            request,
            _("“%(name)s” was not deleted: it is in use by %(users)s. Delete or finish those first.")
            % {"name": dataset.name, "users": "; ".join(exc.extra["used_by"])},
        )
        return redirect("datahub:dataset-detail", dataset_id=dataset.pk)
    messages.success(request, _("Dataset “%(name)s” deleted.") % {"name": dataset.name})
    return redirect("datahub:dataset-list")

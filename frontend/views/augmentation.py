"""Browser pages of augmentation, mixing and source grading.

Forms play the input serializer's part; every change goes through the same services as the API and the commands,
every fetch through an access_* function, so the pages hold no rules of their own.
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
from augmentation.access import access_augmentation_run, access_grading_run, access_mix_run
from augmentation.eda import ALL_OPERATIONS, OPERATIONS
from augmentation.filters import REASONS
from augmentation.models import AugmentationRun, GradingRun
from augmentation.selectors import (
    augmentation_runs_of_dataset,
    candidate_list,
    candidate_summary,
    grading_runs_of_source,
    mix_runs_of_dataset,
    source_quality_report,
    synonym_tables_of_workspace,
)
from augmentation.services.grading import grading_run_create
from augmentation.services.mixing import mix_run_create
from augmentation.services.review import augmentation_run_accept, candidates_accept_passing, candidates_decide
from augmentation.services.runs import augmentation_run_create, augmentation_run_retry
from augmentation.services.synonyms import synonym_table_create
from common.errors import ApplicationError
from datahub.access import EDIT, access_dataset, access_source, access_version
from datahub.models import Source
from datahub.selectors import source_choices, workspace_version_choices
from datahub.services.datasets import source_quality_tier_set

app_name = "augmentation"

CANDIDATES_PER_PAGE = 50
GRADING_RUNS_SHOWN = 10


def _endpoints(workspace):
    from llm.selectors import model_endpoints_of

    return model_endpoints_of(workspace=workspace)


def _add_service_error(form: forms.Form, exc: ApplicationError) -> None:
    form.add_error(exc.where if exc.where in form.fields else None, exc.message)


# ---------------------------------------------------------------- forms


class AugmentationForm(forms.Form):
    methods = forms.MultipleChoiceField(choices=AugmentationRun.Method.choices, widget=forms.CheckboxSelectMultiple,
                                        initial=[AugmentationRun.Method.EDA], label=gettext_lazy("Methods"))
    endpoint = forms.ModelChoiceField(queryset=None, required=False, label=gettext_lazy("Model endpoint"),
                                      help_text=gettext_lazy("for paraphrase and back-translation"))
    seed = forms.IntegerField(initial=0, label=gettext_lazy("Seed"))
    limit = forms.IntegerField(initial=0, min_value=0, label=gettext_lazy("At most this many records (0: all)"))
    eda_variants = forms.IntegerField(
        initial=4, min_value=1, max_value=16, label=gettext_lazy("EDA variants per record")
    )
    eda_alpha = forms.FloatField(
        initial=0.1, min_value=0.01, max_value=0.5, label=gettext_lazy("EDA α (share of words changed)")
    )
    eda_operations = forms.MultipleChoiceField(
        choices=[(op, op) for op in ALL_OPERATIONS],
        initial=list(OPERATIONS),
        widget=forms.CheckboxSelectMultiple,
        label=gettext_lazy("EDA operations"),
        help_text=gettext_lazy("shuffle changes word order and often meaning: off by default"),
    )
    synonym_table = forms.ModelChoiceField(queryset=None, required=False, label=gettext_lazy("Synonym table"),
                                           empty_label=gettext_lazy("(the shipped English and Chinese tables)"))
    paraphrase_n = forms.IntegerField(
        initial=2, min_value=1, max_value=10, label=gettext_lazy("Paraphrases per record")
    )
    pivot_language = forms.CharField(initial="German", max_length=40, label=gettext_lazy("Pivot language"))
    seq2seq_forward_dir = forms.CharField(
        required=False,
        max_length=500,
        label=gettext_lazy("Local translation model to the pivot"),
        help_text=gettext_lazy("a model directory on the worker; with the one back, replaces the endpoint"),
    )
    seq2seq_back_dir = forms.CharField(
        required=False, max_length=500, label=gettext_lazy("Local translation model back")
    )

    def __init__(self, *args, workspace, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["endpoint"].queryset = _endpoints(workspace)
        if not self.fields["endpoint"].queryset.exists():
            # Said before the click: paraphrase and back-translation through a model need an endpoint first.
            self.fields["endpoint"].empty_label = _("(no endpoint in this workspace yet)")
            self.fields["endpoint"].help_text = _(
                "LLM paraphrase and back-translation need a model endpoint: register one on "
                "the Endpoints page, or give local translation models below."
            )
        self.fields["synonym_table"].queryset = synonym_tables_of_workspace(workspace_id=workspace.pk)

    def options(self) -> dict:
        keys = ("seed", "limit", "eda_variants", "eda_alpha", "eda_operations", "paraphrase_n", "pivot_language")
        options = {key: self.cleaned_data[key] for key in keys}
        if self.cleaned_data["seq2seq_forward_dir"] or self.cleaned_data["seq2seq_back_dir"]:
            options.update(
                back_translation_engine="seq2seq",
                seq2seq_forward_dir=self.cleaned_data["seq2seq_forward_dir"],
                seq2seq_back_dir=self.cleaned_data["seq2seq_back_dir"],
            )
        return options


class SynonymTableForm(forms.Form):
    name = forms.CharField(max_length=200, label=gettext_lazy("Name"))
    file = forms.FileField(label=gettext_lazy("Table (TSV: word, tab, synonyms separated by commas; or JSON)"))


class MixForm(forms.Form):
    total_size = forms.IntegerField(min_value=1, initial=100, label=gettext_lazy("Total records"))
    seed = forms.IntegerField(initial=0, label=gettext_lazy("Seed"))

    def __init__(self, *args, sources, versions, **kwargs):
        super().__init__(*args, **kwargs)
        self.ingredient_fields = []
        for source in sources:
            name = f"source_{source.pk}"
            self.fields[name] = forms.FloatField(required=False, min_value=0, max_value=1, label=source.name)
            self.ingredient_fields.append((name, "source", source.pk))
        for version in versions:
            name = f"version_{version.pk}"
            self.fields[name] = forms.FloatField(required=False, min_value=0, max_value=1, label=str(version))
            self.ingredient_fields.append((name, "version", version.pk))

    def ingredients(self) -> list[dict]:
        return [{"kind": kind, "id": pk, "ratio": self.cleaned_data[name]}
                for name, kind, pk in self.ingredient_fields if self.cleaned_data.get(name)]


class GradingForm(forms.Form):
    method = forms.ChoiceField(
        choices=GradingRun.Method.choices, initial=GradingRun.Method.RULES, label=gettext_lazy("Method")
    )
    endpoint = forms.ModelChoiceField(queryset=None, required=False, label=gettext_lazy("Judge endpoint"))
    language = forms.ChoiceField(
        choices=[("", gettext_lazy("the prompt's")), ("en", "English"), ("zh", "中文")],
        required=False,
        label=gettext_lazy("Expected answer language"),
    )

    def __init__(self, *args, workspace, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["endpoint"].queryset = _endpoints(workspace)


class TierForm(forms.Form):
    quality_tier = forms.ChoiceField(choices=Source.Tier.choices, label=gettext_lazy("Quality tier"))


# ---------------------------------------------------------------- augmentation runs


@login_required
@require_GET
def dataset_runs_view(request, dataset_id: int):
    """The dataset's augmentation runs and mixes, newest first."""
    dataset = access_dataset(request.user, dataset_id)
    context = {
        "dataset": dataset,
        "runs": augmentation_runs_of_dataset(dataset=dataset)[:50],
        "mixes": mix_runs_of_dataset(dataset=dataset)[:50],
        "can_edit": user_can(request.user, EDIT, dataset.workspace),
    }
    return render(request, "frontend/augmentation/dataset_runs.html", context)


def _run_form_page(request, version, form, table_form, status=200):
    return render(
        request,
        "frontend/augmentation/run_new.html",
        {"version": version, "dataset": version.dataset, "form": form, "table_form": table_form},
        status=status,
    )


@login_required
def run_create_view(request, version_id: int):
    version = access_version(request.user, version_id, capability=EDIT)
    workspace = version.dataset.workspace
    form = AugmentationForm(request.POST or None, workspace=workspace)
    if request.method == "POST" and form.is_valid():
        endpoint = form.cleaned_data["endpoint"]
        try:
            if endpoint is not None and not user_can(request.user, "model_endpoints.use", workspace):
                raise ApplicationError(_("You may not use model endpoints in this workspace."), where="endpoint")
            run = augmentation_run_create(
                version=version,
                methods=form.cleaned_data["methods"],
                options=form.options(),
                endpoint=endpoint,
                synonym_table=form.cleaned_data["synonym_table"],
                created_by=request.user,
            )
        except ApplicationError as exc:
            _add_service_error(form, exc)
        else:
            messages.success(request, _("Augmentation started: the candidates appear here for review."))
            return redirect("augmentation:run-detail", run_id=run.pk)
    return _run_form_page(request, version, form, SynonymTableForm(prefix="table"), status=400 if form.errors else 200)


@login_required
@require_POST
def synonym_table_create_view(request, version_id: int):
    version = access_version(request.user, version_id, capability=EDIT)
    form = SynonymTableForm(request.POST, request.FILES, prefix="table")
    if form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            table = synonym_table_create(
                workspace=version.dataset.workspace,
                name=form.cleaned_data["name"],
                content=upload.read(),
                file_name=upload.name,
                created_by=request.user,
            )
        except ApplicationError as exc:
            form.add_error("name" if exc.where == "name" else "file", exc.message)
        else:
            messages.success(
                request,
                _("Synonym table “%(name)s” added with %(count)s words.")
                % {"name": table.name, "count": len(table.entries)},
            )
            return redirect("augmentation:run-create", version_id=version.pk)
    return _run_form_page(request, version, AugmentationForm(workspace=version.dataset.workspace), form, status=400)


@login_required
@require_GET
def run_detail_view(request, run_id: int):
    """The run's status (polled by htmx while it runs) and, once generated, its counts by reason."""
    run = access_augmentation_run(request.user, run_id)
    context = {"run": run, "version": run.version, "dataset": run.version.dataset, "reasons": REASONS,
               "summary": candidate_summary(run=run) if run.status == "succeeded" else None,
               "can_edit": user_can(request.user, EDIT, run.version.dataset.workspace)}
    if request.htmx:
        response = render(request, "frontend/augmentation/_run_status.html", context)
        if run.is_finished and request.GET.get("poll"):
            response["HX-Refresh"] = "true"
        return response
    return render(request, "frontend/augmentation/run_detail.html", context)


@login_required
@require_POST
def run_retry_view(request, run_id: int):
    run = access_augmentation_run(request.user, run_id, capability=EDIT)
    try:
        augmentation_run_retry(run=run, actor=request.user)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    return redirect("augmentation:run-detail", run_id=run.pk)


REVIEW_FILTERS = {
    "": {},
    "passing": {"passing": True},
    "failing": {"passing": False},
    "pending": {"decision": "pending"},
    "accepted": {"decision": "accepted"},
    "rejected": {"decision": "rejected"},
}


@login_required
@require_GET
def review_view(request, run_id: int):
    """Candidates beside their parents, with scores and the filter's reason; decided one by one by keyboard."""
    run = access_augmentation_run(request.user, run_id)
    shown = request.GET.get("show", "")
    candidates = candidate_list(run=run, **REVIEW_FILTERS.get(shown, {}))
    page = Paginator(candidates, CANDIDATES_PER_PAGE).get_page(request.GET.get("page"))
    context = {"run": run, "dataset": run.version.dataset, "page": page, "shown": shown, "reasons": REASONS,
               "summary": candidate_summary(run=run), "filters": list(REVIEW_FILTERS),
               "can_edit": user_can(request.user, EDIT, run.version.dataset.workspace) and not run.result_version_id}
    return render(request, "frontend/augmentation/review.html", context)


@login_required
@require_POST
def candidate_decide_view(request, run_id: int, candidate_id: int):
    """One decision; htmx swaps the candidate's row."""
    run = access_augmentation_run(request.user, run_id, capability=EDIT)
    decision = request.POST.get("decision", "")
    try:
        candidates_decide(run=run, candidate_ids=[candidate_id], decision=decision, actor=request.user)
    except ApplicationError as exc:
        if request.htmx:
            return render(request, "frontend/augmentation/_error.html", {"message": exc.message}, status=400)
        messages.error(request, exc.message)
        return redirect("augmentation:review", run_id=run.pk)
    candidate = candidate_list(run=run).get(pk=candidate_id)
    if request.htmx:
        return render(
            request,
            "frontend/augmentation/_decision_response.html",
            {
                "candidate": candidate,
                "run": run,
                "reasons": REASONS,
                "can_edit": True,
                "summary": candidate_summary(run=run),
            },
        )
    return redirect("augmentation:review", run_id=run.pk)


@login_required
@require_POST
def accept_passing_view(request, run_id: int):
    run = access_augmentation_run(request.user, run_id, capability=EDIT)
    try:
        changed = candidates_accept_passing(run=run, actor=request.user)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("%(count)s passing candidates accepted.") % {"count": changed})
    return redirect("augmentation:review", run_id=run.pk)


@login_required
@require_POST
def run_accept_view(request, run_id: int):
    run = access_augmentation_run(request.user, run_id, capability=EDIT)
    try:
        version = augmentation_run_accept(run=run, created_by=request.user, note=request.POST.get("note", ""))
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return redirect("augmentation:review", run_id=run.pk)
    messages.success(
        request, _("Version %(number)s created with the accepted candidates.") % {"number": version.number}
    )
    return redirect("datahub:version-detail", version_id=version.pk)


# ---------------------------------------------------------------- mixing


def _mix_form(request, dataset):
    workspace = dataset.workspace
    sources = source_choices(workspace=workspace)
    versions = workspace_version_choices(workspace=workspace)
    return MixForm(request.POST or None, sources=sources, versions=versions)


@login_required
def mix_create_view(request, dataset_id: int):
    dataset = access_dataset(request.user, dataset_id, capability=EDIT)
    form = _mix_form(request, dataset)
    if request.method == "POST" and form.is_valid():
        try:
            run = mix_run_create(
                dataset=dataset,
                ingredients=form.ingredients(),
                total_size=form.cleaned_data["total_size"],
                seed=form.cleaned_data["seed"],
                created_by=request.user,
            )
        except ApplicationError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, _("Mixing started."))
            return redirect("augmentation:mix-detail", run_id=run.pk)
    rows = [(form[name], kind) for name, kind, _ in form.ingredient_fields]
    return render(request, "frontend/augmentation/mix_new.html", {"dataset": dataset, "form": form, "rows": rows},
                  status=400 if form.errors else 200)


@login_required
@require_GET
def mix_detail_view(request, run_id: int):
    run = access_mix_run(request.user, run_id)
    template = "frontend/augmentation/_mix_status.html" if request.htmx else "frontend/augmentation/mix_detail.html"
    response = render(request, template, {"run": run, "dataset": run.dataset})
    if request.htmx and run.is_finished and request.GET.get("poll"):
        response["HX-Refresh"] = "true"
    return response


# ---------------------------------------------------------------- source grading


def _quality_context(request, source, *, grading_form=None, tier_form=None) -> dict:
    report = source_quality_report(source=source)
    labels = [f"{i / 10:.1f}–{(i + 1) / 10:.1f}" for i in range(len(report["histogram"]))]
    chart = {"histogram": report["histogram"], "labels": labels, "pairs": list(zip(labels, report["histogram"])),
             "words": {"title": _("Quality scores"), "score": _("Score"), "records": _("Records")}}
    return {
        "source": source,
        "report": report,
        "chart": chart,
        "runs": grading_runs_of_source(source=source)[:GRADING_RUNS_SHOWN],
        "can_edit": user_can(request.user, EDIT, source.workspace),
        "grading_form": grading_form or GradingForm(workspace=source.workspace),
        "tier_form": tier_form
        or TierForm(
            initial={"quality_tier": (report["run"].suggested_tier if report["run"] else "") or source.quality_tier}
        ),
    }


@login_required
@require_GET
def source_quality_view(request, source_id: int):
    source = access_source(request.user, source_id)
    return render(request, "frontend/augmentation/source_quality.html", _quality_context(request, source))


@login_required
@require_POST
def source_grade_view(request, source_id: int):
    source = access_source(request.user, source_id, capability=EDIT)
    form = GradingForm(request.POST, workspace=source.workspace)
    if form.is_valid():
        try:
            grading_run_create(
                source=source,
                method=form.cleaned_data["method"],
                endpoint=form.cleaned_data["endpoint"],
                options={"language": form.cleaned_data["language"]},
                created_by=request.user,
            )
        except ApplicationError as exc:
            _add_service_error(form, exc)
        else:
            messages.success(request, _("Grading started: the report updates when it finishes."))
            return redirect("augmentation:source-quality", source_id=source.pk)
    return render(
        request,
        "frontend/augmentation/source_quality.html",
        _quality_context(request, source, grading_form=form),
        status=400,
    )


@login_required
@require_POST
def source_tier_view(request, source_id: int):
    source = access_source(request.user, source_id, capability=EDIT)
    form = TierForm(request.POST)
    if form.is_valid():
        source_quality_tier_set(source=source, tier=form.cleaned_data["quality_tier"], actor=request.user)
        messages.success(request, _("Quality tier set to %(tier)s.") % {"tier": form.cleaned_data["quality_tier"]})
        return redirect("augmentation:source-quality", source_id=source.pk)
    return render(
        request,
        "frontend/augmentation/source_quality.html",
        _quality_context(request, source, tier_form=form),
        status=400,
    )


@login_required
@require_GET
def grading_run_view(request, run_id: int):
    """A grading run's row, polled by htmx while it runs; reloads the report page when it finishes."""
    run = access_grading_run(request.user, run_id)
    response = render(request, "frontend/augmentation/_grading_run.html", {"run": run})
    if request.htmx and run.is_finished and request.GET.get("poll"):
        response["HX-Refresh"] = "true"
    return response


urlpatterns = [
    path("datasets/<int:dataset_id>/", dataset_runs_view, name="dataset-runs"),
    path("datasets/<int:dataset_id>/mix/", mix_create_view, name="mix-create"),
    path("versions/<int:version_id>/new/", run_create_view, name="run-create"),
    path("versions/<int:version_id>/synonyms/", synonym_table_create_view, name="synonym-table-create"),
    path("runs/<int:run_id>/", run_detail_view, name="run-detail"),
    path("runs/<int:run_id>/retry/", run_retry_view, name="run-retry"),
    path("runs/<int:run_id>/review/", review_view, name="review"),
    path("runs/<int:run_id>/candidates/<int:candidate_id>/decide/", candidate_decide_view, name="candidate-decide"),
    path("runs/<int:run_id>/accept-passing/", accept_passing_view, name="accept-passing"),
    path("runs/<int:run_id>/accept/", run_accept_view, name="run-accept"),
    path("mixes/<int:run_id>/", mix_detail_view, name="mix-detail"),
    path("sources/<int:source_id>/quality/", source_quality_view, name="source-quality"),
    path("sources/<int:source_id>/grade/", source_grade_view, name="source-grade"),
    path("sources/<int:source_id>/tier/", source_tier_view, name="source-tier"),
    path("gradings/<int:run_id>/", grading_run_view, name="grading-run"),
]

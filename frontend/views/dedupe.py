"""Browser pages of dedupe runs: a dataset's runs with the form to start one, and the review page of a dry run
(histogram, closest pairs side by side, clusters, keyboard flips of keep/drop, apply).

Forms play the input serializer's part; every change goes through dedupe.services, every fetch through
access_* checks, so the pages hold no rules of their own.
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
from datahub.access import EDIT, access_dataset
from datahub.selectors import dataset_versions
from dedupe.access import access_dedupe_decision, access_dedupe_run
from dedupe.embeddings import embedding_model_label
from dedupe.models import DedupeRun
from dedupe.selectors import (
    dedupe_run_clusters,
    dedupe_run_decision_counts,
    dedupe_run_decisions_by_record,
    dedupe_run_pairs,
    dedupe_runs_for_dataset,
)
from dedupe.services import dedupe_decision_override, dedupe_run_apply, dedupe_run_create

app_name = "dedupe"

RUNS_PER_PAGE = 20
PAIRS_PER_PAGE = 10
CLUSTERS_PER_PAGE = 20


class DedupeRunForm(forms.Form):
    version = forms.ModelChoiceField(queryset=None, required=False, label=gettext_lazy("Records"),
                                     empty_label=gettext_lazy("Current records"))
    use_exact = forms.BooleanField(
        required=False, initial=True, label=gettext_lazy("Exact (content hash and normalised text)")
    )
    use_near = forms.BooleanField(required=False, initial=True, label=gettext_lazy("Near-duplicate (MinHash LSH)"))
    use_semantic = forms.BooleanField(required=False, initial=True, label=gettext_lazy("Semantic (embeddings)"))
    near_threshold = forms.FloatField(initial=0.8, min_value=0.5, max_value=1, label=gettext_lazy("Jaccard threshold"),
                                      help_text=gettext_lazy("0.7 aggressive, 0.8 default, 0.9 conservative"))
    cosine_threshold = forms.FloatField(
        initial=0.95,
        min_value=0.5,
        max_value=1,
        label=gettext_lazy("Cosine threshold"),
        help_text=gettext_lazy("0.90 aggressive, 0.95 default, 0.98 conservative (MiniLM-class models)"),
    )
    embedding_model = forms.CharField(
        required=False,
        max_length=500,
        label=gettext_lazy("Embedding model directory"),
        help_text=gettext_lazy("empty: all-MiniLM-L6-v2; or a local sentence-transformers directory"),
    )
    seed = forms.IntegerField(initial=0, label=gettext_lazy("Split seed"),
                              help_text=gettext_lazy("used when applying over current records"))

    def __init__(self, *args, dataset, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["version"].queryset = dataset_versions(dataset=dataset)
        self.fields["version"].label_from_instance = lambda v: _("Version %(number)s") % {"number": v.number}


def _add_service_error(form: forms.Form, exc: ApplicationError) -> None:
    field = exc.where if exc.where in form.fields else None
    form.add_error(field, exc.message)


@login_required
def run_list_view(request, dataset_id: int):
    """A dataset's dedupe runs; POST (data.edit) starts a dry run in the background."""
    dataset = access_dataset(request.user, dataset_id, capability=EDIT if request.method == "POST" else "data.view")
    form = DedupeRunForm(request.POST or None, dataset=dataset)
    if request.method == "POST" and form.is_valid():
        try:
            run = dedupe_run_create(dataset=dataset, created_by=request.user, **form.cleaned_data)
        except ApplicationError as exc:
            _add_service_error(form, exc)
        else:
            messages.success(request, _("Dry run started: nothing changes until you apply it."))
            return redirect("dedupe:run-detail", run_id=run.pk)
    runs = Paginator(dedupe_runs_for_dataset(dataset=dataset), RUNS_PER_PAGE).get_page(request.GET.get("page"))
    context = {
        "dataset": dataset,
        "runs": runs,
        "form": form,
        "can_edit": user_can(request.user, EDIT, dataset.workspace),
    }
    return render(request, "frontend/dedupe/run_list.html", context, status=400 if form.errors else 200)


@login_required
@require_GET
def run_detail_view(request, run_id: int):
    run = access_dedupe_run(request.user, run_id)
    view = request.GET.get("pairs")
    pairs = Paginator(dedupe_run_pairs(run=run, duplicates_only=view == "duplicates", leakage_only=view == "leakage"),
                      PAIRS_PER_PAGE).get_page(request.GET.get("page"))
    clusters = Paginator(dedupe_run_clusters(run=run), CLUSTERS_PER_PAGE).get_page(request.GET.get("clusters_page"))
    decisions = dedupe_run_decisions_by_record(
        run=run, record_ids={r for p in pairs for r in (p.record_a_id, p.record_b_id)}
    )
    shown_pairs = [{"pair": p, "a": decisions.get(p.record_a_id), "b": decisions.get(p.record_b_id)} for p in pairs]
    threshold = run.cosine_threshold if run.histogram.get("stage") == "semantic" else run.near_threshold
    chart = {"histogram": run.histogram, "threshold": threshold,
             "words": {"title": _("Nearest-neighbour similarity"), "x": _("similarity"), "y": _("records"),
                       "threshold": _("threshold")}}
    context = {
        "run": run,
        "dataset": run.dataset,
        "pairs": pairs,
        "shown_pairs": shown_pairs,
        "pair_view": view or "all",
        "embedding_model": embedding_model_label(run.embedding_model),
        "clusters": clusters,
        "counts": dedupe_run_decision_counts(run=run),
        "chart": chart,
        "can_edit": user_can(request.user, EDIT, run.dataset.workspace)
        and run.status == DedupeRun.Status.DRY_RUN_READY,
    }
    return render(request, "frontend/dedupe/run_detail.html", context)


@login_required
@require_GET
def run_progress_view(request, run_id: int):
    """The status card, polled by htmx while the run works; a finished run tells the page to reload."""
    run = access_dedupe_run(request.user, run_id)
    response = render(request, "frontend/dedupe/_run_status.html", {"run": run, "poll": True})
    if run.is_finished and request.GET.get("poll"):
        response["HX-Refresh"] = "true"
    return response


@login_required
@require_POST
def decision_override_view(request, decision_id: int):
    """Flip one decision (keep ↔ drop, or the action posted); answers the decision's button for htmx."""
    decision = access_dedupe_decision(request.user, decision_id, capability=EDIT)
    action = request.POST.get("action") or ("keep" if decision.action == "drop" else "drop")
    try:
        decision = dedupe_decision_override(decision=decision, action=action, actor=request.user)
    except ApplicationError as exc:
        return render(
            request,
            "frontend/dedupe/_decision.html",
            {"decision": decision, "can_edit": False, "error": exc.message},
            status=400,
        )
    if request.htmx:
        return render(request, "frontend/dedupe/_decision.html", {"decision": decision, "can_edit": True})
    return redirect("dedupe:run-detail", run_id=decision.run_id)


@login_required
@require_POST
def run_apply_view(request, run_id: int):
    run = access_dedupe_run(request.user, run_id, capability=EDIT)
    try:
        version = dedupe_run_apply(run=run, actor=request.user, note=request.POST.get("note", "")[:2000])
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return redirect("dedupe:run-detail", run_id=run.pk)
    messages.success(request, _("Version %(number)s created with %(count)s records.") % {
        "number": version.number, "count": sum(version.counts.values())})
    return redirect("datahub:version-detail", version_id=version.pk)


urlpatterns = [
    path("datasets/<int:dataset_id>/", run_list_view, name="run-list"),
    path("runs/<int:run_id>/", run_detail_view, name="run-detail"),
    path("runs/<int:run_id>/progress/", run_progress_view, name="run-progress"),
    path("runs/<int:run_id>/apply/", run_apply_view, name="run-apply"),
    path("decisions/<int:decision_id>/override/", decision_override_view, name="decision-override"),
]

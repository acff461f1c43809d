"""Rater quality control for study managers: gold comparisons (uploaded or marked) and leaving a rater's votes out."""

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.views.decorators.http import require_http_methods

from common.errors import ApplicationError
from evaluation.access import access_study
from evaluation.models import Study
from evaluation.selectors import comparison_for_manager, rater_of_study, study_comparisons_for_manager, study_counts
from evaluation.services import (
    comparison_gold_set,
    gold_parse_jsonl,
    study_gold_upload,
    study_rater_exclude,
    study_rater_include,
)

COMPARISONS_PER_PAGE = 25


class GoldUploadForm(forms.Form):
    gold_file = forms.FileField(
        label=gettext_lazy("Gold prompts (JSONL)"),
        help_text=gettext_lazy(
            'One a line: {"messages": [{"role": "user", "content": "..."}], "chosen": "the better answer", "rejected": '
            '"the worse one"}.'
        ),
    )


@login_required
@require_http_methods(["GET", "POST"])
def study_gold(request, study_id: int):
    """Gold and repeats of a study (study.manage): upload gold prompts, and mark built comparisons gold, arms shown."""
    study = access_study(request.user, study_id, capabilities=("study.manage",))
    form = GoldUploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        try:
            added = study_gold_upload(
                study=study, items=gold_parse_jsonl(data=form.cleaned_data["gold_file"].read()), actor=request.user
            )
        except ApplicationError as error:
            form.add_error(
                "gold_file", f"{error.where}: {error.message}" if error.where.startswith("gold line") else error.message
            )
        else:
            messages.success(
                request, ngettext("Added %(n)d gold comparison.", "Added %(n)d gold comparisons.", added) % {"n": added}
            )
            return redirect("evaluation:study-gold", study_id=study.pk)
    gold_only = request.GET.get("gold") == "1"
    comparisons = study_comparisons_for_manager(study=study, gold_only=gold_only)
    page = Paginator(comparisons, COMPARISONS_PER_PAGE).get_page(request.GET.get("page"))
    return render(request, "frontend/evaluation/study_gold.html", {
        "study": study, "form": form, "page": page, "gold_only": gold_only, "counts": study_counts(study=study),
        "can_mark": study.status in (Study.Status.OPEN, Study.Status.CLOSED)})


@login_required
@require_http_methods(["POST"])
def comparison_gold(request, study_id: int, comparison_id: int):
    """Mark a comparison gold with its better side, or unmark it (study.manage); htmx swaps the row, else a redirect."""
    study = access_study(request.user, study_id, capabilities=("study.manage",))
    comparison = comparison_for_manager(study=study, comparison_id=comparison_id)
    better = request.POST.get("better") or None
    try:
        comparison_gold_set(comparison=comparison, better=better, actor=request.user)
    except ApplicationError as error:
        messages.error(request, error.message)
    if request.htmx:
        return render(
            request,
            "frontend/evaluation/_gold_row.html",
            {
                "study": study,
                "comparison": comparison_for_manager(study=study, comparison_id=comparison_id),
                "can_mark": True,
            },
        )
    return redirect("evaluation:study-gold", study_id=study.pk)


@login_required
@require_http_methods(["POST"])
def rater_exclusion(request, study_id: int, rater_id: int, action: str):
    """Leave a rater's votes out of the results, or count them again (study.manage); back to the results."""
    study = access_study(request.user, study_id, capabilities=("study.manage",))
    rater = rater_of_study(study=study, rater_id=rater_id)
    if rater is None or action not in ("exclude", "include"):
        raise Http404
    try:
        if action == "exclude":
            study_rater_exclude(study=study, rater=rater, actor=request.user, reason=request.POST.get("reason", ""))
            messages.success(request, _("%(rater)s's votes are left out of the results.") % {"rater": rater.username})
        else:
            study_rater_include(study=study, rater=rater, actor=request.user)
            messages.success(request, _("%(rater)s's votes count in the results again.") % {"rater": rater.username})
    except ApplicationError as error:
        messages.error(request, error.message)
    return redirect(reverse("evaluation:study-detail", args=[study.pk]) + "#raters")

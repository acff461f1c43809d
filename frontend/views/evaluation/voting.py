"""Blind voting for raters. A rater's pages carry the study id, the comparison's random token and the two texts:
nothing that names an arm, a model or an answer."""

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from common.errors import ApplicationError
from evaluation.access import access_comparison_for_vote, access_study_for_vote
from evaluation.selectors import studies_open_for_rater, waiting_count
from evaluation.services import showing_serve, vote_submit
from frontend.views.evaluation.rating import rate


@login_required
def vote_home(request):
    return render(
        request, "frontend/evaluation/vote_home.html", {"studies": studies_open_for_rater(rater=request.user)}
    )


class VoteForm(forms.Form):
    token = forms.CharField(max_length=32)
    choice = forms.CharField(max_length=16)
    reason = forms.CharField(required=False, max_length=5000)
    label = forms.CharField(required=False, max_length=64)
    time_spent_ms = forms.IntegerField(required=False, min_value=0)


@login_required
@require_http_methods(["GET", "POST"])
def vote(request, study_id: int):
    """One comparison at a time; a plain form POST (the keyboard presses the same buttons), then the next one."""
    study = access_study_for_vote(request.user, study_id)
    if study.kind == "rating":
        return rate(request, study)
    if request.method == "POST":
        form = VoteForm(request.POST)
        if not form.is_valid():
            messages.error(request, _("That vote could not be read; please vote again."))
            return redirect("evaluation:vote", study_id=study.pk)
        comparison = access_comparison_for_vote(request.user, form.cleaned_data["token"])
        if comparison.study_id != study.pk:
            raise Http404
        try:
            vote_submit(comparison=comparison, rater=request.user, choice=form.cleaned_data["choice"],
                        reason=form.cleaned_data["reason"], label=form.cleaned_data["label"],
                        time_spent_ms=form.cleaned_data["time_spent_ms"] or 0)
        except ApplicationError as error:
            messages.error(request, error.message)
        return redirect("evaluation:vote", study_id=study.pk)
    # The same comparison, same sides, on every reload until the rater votes on it.
    showing = showing_serve(study=study, rater=request.user)
    # Every kind of comparison (regular, gold, repeat) counts the same, so the number gives none of them away.
    remaining = waiting_count(study=study, rater=request.user) if showing else 0
    return render(
        request, "frontend/evaluation/vote.html", {"study": study, "showing": showing, "remaining": remaining}
    )

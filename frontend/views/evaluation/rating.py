"""The rater's page of a blind 1–5 rating study: one answer at a time, a score per criterion of the rubric. It carries
the study id, the item's random token, the prompt, the answer text and the rubric: nothing that names an arm, a model
or an answer. Reached through the vote page's URL (voting.vote hands a rating study over to `rate`)."""

from django import forms
from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _

from common.errors import ApplicationError
from evaluation.access import access_rating_item_for_vote
from evaluation.models import Study
from evaluation.rating_queue import rating_waiting_count
from evaluation.services import rating_serve, rating_submit


class RatingForm(forms.Form):
    token = forms.CharField(max_length=32)
    reason = forms.CharField(required=False, max_length=5000)
    time_spent_ms = forms.IntegerField(required=False, min_value=0)

    def scores(self, study: Study) -> dict:
        """The rubric's criteria → the digits pressed (score_0, score_1, … in rubric order); the service checks them."""
        return {criterion["name"]: self.data.get(f"score_{i}", "") for i, criterion in enumerate(study.rubric)}


def rate(request, study: Study):
    if request.method == "POST":
        form = RatingForm(request.POST)
        if not form.is_valid():
            messages.error(request, _("That rating could not be read; please rate again."))
            return redirect("evaluation:vote", study_id=study.pk)
        item = access_rating_item_for_vote(request.user, form.cleaned_data["token"])
        if item.study_id != study.pk:
            raise Http404
        try:
            rating_submit(item=item, rater=request.user, scores=form.scores(study), reason=form.cleaned_data["reason"],
                          time_spent_ms=form.cleaned_data["time_spent_ms"] or 0)
        except ApplicationError as error:
            messages.error(request, error.message)
        return redirect("evaluation:vote", study_id=study.pk)
    # The same answer on every reload until the rater rates it.
    showing = rating_serve(study=study, rater=request.user)
    remaining = rating_waiting_count(study=study, rater=request.user) if showing else 0
    criteria = [(f"score_{i}", criterion) for i, criterion in enumerate(study.rubric)]
    return render(request, "frontend/evaluation/rate.html",
                  {"study": study, "showing": showing, "remaining": remaining, "criteria": criteria,
                   "scores": range(1, 6)})

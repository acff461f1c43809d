"""The review layers in the browser: reviewers re-check, experts spot-check and settle disagreements, one check at a
time (accept, reject with a reason, or fix the labels).

Its URLs join the annotation namespace (frontend.views.annotation appends them)."""

from django import forms
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.views.decorators.http import require_http_methods, require_POST

from annotation.access import access_project, access_review
from annotation.label_tree import label_nodes_flat
from annotation.models import Review
from annotation.selectors import review_counts, review_held_by, review_item
from annotation.services import review_claim_next, review_decide
from annotation.services.reviews import CAPABILITY_BY_LAYER
from common.errors import ApplicationError
from frontend.forms import form_error


class DecideForm(forms.Form):
    verdict = forms.ChoiceField(choices=[("accept", "accept"), ("reject", "reject"), ("fix", "fix")])
    reason = forms.CharField(required=False, max_length=2000)


def _layer_or_404(layer: str) -> str:
    if layer not in CAPABILITY_BY_LAYER:
        raise Http404
    return layer


@login_required
@require_http_methods(["GET", "POST"])
def review_queue(request, pk: int, layer: str):
    """GET shows the check the user holds in this layer (claiming nothing); POST takes the next one and shows it."""
    layer = _layer_or_404(layer)
    project = access_project(request.user, pk, capabilities=(CAPABILITY_BY_LAYER[layer],))
    if request.method == "POST":
        return _review_next_and_show(request, project=project, layer=layer)
    held = review_held_by(project=project, layer=layer, reviewer=request.user)
    return _review_page(request, project=project, layer=layer, review=held, queue_empty=request.GET.get("empty") == "1")


def _review_page(
    request, *, project, layer: str, review, error: str = "", queue_empty: bool = False, status: int = 200
) -> HttpResponse:
    context = {
        "project": project,
        "layer": layer,
        "layer_label": Review.Layer(layer).label,
        "error": error,
        "queue_empty": queue_empty,
        "counts": review_counts(project=project)[layer],
    }
    if review is not None:
        item = review_item(review=review, project=project)
        context.update(item=item, labels=label_nodes_flat(item.labels))
    return render(request, "frontend/annotation/review.html", context, status=200 if request.htmx else status)


def _review_next_and_show(request, *, project, layer: str) -> HttpResponse:
    review = review_claim_next(project=project, reviewer=request.user, layer=layer)
    url = reverse("annotation:review", args=[project.pk, layer])
    return redirect(url if review is not None else f"{url}?empty=1")


@login_required
@require_POST
def review_decide_view(request, pk: int):
    review = access_review(request.user, pk)
    project = review.task.project
    form = DecideForm(request.POST)
    if not form.is_valid():
        return _review_page(
            request, project=project, layer=review.layer, review=review, error=form_error(form), status=400
        )
    try:
        review_decide(
            review=review,
            reviewer=request.user,
            verdict=form.cleaned_data["verdict"],
            reason=form.cleaned_data["reason"],
            label_ids=request.POST.getlist("label_ids"),
        )
    except ApplicationError as error:
        return _review_page(request, project=project, layer=review.layer, review=review, error=str(error), status=400)
    return _review_next_and_show(request, project=project, layer=review.layer)


urlpatterns = [
    path("projects/<int:pk>/review/<str:layer>/", review_queue, name="review"),
    path("reviews/<int:pk>/decide/", review_decide_view, name="review-decide"),
]

"""Studies for product managers and result readers; blind voting for raters.

The same services and selectors as evaluation/api; forms play the input serializers' part. A rater's pages carry
the study id, the comparison's random token and the two texts: nothing that names an arm, a model or an answer.
"""

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import path
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods
from django_htmx.http import HttpResponseClientRefresh

from accounts.access import user_can
from common.errors import ApplicationError
from evaluation.access import access_comparison_for_vote, access_study, access_study_for_vote
from evaluation.models import Study
from evaluation.selectors import (
    comparison_next_for_rater,
    comparisons_open_for_rater,
    studies_open_for_rater,
    study_arms,
    study_counts,
    study_dataset_version_choices,
    study_list_viewable,
    study_model_choices,
    study_results,
)
from evaluation.services import study_create, vote_submit

app_name = "evaluation"

STUDIES_PER_PAGE = 25


class StudyCreateForm(forms.Form):
    """The PM's study: a frozen version's test split, a baseline and a candidate model of the same workspace."""

    name = forms.CharField(label=gettext_lazy("Name"), max_length=200,
                           help_text=gettext_lazy("Raters see this name: do not name the models in it."))
    question = forms.CharField(label=gettext_lazy("Question for raters"), required=False,
                               widget=forms.TextInput(attrs={"placeholder": gettext_lazy("Which answer helps the customer more?")}))
    dataset_version = forms.ChoiceField(label=gettext_lazy("Dataset version (its test split gives the prompts)"))
    baseline = forms.ChoiceField(label=gettext_lazy("Baseline model"))
    candidate = forms.ChoiceField(label=gettext_lazy("Candidate model"))
    votes_per_comparison = forms.IntegerField(label=gettext_lazy("Votes per comparison"), min_value=1, max_value=50, initial=1)
    max_prompts = forms.IntegerField(label=gettext_lazy("Prompts (at most)"), min_value=1, max_value=5000, initial=50)

    # The service's `where` → the field that shows the message.
    FIELD_FOR_WHERE = {"name": "name", "question": "question", "dataset_version": "dataset_version", "split": "dataset_version",
                       "arms[0]": "baseline", "arms[1]": "candidate", "votes_per_comparison": "votes_per_comparison",
                       "max_prompts": "max_prompts"}

    def __init__(self, *args, versions, base_models, artifacts, **kwargs):
        super().__init__(*args, **kwargs)
        self.versions = {str(v.pk): v for v in versions}
        self.models = {f"base_model:{m.pk}": ("base_model", m) for m in base_models}
        self.models |= {f"artifact:{a.pk}": ("artifact", a) for a in artifacts}
        self.fields["dataset_version"].choices = [
            (key, f"{v.dataset.workspace.name} · {v.dataset.name} v{v.number} ({v.counts.get('test', 0)} test)")
            for key, v in self.versions.items()
        ]
        model_choices = [
            (_("Base models"), [(f"base_model:{m.pk}", f"{m.workspace.name} · {m.name}") for m in base_models]),
            (_("Trained models"), [(f"artifact:{a.pk}", f"{a.workspace.name} · {a.name}") for a in artifacts]),
        ]
        self.fields["baseline"].choices = model_choices
        self.fields["candidate"].choices = model_choices
        # The usual study: a trained model against its base; otherwise two different base models.
        if artifacts:
            self.fields["baseline"].initial = f"base_model:{artifacts[0].base_model_id}"
            self.fields["candidate"].initial = f"artifact:{artifacts[0].pk}"
        elif len(base_models) > 1:
            self.fields["candidate"].initial = f"base_model:{base_models[1].pk}"

    def arms(self) -> list[dict]:
        arms = []
        for field, is_baseline in (("baseline", True), ("candidate", False)):
            kind, model = self.models[self.cleaned_data[field]]
            arms.append({"name": model.name, "is_baseline": is_baseline, kind: model})
        if arms[0]["name"] == arms[1]["name"]:
            arms[1]["name"] = _("%(name)s (candidate)") % {"name": arms[1]["name"]}
        return arms

    def add_service_error(self, error: ApplicationError) -> None:
        where = error.where.split(".")[0]
        self.add_error(self.FIELD_FOR_WHERE.get(where), error.message)


@login_required
@require_http_methods(["GET", "POST"])
def study_list(request):
    can_create = user_can(request.user, "study.manage")
    form = None
    if can_create:
        base_models, artifacts = study_model_choices(user=request.user)
        choices = {"versions": study_dataset_version_choices(user=request.user), "base_models": base_models, "artifacts": artifacts}
        form = StudyCreateForm(request.POST or None, **choices)
        if request.method == "POST" and form.is_valid():
            version = form.versions[form.cleaned_data["dataset_version"]]
            try:
                study = study_create(
                    workspace=version.dataset.workspace, name=form.cleaned_data["name"], question=form.cleaned_data["question"],
                    dataset_version=version, arms=form.arms(), votes_per_comparison=form.cleaned_data["votes_per_comparison"],
                    max_prompts=form.cleaned_data["max_prompts"], created_by=request.user,
                )
            except ApplicationError as error:
                form.add_service_error(error)
            else:
                messages.success(request, _("Study created; the models are answering the prompts now."))
                return redirect("evaluation:study-detail", study_id=study.pk)
    elif request.method == "POST":
        raise Http404
    page = Paginator(study_list_viewable(user=request.user), STUDIES_PER_PAGE).get_page(request.GET.get("page"))
    return render(request, "frontend/evaluation/study_list.html", {"page": page, "form": form})


def _percent(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.1f}%"


def _result_rows(results) -> list[dict]:
    """Figures formatted for reading: percentages with one decimal, p with three."""
    rows = []
    for result in results:
        s = result.summary
        rows.append({
            "baseline": result.baseline, "candidate": result.candidate, "summary": s, "verdict": s.verdict,
            "support_rate": _percent(s.support_rate), "interval_low": _percent(s.interval_low), "interval_high": _percent(s.interval_high),
            "win_rate": _percent(s.win_rate), "decisive_win_rate": _percent(s.decisive_win_rate),
            "sign_test_p": "–" if s.sign_test_p is None else f"{s.sign_test_p:.3f}",
        })
    return rows


@login_required
def study_detail(request, study_id: int):
    study = access_study(request.user, study_id)
    context = {"study": study, "arms": study_arms(study=study), "counts": study_counts(study=study), "results": None}
    if user_can(request.user, "study.view_results", study.workspace):
        context["results"] = _result_rows(study_results(study=study, arms=context["arms"]))
    return render(request, "frontend/evaluation/study_detail.html", context)


@login_required
def study_status(request, study_id: int):
    """The status block alone, polled by htmx while answers are generated; when generation ends, the page reloads."""
    study = access_study(request.user, study_id)
    if request.htmx and study.status != Study.Status.GENERATING:
        return HttpResponseClientRefresh()
    return render(request, "frontend/evaluation/_study_status.html", {"study": study})


@login_required
def vote_home(request):
    return render(request, "frontend/evaluation/vote_home.html", {"studies": studies_open_for_rater(rater=request.user)})


class VoteForm(forms.Form):
    token = forms.CharField(max_length=32)
    choice = forms.CharField(max_length=16)
    reason = forms.CharField(required=False, max_length=5000)
    time_spent_ms = forms.IntegerField(required=False, min_value=0)


@login_required
@require_http_methods(["GET", "POST"])
def vote(request, study_id: int):
    """One comparison at a time; a plain form POST (the keyboard presses the same buttons), then the next one."""
    study = access_study_for_vote(request.user, study_id)
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
                        reason=form.cleaned_data["reason"], time_spent_ms=form.cleaned_data["time_spent_ms"] or 0)
        except ApplicationError as error:
            messages.error(request, error.message)
        return redirect("evaluation:vote", study_id=study.pk)
    comparison = comparison_next_for_rater(study=study, rater=request.user)
    remaining = comparisons_open_for_rater(study=study, rater=request.user).count() if comparison else 0
    return render(request, "frontend/evaluation/vote.html", {"study": study, "comparison": comparison, "remaining": remaining})


urlpatterns = [
    path("", study_list, name="study-list"),
    path("<int:study_id>/", study_detail, name="study-detail"),
    path("<int:study_id>/status/", study_status, name="study-status"),
    path("vote/", vote_home, name="vote-home"),
    path("vote/<int:study_id>/", vote, name="vote"),
]

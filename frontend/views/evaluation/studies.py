"""Studies for product managers: creating one, its page, LLM judges, exporting the votes, closing, retrying.

The same services and selectors as evaluation/api; forms play the input serializers' part."""

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.views.decorators.http import require_http_methods
from django_htmx.http import HttpResponseClientRefresh

from accounts.access import user_can
from common.errors import ApplicationError
from evaluation.access import access_study
from evaluation.models import Study
from evaluation.rating_results import rating_counts, study_rating_summary
from evaluation.selectors import (
    study_arms,
    study_counts,
    study_dataset_version_choices,
    study_endpoint_choices,
    study_judge_endpoint_choices,
    study_list_viewable,
    study_model_choices,
)
from evaluation.services import (
    judge_create,
    study_abandon,
    study_close,
    study_create,
    study_is_stale,
    study_retry,
    study_votes_export,
)
from evaluation.services.judges import DEFAULT_JUDGE_PROMPT
from evaluation.services.prompt_upload import prompts_parse_jsonl
from feedback.selectors import feedback_support_rates
from frontend.views.evaluation.results import results_context

STUDIES_PER_PAGE = 25


class StudyCreateForm(forms.Form):
    """The PM's study: a frozen version's test split, a baseline and a candidate model of the same workspace."""

    name = forms.CharField(label=gettext_lazy("Name"), max_length=200,
                           help_text=gettext_lazy("Raters see this name: do not name the models in it."))
    question = forms.CharField(
        label=gettext_lazy("Question for raters"),
        required=False,
        widget=forms.TextInput(attrs={"placeholder": gettext_lazy("Which answer helps the customer more?")}),
    )
    dataset_version = forms.ChoiceField(
        label=gettext_lazy("Dataset version (its test split gives the prompts)"), required=False
    )
    prompts_file = forms.FileField(
        label=gettext_lazy("Or upload prompts (JSONL)"), required=False,
        help_text=gettext_lazy('One conversation a line: {"messages": [{"role": "user", "content": "..."}]}. '
                               'A file replaces the dataset version.'))
    baseline = forms.ChoiceField(label=gettext_lazy("Baseline model"))
    candidate = forms.ChoiceField(label=gettext_lazy("Candidate model"))
    more_candidates = forms.MultipleChoiceField(
        label=gettext_lazy("More candidates (optional)"),
        required=False,
        help_text=gettext_lazy(
            "Each candidate is compared with the baseline; with more than one, the results also rank all arms."
        ),
    )
    votes_per_comparison = forms.IntegerField(
        label=gettext_lazy("Votes per comparison"), min_value=1, max_value=50, initial=1
    )
    max_prompts = forms.IntegerField(label=gettext_lazy("Prompts (at most)"), min_value=1, max_value=5000, initial=50)
    labels = forms.CharField(
        label=gettext_lazy("Vote labels (optional, comma-separated)"),
        required=False,
        max_length=2000,
        help_text=gettext_lazy(
            "Raters may tag a vote with one, e.g. tone, facts, safety; results break down by label."
        ),
    )
    gold_percent = forms.IntegerField(
        label=gettext_lazy("Gold share of each rater's queue (%)"),
        min_value=0,
        max_value=50,
        initial=0,
        required=False,
        help_text=gettext_lazy(
            "Gold comparisons have a known better answer; you add them once the study is open. "
            "Raters cannot tell them apart; they score each rater's accuracy and stay out of the results."
        ),
    )
    repeat_percent = forms.IntegerField(
        label=gettext_lazy("Comparisons repeated with the sides swapped (%)"),
        min_value=0,
        max_value=100,
        initial=0,
        required=False,
        help_text=gettext_lazy(
            "Shown again to the same rater a few votes later, to measure consistency; only the first vote counts."
        ),
    )
    gold_threshold_percent = forms.IntegerField(
        label=gettext_lazy("Flag raters below this gold accuracy (%)"),
        min_value=0,
        max_value=100,
        initial=70,
        required=False,
    )

    kind = forms.ChoiceField(
        label=gettext_lazy("Kind of study"), initial="pairwise", required=False,
        choices=[("pairwise", gettext_lazy("Pairwise: raters pick the better of two answers")),
                 ("rating", gettext_lazy("Rating: raters score each answer 1–5 on a rubric"))],
    )
    rubric = forms.CharField(
        label=gettext_lazy("Rubric (rating studies)"), required=False, max_length=5000,
        widget=forms.Textarea(attrs={"rows": 3,
                                     "placeholder": gettext_lazy("helpfulness: does it solve the problem?")}),
        help_text=gettext_lazy("One criterion a line: a name, optionally followed by a colon and what raters judge. "
                               "Empty: one criterion, overall."),
    )
    significance_level = forms.FloatField(
        label=gettext_lazy("Significance level"), initial=0.05, min_value=0.001, max_value=0.2, required=False,
        help_text=gettext_lazy("Every comparison between models is called significant at this level."),
    )

    # The service's `where` → the field that shows the message.
    FIELD_FOR_WHERE = {
        "name": "name",
        "question": "question",
        "dataset_version": "dataset_version",
        "split": "dataset_version",
        "arms[0]": "baseline",
        "arms[1]": "candidate",
        "votes_per_comparison": "votes_per_comparison",
        "max_prompts": "max_prompts",
        "labels": "labels",
        "prompts": "prompts_file",
        "gold_rate": "gold_percent",
        "repeat_rate": "repeat_percent",
        "gold_threshold": "gold_threshold_percent",
        "kind": "kind",
        "rubric": "rubric",
        "significance_level": "significance_level",
    }

    def __init__(self, *args, versions, base_models, artifacts, endpoints=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.versions = {str(v.pk): v for v in versions}
        self.models = {f"base_model:{m.pk}": ("base_model", m) for m in base_models}
        self.models |= {f"artifact:{a.pk}": ("artifact", a) for a in artifacts}
        self.models |= {f"endpoint:{e.pk}": ("endpoint", e) for e in endpoints}
        choices = [(key, f"{v.dataset.workspace.name} · {v.dataset.name} v{v.number} ({v.counts.get('test', 0)} test)")
                   for key, v in self.versions.items()]
        self.fields["dataset_version"].choices = [("", _("— none: use the uploaded file —"))] + choices
        # A version without test prompts cannot give a study any: it is not offered (still accepted, so that a stale
        # form gets the service's message saying so).
        usable = {key for key, v in self.versions.items() if v.counts.get("test", 0) > 0}
        self.fields["dataset_version"].widget.choices = [("", _("— none: use the uploaded file —"))] + [
            (key, label) for key, label in choices if key in usable]
        if usable:  # the usual source; the empty choice is for an upload
            # The test split of the data the newest trained model learned from, else the newest version with test
            # prompts.
            trained_on = str(artifacts[0].dataset_version_id) if artifacts else None
            newest = max((self.versions[key] for key in usable), key=lambda v: (v.created_at, v.pk))
            self.fields["dataset_version"].initial = trained_on if trained_on in usable else str(newest.pk)
        else:
            self.fields["dataset_version"].help_text = _(
                "No frozen version here has a test split: upload prompts instead, "
                "or freeze a version with a test share."
            )
        model_choices = [
            (_("Base models"), [(f"base_model:{m.pk}", f"{m.workspace.name} · {m.name}") for m in base_models]),
            (_("Trained models"), [(f"artifact:{a.pk}", f"{a.workspace.name} · {a.name}") for a in artifacts]),
        ]
        if endpoints:
            model_choices.append(
                (_("Model endpoints"), [(f"endpoint:{e.pk}", f"{e.workspace.name} · {e.name}") for e in endpoints])
            )
        self.fields["baseline"].choices = model_choices
        self.fields["candidate"].choices = model_choices
        self.fields["more_candidates"].choices = model_choices
        # The usual study: a trained model against its base; otherwise two different base models.
        if artifacts:
            self.fields["baseline"].initial = f"base_model:{artifacts[0].base_model_id}"
            self.fields["candidate"].initial = f"artifact:{artifacts[0].pk}"
        elif len(base_models) > 1:
            self.fields["candidate"].initial = f"base_model:{base_models[1].pk}"

    def arms(self) -> list[dict]:
        """Baseline first, then the candidate and any more candidates; a model picked twice gets a numbered name."""
        keys = [self.cleaned_data["baseline"], self.cleaned_data["candidate"], *self.cleaned_data["more_candidates"]]
        arms, names = [], set()
        for i, key in enumerate(keys):
            kind, model = self.models[key]
            name = model.name
            if name in names:
                name = _("%(name)s (candidate)") % {"name": model.name}
                number = 2
                while name in names:
                    name = _("%(name)s (candidate %(n)d)") % {"name": model.name, "n": number}
                    number += 1
            names.add(name)
            arms.append({"name": name, "is_baseline": i == 0, kind: model})
        return arms

    def prompt_source(self) -> dict:
        """study_create's keywords for the prompts: the chosen version, or the uploaded file parsed (may raise)."""
        upload = self.cleaned_data.get("prompts_file")
        if upload is not None:  # a file replaces the version (which has a default the PM need not clear)
            return {"prompts": prompts_parse_jsonl(data=upload.read()), "upload_name": upload.name}
        key = self.cleaned_data.get("dataset_version")
        return {"dataset_version": self.versions[key] if key else None}

    def quality_settings(self) -> dict:
        """study_create's gold_rate, repeat_rate and gold_threshold from the percentages (blank: the defaults)."""
        percent = {
            "gold_rate": ("gold_percent", 0),
            "repeat_rate": ("repeat_percent", 0),
            "gold_threshold": ("gold_threshold_percent", 70),
        }
        return {key: (default if self.cleaned_data.get(field) is None else self.cleaned_data[field]) / 100
                for key, (field, default) in percent.items()}

    def kind_settings(self) -> dict:
        """study_create's kind, rubric (criteria from "name: description" lines) and significance level."""
        rubric = []
        for line in self.cleaned_data["rubric"].splitlines():
            name, _colon, description = line.partition(":")
            if name.strip():
                rubric.append({"name": name.strip(), "description": description.strip()})
        kind = self.cleaned_data["kind"] or "pairwise"
        level = self.cleaned_data["significance_level"]
        return {"kind": kind, "rubric": rubric if kind == "rating" else None,
                "significance_level": 0.05 if level is None else level}

    def label_list(self) -> list[str]:
        return [part.strip() for part in self.cleaned_data["labels"].split(",") if part.strip()]

    def add_service_error(self, error: ApplicationError) -> None:
        where = error.where.split(".")[0]
        if where.startswith("rubric"):
            where = "rubric"
        elif where.startswith("labels["):
            where = "labels"
        elif where.startswith("prompts"):
            where = "prompts"
        elif where.startswith("arms[") and where not in self.FIELD_FOR_WHERE:
            where = "more_candidates"
        self.add_error(self.FIELD_FOR_WHERE.get(where), error.message)


def _only_workspace(form: StudyCreateForm):
    """An uploaded prompt set has no workspace of its own: the study lives in the baseline model's workspace (every arm
    must be in the same one, which study_create checks)."""
    _, model = form.models[form.cleaned_data["baseline"]]
    return model.workspace


@login_required
@require_http_methods(["GET", "POST"])
def study_list(request):
    can_create = user_can(request.user, "study.manage")
    form = None
    if can_create:
        base_models, artifacts = study_model_choices(user=request.user)
        choices = {
            "versions": study_dataset_version_choices(user=request.user),
            "base_models": base_models,
            "artifacts": artifacts,
            "endpoints": study_endpoint_choices(user=request.user),
        }
        form = StudyCreateForm(request.POST or None, request.FILES or None, **choices)
        if request.method == "POST" and form.is_valid():
            try:
                source = form.prompt_source()
                workspace = (
                    source["dataset_version"].dataset.workspace
                    if source.get("dataset_version")
                    else _only_workspace(form)
                )
                study = study_create(
                    workspace=workspace, name=form.cleaned_data["name"], question=form.cleaned_data["question"],
                    arms=form.arms(), votes_per_comparison=form.cleaned_data["votes_per_comparison"],
                    max_prompts=form.cleaned_data["max_prompts"], labels=form.label_list(), created_by=request.user,
                    **form.quality_settings(), **form.kind_settings(), **source,
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


@login_required
def study_detail(request, study_id: int):
    study = access_study(request.user, study_id)
    context = {
        "study": study,
        "arms": study_arms(study=study),
        "counts": study_counts(study=study),
        "results": None,
        "can_manage": user_can(request.user, "study.manage", study.workspace),
        "is_stale": study_is_stale(study=study),
    }
    if study.kind == "rating" and user_can(request.user, "study.view_results", study.workspace):
        context["rating_summary"] = study_rating_summary(study=study, arms=context["arms"])
        context["rating_counts"] = rating_counts(study=study)
    elif user_can(request.user, "study.view_results", study.workspace):
        context |= results_context(study, context["arms"], context["counts"])
        context["can_export"] = user_can(request.user, "data.edit", study.workspace)
    if user_can(request.user, "feedback.view", study.workspace):
        context["online_support"] = feedback_support_rates(workspace=study.workspace, since=study.created_at)
        context["can_view_feedback_dashboard"] = True
    if context["can_manage"] and study.status in (Study.Status.OPEN, Study.Status.CLOSED) \
            and user_can(request.user, "model_endpoints.use", study.workspace):
        endpoints = study_judge_endpoint_choices(study=study)
        context["judge_form"] = JudgeForm(endpoints=endpoints) if endpoints else None
    return render(request, "frontend/evaluation/study_detail.html", context)


class JudgeForm(forms.Form):
    endpoint = forms.ChoiceField(label=gettext_lazy("Judge model endpoint"))
    prompt = forms.CharField(
        label=gettext_lazy("Judge prompt"),
        widget=forms.Textarea(attrs={"rows": 8}),
        required=False,
        help_text=gettext_lazy("Must contain {conversation}, {answer_a} and {answer_b}; may contain {question}."),
    )

    def __init__(self, *args, endpoints, **kwargs):
        super().__init__(*args, **kwargs)
        self.endpoints = {str(e.pk): e for e in endpoints}
        self.fields["endpoint"].choices = [(key, e.name) for key, e in self.endpoints.items()]
        self.fields["prompt"].initial = DEFAULT_JUDGE_PROMPT


@login_required
@require_http_methods(["POST"])
def judge_add(request, study_id: int):
    """Queue an LLM judge of the study (study.manage and model_endpoints.use), then back to the study."""
    study = access_study(request.user, study_id, capabilities=("study.manage",))
    if not user_can(request.user, "model_endpoints.use", study.workspace):
        raise Http404
    form = JudgeForm(request.POST, endpoints=study_judge_endpoint_choices(study=study))
    if not form.is_valid():
        messages.error(request, _("Choose a model endpoint for the judge."))
        return redirect("evaluation:study-detail", study_id=study.pk)
    try:
        judge_create(
            study=study,
            endpoint=form.endpoints[form.cleaned_data["endpoint"]],
            prompt=form.cleaned_data["prompt"],
            created_by=request.user,
        )
    except ApplicationError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, _("The judge is at work; its verdicts appear under Results when it is done."))
    return redirect("evaluation:study-detail", study_id=study.pk)


class VotesExportForm(forms.Form):
    dataset_name = forms.CharField(label=gettext_lazy("New dataset name"), max_length=200)


@login_required
@require_http_methods(["POST"])
def study_export(request, study_id: int):
    """The votes as DPO pairs in a new dataset version (study.view_results and data.edit), then back to the study."""
    study = access_study(request.user, study_id, capabilities=("study.view_results",))
    if not user_can(request.user, "data.edit", study.workspace):
        raise Http404
    form = VotesExportForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Give the new dataset a name."))
        return redirect("evaluation:study-detail", study_id=study.pk)
    try:
        version = study_votes_export(
            study=study, dataset_name=form.cleaned_data["dataset_name"], created_by=request.user
        )
    except ApplicationError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, ngettext(
            "Exported %(n)d preference pair as %(dataset)s v%(number)d.",
            "Exported %(n)d preference pairs as %(dataset)s v%(number)d.", sum(version.counts.values()),
        ) % {"n": sum(version.counts.values()), "dataset": version.dataset.name, "number": version.number})
    return redirect("evaluation:study-detail", study_id=study.pk)


@login_required
@require_http_methods(["POST"])
def study_transition(request, study_id: int, action: str):
    """Close, retry or abandon a study from its page (study.manage), then back to the page with the outcome."""
    services = {"close": (study_close, _("The study is closed; no more votes are taken.")),
                "retry": (study_retry, _("Generating the answers again.")),
                "abandon": (study_abandon, _("The study is marked failed; you may retry it."))}
    if action not in services:
        raise Http404
    study = access_study(request.user, study_id, capabilities=("study.manage",))
    service, done = services[action]
    try:
        service(study=study, actor=request.user)
    except ApplicationError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, done)
    return redirect("evaluation:study-detail", study_id=study.pk)


@login_required
def study_status(request, study_id: int):
    """The status block alone, polled by htmx while answers are generated; when generation ends, the page reloads."""
    study = access_study(request.user, study_id)
    if request.htmx and study.status != Study.Status.GENERATING:
        return HttpResponseClientRefresh()
    return render(
        request,
        "frontend/evaluation/_study_status.html",
        {
            "study": study,
            "can_manage": user_can(request.user, "study.manage", study.workspace),
            "is_stale": study_is_stale(study=study),
        },
    )

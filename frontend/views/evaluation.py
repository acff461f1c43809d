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
from django.urls import path, reverse
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods
from django_htmx.http import HttpResponseClientRefresh

from accounts.access import user_can
from annotation.feedback.selectors import feedback_support_rates
from common.errors import ApplicationError
from evaluation.access import access_comparison_for_vote, access_study, access_study_for_vote
from evaluation.models import Study
from evaluation.selectors import (
    comparison_for_manager,
    rater_of_study,
    studies_open_for_rater,
    study_arms,
    study_counts,
    study_dataset_version_choices,
    study_endpoint_choices,
    study_judge_endpoint_choices,
    study_simulated_votes,
    study_judge_results,
    study_list_viewable,
    study_metrics,
    study_model_choices,
    study_ranking,
    study_results,
    study_comparisons_for_manager,
    study_vote_rows,
    waiting_count,
)
from evaluation.reliability import study_rater_reliability
from evaluation.services import (
    comparison_gold_set,
    gold_parse_jsonl,
    judge_create,
    showing_serve,
    study_abandon,
    study_close,
    study_create,
    study_gold_upload,
    study_is_stale,
    study_rater_exclude,
    study_rater_include,
    study_retry,
    study_votes_export,
    vote_submit,
)
from evaluation.services.judges import DEFAULT_JUDGE_PROMPT
from evaluation.services.prompt_upload import prompts_parse_jsonl

app_name = "evaluation"

STUDIES_PER_PAGE = 25


class StudyCreateForm(forms.Form):
    """The PM's study: a frozen version's test split, a baseline and a candidate model of the same workspace."""

    name = forms.CharField(label=gettext_lazy("Name"), max_length=200,
                           help_text=gettext_lazy("Raters see this name: do not name the models in it."))
    question = forms.CharField(label=gettext_lazy("Question for raters"), required=False,
                               widget=forms.TextInput(attrs={"placeholder": gettext_lazy("Which answer helps the customer more?")}))
    dataset_version = forms.ChoiceField(label=gettext_lazy("Dataset version (its test split gives the prompts)"), required=False)
    prompts_file = forms.FileField(
        label=gettext_lazy("Or upload prompts (JSONL)"), required=False,
        help_text=gettext_lazy('One conversation a line: {"messages": [{"role": "user", "content": "..."}]}. '
                               'A file replaces the dataset version.'))
    baseline = forms.ChoiceField(label=gettext_lazy("Baseline model"))
    candidate = forms.ChoiceField(label=gettext_lazy("Candidate model"))
    more_candidates = forms.MultipleChoiceField(
        label=gettext_lazy("More candidates (optional)"), required=False,
        help_text=gettext_lazy("Each candidate is compared with the baseline; with more than one, the results also rank all arms."))
    votes_per_comparison = forms.IntegerField(label=gettext_lazy("Votes per comparison"), min_value=1, max_value=50, initial=1)
    max_prompts = forms.IntegerField(label=gettext_lazy("Prompts (at most)"), min_value=1, max_value=5000, initial=50)
    labels = forms.CharField(label=gettext_lazy("Vote labels (optional, comma-separated)"), required=False, max_length=2000,
                             help_text=gettext_lazy("Raters may tag a vote with one, e.g. tone, facts, safety; "
                                                    "results break down by label."))
    gold_percent = forms.IntegerField(
        label=gettext_lazy("Gold share of each rater's queue (%)"), min_value=0, max_value=50, initial=0, required=False,
        help_text=gettext_lazy("Gold comparisons have a known better answer; you add them once the study is open. "
                               "Raters cannot tell them apart; they score each rater's accuracy and stay out of the results."))
    repeat_percent = forms.IntegerField(
        label=gettext_lazy("Comparisons repeated with the sides swapped (%)"), min_value=0, max_value=100, initial=0, required=False,
        help_text=gettext_lazy("Shown again to the same rater a few votes later, to measure consistency; only the first vote counts."))
    gold_threshold_percent = forms.IntegerField(
        label=gettext_lazy("Flag raters below this gold accuracy (%)"), min_value=0, max_value=100, initial=70, required=False)

    # The service's `where` → the field that shows the message.
    FIELD_FOR_WHERE = {"name": "name", "question": "question", "dataset_version": "dataset_version", "split": "dataset_version",
                       "arms[0]": "baseline", "arms[1]": "candidate", "votes_per_comparison": "votes_per_comparison",
                       "max_prompts": "max_prompts", "labels": "labels", "prompts": "prompts_file", "gold_rate": "gold_percent",
                       "repeat_rate": "repeat_percent", "gold_threshold": "gold_threshold_percent"}

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
            # The test split of the data the newest trained model learned from, else the newest version with test prompts.
            trained_on = str(artifacts[0].dataset_version_id) if artifacts else None
            newest = max((self.versions[key] for key in usable), key=lambda v: (v.created_at, v.pk))
            self.fields["dataset_version"].initial = trained_on if trained_on in usable else str(newest.pk)
        else:
            self.fields["dataset_version"].help_text = _("No frozen version here has a test split: upload prompts instead, "
                                                         "or freeze a version with a test share.")
        model_choices = [
            (_("Base models"), [(f"base_model:{m.pk}", f"{m.workspace.name} · {m.name}") for m in base_models]),
            (_("Trained models"), [(f"artifact:{a.pk}", f"{a.workspace.name} · {a.name}") for a in artifacts]),
        ]
        if endpoints:
            model_choices.append((_("Model endpoints"), [(f"endpoint:{e.pk}", f"{e.workspace.name} · {e.name}") for e in endpoints]))
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
        percent = {"gold_rate": ("gold_percent", 0), "repeat_rate": ("repeat_percent", 0), "gold_threshold": ("gold_threshold_percent", 70)}
        return {key: (default if self.cleaned_data.get(field) is None else self.cleaned_data[field]) / 100
                for key, (field, default) in percent.items()}

    def label_list(self) -> list[str]:
        return [part.strip() for part in self.cleaned_data["labels"].split(",") if part.strip()]

    def add_service_error(self, error: ApplicationError) -> None:
        where = error.where.split(".")[0]
        if where.startswith("labels["):
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
        choices = {"versions": study_dataset_version_choices(user=request.user), "base_models": base_models, "artifacts": artifacts,
                   "endpoints": study_endpoint_choices(user=request.user)}
        form = StudyCreateForm(request.POST or None, request.FILES or None, **choices)
        if request.method == "POST" and form.is_valid():
            try:
                source = form.prompt_source()
                workspace = source["dataset_version"].dataset.workspace if source.get("dataset_version") else _only_workspace(form)
                study = study_create(
                    workspace=workspace, name=form.cleaned_data["name"], question=form.cleaned_data["question"],
                    arms=form.arms(), votes_per_comparison=form.cleaned_data["votes_per_comparison"],
                    max_prompts=form.cleaned_data["max_prompts"], labels=form.label_list(), created_by=request.user,
                    **form.quality_settings(), **source,
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


def _interval(low: float | None, high: float | None) -> str:
    return "–" if low is None or high is None else f"{_percent(low)} – {_percent(high)}"


def _result_rows(results) -> list[dict]:
    """Figures formatted for reading: percentages with one decimal, p and α with three."""
    rows = []
    for result in results:
        s = result.summary
        rows.append({
            "result": result, "baseline": result.baseline, "candidate": result.candidate, "summary": s, "verdict": s.verdict,
            "support_rate": _percent(s.support_rate), "interval_low": _percent(s.interval_low), "interval_high": _percent(s.interval_high),
            "bootstrap_low": _percent(result.bootstrap_low), "bootstrap_high": _percent(result.bootstrap_high),
            "win_rate": _percent(s.win_rate), "decisive_win_rate": _percent(s.decisive_win_rate),
            "sign_test_p": "–" if s.sign_test_p is None else f"{s.sign_test_p:.3f}",
            "length_controlled": _percent(result.length.controlled_rate), "longer_won": _percent(result.length.longer_won_rate),
            "agreement": _percent(result.agreement.agreement), "decisive_agreement": _percent(result.agreement.decisive_agreement),
            "alpha": "–" if result.agreement.alpha is None else f"{result.agreement.alpha:.3f}",
            "labels": [{"label": label, "votes": summary.votes, "support_rate": _percent(summary.support_rate),
                        "interval": _interval(summary.interval_low, summary.interval_high)}
                       for label, summary in result.labels.items()],
        })
    return rows


def _chart_bar(name: str, summary) -> dict:
    return {"name": name, "rate": summary.support_rate * 100, "low": summary.interval_low * 100, "high": summary.interval_high * 100}


def _chart_data(results) -> dict:
    """Numbers for the results charts (percent), with the chart's words translated here."""
    candidates = [_chart_bar(r.candidate.name, r.summary) for r in results if r.summary.votes]
    labels = [_chart_bar(f"{r.candidate.name} · {label}" if len(results) > 1 else label, summary)
              for r in results for label, summary in r.labels.items()]
    words = {"support_rate": _("Support rate (ties count half)"), "damaged": _("damaged"),
             "not_good_enough": _("not good enough"), "success": _("success"), "marked_improvement": _("marked improvement")}
    return {"candidates": candidates, "labels": labels, "words": words}


def _rater_rows(study) -> tuple[list[dict], list[dict]]:
    """The reliability table's rows (formatted) and the chart's numbers (percent)."""
    rows, chart = [], []
    for r in study_rater_reliability(study=study):
        rows.append({"rater": r, "gold": _percent(r.gold_accuracy), "gold_interval": _interval(r.gold_low, r.gold_high),
                     "consistency": _percent(r.consistency), "majority": _percent(r.majority_agreement),
                     "median_seconds": "–" if r.median_seconds is None else f"{r.median_seconds:.1f}"})
        if r.gold_accuracy is not None:
            chart.append({"name": r.username, "rate": r.gold_accuracy * 100, "low": r.gold_low * 100, "high": r.gold_high * 100,
                          "consistency": None if r.consistency is None else r.consistency * 100})
    return rows, chart


def _results_context(study, arms) -> dict:
    rows = study_vote_rows(study=study)
    results = study_results(study=study, arms=arms, rows=rows)
    ranking = study_ranking(study=study, arms=arms, rows=rows) if len(arms) > 2 else []
    chart_data = _chart_data(results)
    chart_data["ranking"] = [{"name": r.model.name, "rating": r.rating, "low": r.low, "high": r.high} for r in ranking]
    chart_data["words"]["rating"] = _("Bradley–Terry rating (Elo scale)")
    raters, chart_data["raters"] = _rater_rows(study)
    chart_data["threshold"] = study.gold_threshold * 100
    # xgettext:no-python-format
    gold_accuracy = _("Gold accuracy (95% interval)")
    chart_data["words"] |= {"gold_accuracy": gold_accuracy, "consistency": _("Repeat consistency"),
                            "threshold": _("Flag threshold")}
    metrics = [{"arm": arm, "count": m.count, "exact_match": _percent(m.exact_match),
                "bleu": "–" if m.bleu is None else f"{m.bleu:.1f}", "rouge_l": "–" if m.rouge_l is None else f"{m.rouge_l:.3f}"}
               for arm, m in study_metrics(study=study, arms=arms)]
    return {"arms": arms, "results": _result_rows(results), "chart_data": chart_data,
            "simulated": study_simulated_votes(study=study), "has_labels": any(r.labels for r in results),
            "raters": raters, "counts_excluded": sum(r["rater"].excluded for r in raters),
            "metrics": metrics if any(m["count"] for m in metrics) else [],
            "judges": [{"result": j, "agreement": _percent(j.human_agreement), "decisive_agreement": _percent(j.human_decisive_agreement),
                        "candidates": [{"arm": arm, "support_rate": _percent(s.support_rate),
                                        "interval": _interval(s.interval_low, s.interval_high)} for arm, s in j.candidates]}
                       for j in study_judge_results(study=study, arms=arms, rows=rows)],
            "ranking": [{"arm": r.model, "rating": f"{r.rating:.0f}", "interval": f"{r.low:.0f} – {r.high:.0f}", "rank": r.rank,
                         "votes": r.votes} for r in ranking]}


@login_required
def study_detail(request, study_id: int):
    study = access_study(request.user, study_id)
    context = {"study": study, "arms": study_arms(study=study), "counts": study_counts(study=study), "results": None,
               "can_manage": user_can(request.user, "study.manage", study.workspace), "is_stale": study_is_stale(study=study)}
    if user_can(request.user, "study.view_results", study.workspace):
        context |= _results_context(study, context["arms"])
        context["can_export"] = user_can(request.user, "data.edit", study.workspace)
    if user_can(request.user, "feedback.view", study.workspace):
        context["online_support"] = feedback_support_rates(workspace=study.workspace, since=study.created_at)
        context["can_view_feedback_dashboard"] = True
    if context["can_manage"] and study.status in (Study.Status.OPEN, Study.Status.CLOSED) \
            and user_can(request.user, "model_endpoints.use", study.workspace):
        endpoints = study_judge_endpoint_choices(study=study)
        context["judge_form"] = JudgeForm(endpoints=endpoints) if endpoints else None
    return render(request, "frontend/evaluation/study_detail.html", context)


@login_required
def study_report(request, study_id: int):
    """The results on one printable page: setup, arms revealed, every figure and the charts (study.view_results)."""
    study = access_study(request.user, study_id, capabilities=("study.view_results",))
    context = {"study": study, "counts": study_counts(study=study), **_results_context(study, study_arms(study=study))}
    return render(request, "frontend/evaluation/study_report.html", context)


class JudgeForm(forms.Form):
    endpoint = forms.ChoiceField(label=gettext_lazy("Judge model endpoint"))
    prompt = forms.CharField(label=gettext_lazy("Judge prompt"), widget=forms.Textarea(attrs={"rows": 8}), required=False,
                             help_text=gettext_lazy("Must contain {conversation}, {answer_a} and {answer_b}; may contain {question}."))

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
        judge_create(study=study, endpoint=form.endpoints[form.cleaned_data["endpoint"]], prompt=form.cleaned_data["prompt"],
                     created_by=request.user)
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
        version = study_votes_export(study=study, dataset_name=form.cleaned_data["dataset_name"], created_by=request.user)
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
    return render(request, "frontend/evaluation/_study_status.html", {
        "study": study, "can_manage": user_can(request.user, "study.manage", study.workspace), "is_stale": study_is_stale(study=study)})


@login_required
def vote_home(request):
    return render(request, "frontend/evaluation/vote_home.html", {"studies": studies_open_for_rater(rater=request.user)})


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
    return render(request, "frontend/evaluation/vote.html", {"study": study, "showing": showing, "remaining": remaining})


COMPARISONS_PER_PAGE = 25


class GoldUploadForm(forms.Form):
    gold_file = forms.FileField(label=gettext_lazy("Gold prompts (JSONL)"), help_text=gettext_lazy(
        'One a line: {"messages": [{"role": "user", "content": "..."}], "chosen": "the better answer", "rejected": "the worse one"}.'))


@login_required
@require_http_methods(["GET", "POST"])
def study_gold(request, study_id: int):
    """Gold and repeats of a study (study.manage): upload gold prompts, and mark built comparisons gold, arms shown."""
    study = access_study(request.user, study_id, capabilities=("study.manage",))
    form = GoldUploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        try:
            added = study_gold_upload(study=study, items=gold_parse_jsonl(data=form.cleaned_data["gold_file"].read()), actor=request.user)
        except ApplicationError as error:
            form.add_error("gold_file", f"{error.where}: {error.message}" if error.where.startswith("gold line") else error.message)
        else:
            messages.success(request, ngettext("Added %(n)d gold comparison.", "Added %(n)d gold comparisons.", added) % {"n": added})
            return redirect("evaluation:study-gold", study_id=study.pk)
    gold_only = request.GET.get("gold") == "1"
    page = Paginator(study_comparisons_for_manager(study=study, gold_only=gold_only), COMPARISONS_PER_PAGE).get_page(request.GET.get("page"))
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
        return render(request, "frontend/evaluation/_gold_row.html", {
            "study": study, "comparison": comparison_for_manager(study=study, comparison_id=comparison_id), "can_mark": True})
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


urlpatterns = [
    path("", study_list, name="study-list"),
    path("<int:study_id>/", study_detail, name="study-detail"),
    path("<int:study_id>/status/", study_status, name="study-status"),
    path("<int:study_id>/report/", study_report, name="study-report"),
    path("<int:study_id>/export/", study_export, name="study-export"),
    path("<int:study_id>/judges/", judge_add, name="judge-add"),
    path("<int:study_id>/gold/", study_gold, name="study-gold"),
    path("<int:study_id>/gold/<int:comparison_id>/", comparison_gold, name="comparison-gold"),
    path("<int:study_id>/raters/<int:rater_id>/<slug:action>/", rater_exclusion, name="rater-exclusion"),
    path("<int:study_id>/<slug:action>/", study_transition, name="study-transition"),
    path("vote/", vote_home, name="vote-home"),
    path("vote/<int:study_id>/", vote, name="vote"),
]

"""General-capability checks in the browser: the list with the create form, and a check's per-subject results.

The same services and selectors as evaluation/api/general_views.py; the form plays the input serializer's part.
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

from accounts.access import user_can
from common.errors import ApplicationError
from evaluation.access import access_general_eval
from evaluation.general.selectors import general_eval_list_for_user, general_eval_report, model_label
from evaluation.selectors import study_model_choices
from evaluation.services.general_eval import SHOTS_LIMIT, general_eval_create

app_name = "general_eval"
PER_PAGE = 25


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    widget = MultipleFileInput

    def clean(self, data, initial=None):
        files = data if isinstance(data, list | tuple) else ([data] if data else [])
        return [super(MultipleFileField, self).clean(f, initial) for f in files]


class GeneralEvalCreateForm(forms.Form):
    name = forms.CharField(label=gettext_lazy("Name"), max_length=200)
    baseline = forms.ChoiceField(label=gettext_lazy("Baseline model"))
    candidate = forms.ChoiceField(label=gettext_lazy("Fine-tuned model (optional)"), required=False)
    test_files = MultipleFileField(label=gettext_lazy("Test files"), required=False,
                                   help_text=gettext_lazy("MMLU, CMMLU or C-Eval CSV, or JSONL; one subject per file."))
    dev_files = MultipleFileField(label=gettext_lazy("Dev files (the examples shown first)"), required=False)
    test_path = forms.CharField(label=gettext_lazy("Or a test file or folder on the server"), required=False,
                                help_text=gettext_lazy("Under a model root or this workspace's storage."))
    dev_path = forms.CharField(label=gettext_lazy("Dev file or folder on the server"), required=False)
    shots = forms.IntegerField(
        label=gettext_lazy("Examples per question (k-shot)"), min_value=0, max_value=SHOTS_LIMIT, initial=5
    )
    tolerance = forms.FloatField(
        label=gettext_lazy("Tolerance (accuracy points)"),
        min_value=0,
        max_value=100,
        initial=2,
        help_text=gettext_lazy("A significant drop larger than this marks a subject as regressed."),
    )

    FIELD_FOR_WHERE = {
        "name": "name",
        "baseline": "baseline",
        "candidate": "candidate",
        "shots": "shots",
        "tolerance": "tolerance",
        "test_files": "test_files",
        "dev_files": "dev_files",
        "test_path": "test_path",
        "dev_path": "dev_path",
    }

    def __init__(self, *args, base_models, artifacts, **kwargs):
        super().__init__(*args, **kwargs)
        self.models = {f"base:{m.pk}": m for m in base_models} | {f"artifact:{a.pk}": a for a in artifacts}
        choices = [(f"base:{m.pk}", f"{m.name} · {m.workspace.name}") for m in base_models]
        choices += [(f"artifact:{a.pk}", f"{a.name} ({a.get_kind_display()}) · {a.workspace.name}") for a in artifacts]
        self.fields["baseline"].choices = choices
        self.fields["candidate"].choices = [("", _("none: score the baseline alone")), *choices]

    def add_service_error(self, error: ApplicationError) -> None:
        field = self.FIELD_FOR_WHERE.get(error.where)
        if field is None and error.where:
            # a file's line and field: shown with the files, where the PM looks
            field = "dev_files" if error.where == "dev_files" else None
            message = f"{error.where}: {error.message}"
            self.add_error(field or "test_files", message)
            return
        self.add_error(field, error.message)


@login_required
@require_http_methods(["GET", "POST"])
def general_eval_list(request):
    if not (user_can(request.user, "study.view_results") or user_can(request.user, "study.manage")):
        raise Http404
    form = None
    if user_can(request.user, "study.manage"):
        base_models, artifacts = study_model_choices(user=request.user)
        form = GeneralEvalCreateForm(
            request.POST or None, request.FILES or None, base_models=base_models, artifacts=artifacts
        )
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            baseline = form.models[data["baseline"]]
            candidate = form.models.get(data["candidate"]) if data["candidate"] else None
            try:
                general_eval = general_eval_create(
                    workspace=baseline.workspace,
                    name=data["name"],
                    baseline=baseline,
                    candidate=candidate,
                    shots=data["shots"],
                    tolerance=data["tolerance"] / 100,
                    test_uploads=[(f.name, f.read()) for f in data["test_files"]],
                    dev_uploads=[(f.name, f.read()) for f in data["dev_files"]],
                    test_path=data["test_path"],
                    dev_path=data["dev_path"],
                    created_by=request.user,
                )
            except ApplicationError as error:
                form.add_service_error(error)
            else:
                messages.success(request, _("Check created; the models are answering the questions now."))
                return redirect("general_eval:detail", general_eval_id=general_eval.pk)
    elif request.method == "POST":
        raise Http404
    page = Paginator(general_eval_list_for_user(user=request.user), PER_PAGE).get_page(request.GET.get("page"))
    for check in page.object_list:
        check.baseline_label = model_label(check, "baseline")
        check.candidate_label = model_label(check, "candidate")
    return render(request, "frontend/general_eval/list.html", {"page": page, "form": form})


VERDICTS = {"regressed": gettext_lazy("Regressed"), "not_conclusive": gettext_lazy("Drop, not significant"),
            "kept": gettext_lazy("Kept"), "": ""}


def _pct(value) -> str:
    return "–" if value is None else f"{value * 100:.1f}%"


def _row(result) -> dict:
    return {
        "subject": result.subject,
        "items": result.items,
        "baseline": _pct(result.baseline_accuracy),
        "baseline_interval": f"{_pct(result.baseline_low)} – {_pct(result.baseline_high)}",
        "candidate": _pct(result.candidate_accuracy),
        "candidate_interval": ""
        if result.candidate_low is None
        else f"{_pct(result.candidate_low)} – {_pct(result.candidate_high)}",
        "change": "–" if result.change is None else f"{result.change * 100:+.1f}",
        "lost": result.lost,
        "gained": result.gained,
        "p_value": "–"
        if result.p_value is None
        else (f"{result.p_value:.3f}" if result.p_value >= 0.001 else "< 0.001"),
        "exact": result.exact,
        "verdict": result.verdict,
        "verdict_label": VERDICTS[result.verdict],
    }


@login_required
def general_eval_detail(request, general_eval_id: int):
    general_eval = access_general_eval(request.user, general_eval_id)
    report = general_eval_report(general_eval=general_eval)
    context = {
        "check": general_eval,
        "report": report,
        "baseline_label": model_label(general_eval, "baseline"),
        "candidate_label": model_label(general_eval, "candidate"),
        "tolerance_points": f"{general_eval.tolerance * 100:g}",
        "rows": [_row(r) for r in report.subjects],
        "overall": _row(report.overall) if report.overall else None,
        "in_progress": general_eval.status in ("queued", "running"),
    }
    return render(request, "frontend/general_eval/detail.html", context)


urlpatterns = [
    path("", general_eval_list, name="list"),
    path("<int:general_eval_id>/", general_eval_detail, name="detail"),
]

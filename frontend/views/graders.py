"""Browser pages of graders: the list, create and edit (the definition as JSON, in OpenAI's grader shapes, with an
example of each kind), and the bench: paste sample answers, see each grader's score and reason.

Forms play the input serializer's part; changes go through graders.services, fetches through graders.access.
"""

import json

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import path
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from accounts.access import user_can
from common.errors import ApplicationError
from graders.access import EDIT, VIEW, access_grader, access_grader_workspace
from graders.selectors import grader_bench_workspaces, grader_list, grader_workspaces_for
from graders.services import grader_bench, grader_create, grader_delete, grader_update

app_name = "graders"

LIST_LIMIT = 200
EXAMPLES = {
    "string_check": {"type": "string_check", "input": "{{sample.output_text}}", "reference": "{{item.reference}}",
                     "operation": "ilike"},
    "text_similarity": {"type": "text_similarity", "input": "{{sample.output_text}}",
                        "reference": "{{item.reference}}", "evaluation_metric": "rouge_l"},
    "python": {"type": "python", "source": "def grade(sample, item):\n    answer = sample[\"output_text\"]\n"
                                           "    return 1.0 if item[\"reference\"] in answer else 0.0\n"},
    "score_model": {"type": "score_model", "model": "judge", "range": [0, 1],
                    "input": [{"role": "system", "content": "Score the answer from 0 to 1 against the reference. "
                                                            "Reply with JSON: {\"score\": number}."},
                              {"role": "user", "content": "Answer: {{sample.output_text}}\n"
                                                          "Reference: {{item.reference}}"}]},
    "multi": {"type": "multi", "graders": {
        "exact": {"type": "string_check", "operation": "eq"},
        "overlap": {"type": "text_similarity", "evaluation_metric": "rouge_l"}},
        "calculate_output": "0.5 * exact + 0.5 * overlap"},
}


class DefinitionField(forms.CharField):
    widget = forms.Textarea(attrs={"rows": 12, "spellcheck": "false", "class": "code"})

    def to_python(self, value):
        text = super().to_python(value)
        try:
            definition = json.loads(text)
        except json.JSONDecodeError as error:
            raise forms.ValidationError(_("Not valid JSON: %(message)s (line %(line)s)")
                                        % {"message": error.msg, "line": error.lineno}) from error
        if not isinstance(definition, dict):
            raise forms.ValidationError(_("The definition must be a JSON object."))
        return definition

    def prepare_value(self, value):
        return json.dumps(value, indent=2, ensure_ascii=False) if isinstance(value, dict) else value


class GraderForm(forms.Form):
    name = forms.CharField(max_length=200, label=gettext_lazy("Name"))
    description = forms.CharField(required=False, label=gettext_lazy("Description"),
                                  widget=forms.Textarea(attrs={"rows": 2}))
    definition = DefinitionField(label=gettext_lazy("Definition (JSON)"), help_text=gettext_lazy(
        "OpenAI's grader shapes: string_check, text_similarity, python, score_model, multi. Templates such as "
        "{{sample.output_text}} and {{item.reference}} are filled with the answer and the data row."))


class GraderCreateForm(GraderForm):
    workspace = forms.ModelChoiceField(queryset=None, empty_label=None, label=gettext_lazy("Workspace"))
    field_order = ["workspace"]

    def __init__(self, *args, workspaces, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["workspace"].queryset = workspaces


def _service_error(form: forms.Form, exc: ApplicationError) -> None:
    field = exc.where.split(".")[0] if exc.where else None
    form.add_error(field if field in form.fields else None, f"{exc.where}: {exc.message}" if exc.where else exc.message)


@login_required
def grader_list_view(request):
    graders = list(grader_list(user=request.user)[:LIST_LIMIT])
    editable = set(grader_workspaces_for(user=request.user).values_list("pk", flat=True))
    for grader in graders:
        grader.can_edit = grader.workspace_id in editable
    return render(request, "frontend/graders/grader_list.html", {
        "graders": graders, "can_create": bool(editable),
        "bench_workspaces": list(grader_bench_workspaces(user=request.user)),
    })


@login_required
def grader_create_view(request):
    workspaces = grader_workspaces_for(user=request.user)
    if not workspaces.exists():
        raise Http404
    kind = request.GET.get("kind") if request.GET.get("kind") in EXAMPLES else "string_check"
    form = GraderCreateForm(request.POST or None, workspaces=workspaces, initial={"definition": EXAMPLES[kind]})
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        workspace = access_grader_workspace(request.user, data["workspace"].pk)
        try:
            grader = grader_create(workspace=workspace, name=data["name"], definition=data["definition"],
                                   description=data["description"], created_by=request.user)
        except ApplicationError as exc:
            _service_error(form, exc)
        else:
            messages.success(request, _("Grader “%(name)s” saved.") % {"name": grader.name})
            return redirect("graders:grader-edit", grader_id=grader.pk)
    return render(request, "frontend/graders/grader_form.html",
                  {"form": form, "grader": None, "kinds": list(EXAMPLES), "kind": kind},
                  status=400 if form.errors else 200)


@login_required
def grader_edit_view(request, grader_id: int):
    grader = access_grader(request.user, grader_id, capability=EDIT)
    form = GraderForm(request.POST or None, initial={"name": grader.name, "description": grader.description,
                                                      "definition": grader.definition})
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            grader = grader_update(grader=grader, name=data["name"], definition=data["definition"],
                                   description=data["description"], updated_by=request.user)
        except ApplicationError as exc:
            _service_error(form, exc)
        else:
            messages.success(request, _("Grader “%(name)s” saved.") % {"name": grader.name})
            return redirect("graders:grader-edit", grader_id=grader.pk)
    return render(request, "frontend/graders/grader_form.html", {"form": form, "grader": grader},
                  status=400 if form.errors else 200)


@login_required
@require_POST
def grader_delete_view(request, grader_id: int):
    grader = access_grader(request.user, grader_id, capability=EDIT)
    name = grader.name
    grader_delete(grader=grader, deleted_by=request.user)
    messages.success(request, _("Grader “%(name)s” deleted.") % {"name": name})
    return redirect("graders:grader-list")


def samples_parse(text: str) -> list[dict]:
    """Samples typed on the bench: one per line, "answer<TAB>reference" (the reference may be left out), or a JSON
    object per line {"answer": ..., "reference": ..., other item fields}."""
    samples = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        if line.lstrip().startswith("{"):
            try:
                sample = json.loads(line)
            except json.JSONDecodeError as error:
                raise ApplicationError(f"line {number}: not valid JSON ({error.msg})", where="samples") from error
            if not isinstance(sample, dict):
                raise ApplicationError(f"line {number}: a JSON sample must be an object", where="samples")
            samples.append(sample)
        else:
            answer, _tab, reference = line.partition("\t")
            samples.append({"answer": answer, "reference": reference})
    return samples


class BenchForm(forms.Form):
    graders = forms.MultipleChoiceField(required=False, widget=forms.CheckboxSelectMultiple,
                                        label=gettext_lazy("Saved graders"))
    definition = forms.CharField(required=False, label=gettext_lazy("Or an unsaved definition (JSON)"),
                                 widget=forms.Textarea(attrs={"rows": 6, "spellcheck": "false", "class": "code"}))
    samples = forms.CharField(label=gettext_lazy("Sample answers"), widget=forms.Textarea(attrs={"rows": 8}),
                              help_text=gettext_lazy("One per line: the answer, a tab, then the reference; or a JSON "
                                                     "object per line with answer, reference and other fields."))


@login_required
def grader_bench_view(request, workspace_id: int):
    workspace = access_grader_workspace(request.user, workspace_id, capability=VIEW)
    saved = list(grader_list(user=request.user, workspace=workspace)[:LIST_LIMIT])
    form = BenchForm(request.POST or None, initial={"graders": request.GET.getlist("grader")})
    form.fields["graders"].choices = [(str(grader.pk), grader.name) for grader in saved]
    result = None
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        chosen = [grader for grader in saved if str(grader.pk) in data["graders"]]
        try:
            definitions = []
            if data["definition"].strip():
                try:
                    definitions = [json.loads(data["definition"])]
                except json.JSONDecodeError as error:
                    raise ApplicationError(f"not valid JSON ({error.msg})", where="definition") from error
            result = grader_bench(workspace=workspace, graders=chosen, definitions=definitions,
                                  samples=samples_parse(data["samples"]))
        except ApplicationError as exc:
            _service_error(form, exc)
    if result is not None:
        for row in result["rows"]:
            row["cells"] = list(zip(result["graders"], row["grades"]))
    return render(request, "frontend/graders/grader_bench.html", {
        "workspace": workspace, "form": form, "result": result,
        "can_edit": user_can(request.user, EDIT, workspace),
    }, status=400 if form.errors else 200)


urlpatterns = [
    path("", grader_list_view, name="grader-list"),
    path("new/", grader_create_view, name="grader-create"),
    path("<int:grader_id>/edit/", grader_edit_view, name="grader-edit"),
    path("<int:grader_id>/delete/", grader_delete_view, name="grader-delete"),
    path("bench/<int:workspace_id>/", grader_bench_view, name="grader-bench"),
]

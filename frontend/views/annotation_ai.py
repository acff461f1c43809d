"""AI annotators of a project, in the browser: add one, run it over the next items, follow its runs (managers).

Its URLs join the annotation namespace (frontend.views.annotation appends them)."""

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import path
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET, require_POST

from annotation.access import MANAGE, access_ai_annotator, access_ai_run, access_project
from annotation.models import AIRun
from annotation.selectors import ai_annotators_of, ai_run_answers
from annotation.services import ai_annotator_create, ai_run_create
from annotation.services.ai_annotators import MAX_LIMIT, MAX_TOKENS_LABELS, MAX_TOKENS_QUESTIONS, ai_default_prompt
from annotation.services.ai_answers import schema_questions
from common.errors import ApplicationError
from frontend.forms import form_error
from llm.selectors import model_endpoint_list


class AIAnnotatorForm(forms.Form):
    name = forms.CharField(max_length=100, label=_("Name"))
    endpoint = forms.ModelChoiceField(
        queryset=None,
        empty_label=None,
        label=_("Model endpoint"),
        help_text=_(
            "One of this workspace's model endpoints; none yet? Register one on the Endpoints "
            "page (Whetstone's own model server works), then come back."
        ),
    )
    prompt_template = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 10, "spellcheck": "false"}),
        label=_("Prompt template"),
        help_text=_(
            "{conversation} is replaced by the conversation, {labels} by the labels that may be picked (one per line), "
            "{example} by an example answer, {questions} by the schema's other questions (rating, free text, which "
            "of two answers is better) and the JSON answer format. {questions} is required when the schema asks "
            "more than labels."
        ),
    )
    temperature = forms.FloatField(
        min_value=0,
        max_value=2,
        initial=0.0,
        label=_("Temperature"),
        help_text=_("0 answers the same way every time, and a rerun is answered from the cache."),
    )
    max_tokens = forms.IntegerField(min_value=1, max_value=4096, label=_("Longest answer (tokens)"))

    def __init__(self, *args, user, project, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["endpoint"].queryset = model_endpoint_list(user=user, workspace=project.workspace)
        # A schema with questions beside the labels starts from the prompt that asks them, with room for a JSON answer.
        self.fields["prompt_template"].initial = ai_default_prompt(project.schema)
        self.fields["max_tokens"].initial = (
            MAX_TOKENS_QUESTIONS if schema_questions(project.schema) else MAX_TOKENS_LABELS
        )


class AIRunForm(forms.Form):
    limit = forms.IntegerField(min_value=1, max_value=MAX_LIMIT, initial=100, label=_("Items"))


@login_required
@require_GET
def project_ai(request, pk: int):
    """The project's AI annotators: add one, run one over the next items, follow the runs (managers)."""
    project = access_project(request.user, pk, capabilities=(MANAGE,))
    return _project_ai_page(request, project=project)


def _project_ai_page(request, *, project, form=None, status: int = 200) -> HttpResponse:
    context = {
        "project": project,
        "ai_annotators": ai_annotators_of(project=project),
        "run_form": AIRunForm(),
        "form": form or AIAnnotatorForm(user=request.user, project=project, initial={"name": gettext("AI annotator")}),
        "ai_in_pools": not project.label_pools or "ai" in project.label_pools,
        "asks_questions": bool(schema_questions(project.schema)),
    }
    return render(request, "frontend/annotation/ai.html", context, status=status)


@login_required
@require_POST
def project_ai_create(request, pk: int):
    project = access_project(request.user, pk, capabilities=(MANAGE,))
    form = AIAnnotatorForm(request.POST, user=request.user, project=project)
    if form.is_valid():
        try:
            ai = ai_annotator_create(project=project, created_by=request.user, **form.cleaned_data)
        except ApplicationError as error:
            form.add_error(None, str(error))
        else:
            messages.success(request, gettext("Added the AI annotator %(name)s.") % {"name": ai.name})
            return redirect("annotation:project-ai", pk=project.pk)
    return _project_ai_page(request, project=project, form=form, status=400)


@login_required
@require_POST
def ai_run_start(request, pk: int):
    ai = access_ai_annotator(request.user, pk)
    form = AIRunForm(request.POST)
    if not form.is_valid():
        messages.error(request, form_error(form))
        return redirect("annotation:project-ai", pk=ai.project_id)
    try:
        run = ai_run_create(ai_annotator=ai, limit=form.cleaned_data["limit"], created_by=request.user)
    except ApplicationError as error:
        messages.error(request, str(error))
        return redirect("annotation:project-ai", pk=ai.project_id)
    messages.success(
        request,
        gettext("Run %(run)d of %(name)s started; its progress below follows it.") % {"run": run.pk, "name": ai.name},
    )
    return redirect("annotation:ai-run", pk=run.pk)


@login_required
@require_GET
def ai_run_view(request, pk: int):
    """A run's progress and its latest answers; htmx polls the status part while the run is queued or running."""
    run = access_ai_run(request.user, pk)
    live = run.status in (AIRun.Status.QUEUED, AIRun.Status.RUNNING)
    context = {"run": run, "ai": run.ai_annotator, "project": run.ai_annotator.project, "live": live,
               "percent": round(100 * run.processed / run.limit) if run.limit else 0}
    if request.htmx:
        return render(request, "frontend/annotation/_ai_run_status.html", context)
    answers = context["answers"] = ai_run_answers(run=run)
    # Columns for the other questions only when some answer has them (no query for the schema; labels-only runs look as
    # before).
    context["columns"] = {
        "rating": any(a.rating is not None for a in answers),
        "preference": any(a.preference for a in answers),
        "free_text": any(a.free_text for a in answers),
        "ranking": any(a.ranking for a in answers),
    }
    return render(request, "frontend/annotation/ai_run.html", context)


urlpatterns = [
    path("projects/<int:pk>/ai/", project_ai, name="project-ai"),
    path("projects/<int:pk>/ai/new/", project_ai_create, name="project-ai-create"),
    path("ai/<int:pk>/run/", ai_run_start, name="ai-run-start"),
    path("ai-runs/<int:pk>/", ai_run_view, name="ai-run"),
]

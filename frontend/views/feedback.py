"""Browser pages of production feedback: the dashboard (charts, online support rate, sources and tokens, "build a
dataset" button) and the best-of-N workbench (keyboard-first, htmx).

Forms play the input serializer's part; changes go through feedback.services, fetches through its access
module. Ingest tokens are shown once, on the page that made them.
"""

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from accounts.access import user_can
from common.errors import ApplicationError
from common.simulation import rule_description
from datahub.selectors import dataset_by_name
from feedback.access import (
    MANAGE,
    PICK,
    VIEW,
    access_feedback_source,
    access_feedback_token,
    access_feedback_workspace,
    access_workbench_draft,
)
from feedback.models import PII_KINDS
from releases.access import access_deployment_for_assist
from releases.assist import deployment_assist_draft_create
from releases.selectors import deployments_with_candidate
from feedback.selectors import (
    feedback_dashboard,
    feedback_source_tokens,
    feedback_sources_for,
    feedback_workspaces_for,
    workbench_endpoints,
    workbench_recent_drafts,
)
from feedback.services import (
    feedback_dataset_build,
    feedback_source_create,
    feedback_source_settings_update,
    feedback_token_create,
    feedback_token_revoke,
    workbench_draft_create,
    workbench_pick,
)

app_name = "feedback"

DAYS_CHOICES = (7, 30, 90, 365)


def _workbench_error(request, message: str):
    """An error shown above the candidates, which stay as they are. htmx swaps only 2xx answers, so an htmx request
    gets 200 aimed at the error slot; a plain request gets 400."""
    response = render(
        request, "frontend/feedback/_workbench_error.html", {"error": message}, status=200 if request.htmx else 400
    )
    if request.htmx:
        response["HX-Retarget"] = "#wb-error-slot"
        response["HX-Reswap"] = "innerHTML"
    return response


def _workspace_from(request, *, capability: str):
    """The workspace named by ?workspace= (or the form), else the user's first one with the capability; 404 if none."""
    wanted = request.POST.get("workspace") or request.GET.get("workspace")
    if wanted:
        return access_feedback_workspace(request.user, wanted, capability=capability)
    workspace = feedback_workspaces_for(user=request.user, capability=capability).first()
    if workspace is None:
        raise Http404
    return workspace


class SourceForm(forms.Form):
    name = forms.CharField(max_length=200, label=gettext_lazy("Name"))
    pii_scrub = forms.BooleanField(
        required=False, initial=True, label=gettext_lazy("Scrub personal data before storage")
    )
    pii_kinds = forms.MultipleChoiceField(
        required=False, initial=list(PII_KINDS), widget=forms.CheckboxSelectMultiple, label=gettext_lazy("Scrub"),
        choices=[("email", gettext_lazy("e-mail addresses")), ("phone", gettext_lazy("phone numbers")),
                 ("cn_id", gettext_lazy("ID numbers")), ("card", gettext_lazy("card numbers"))])
    rate_limit_per_minute = forms.IntegerField(
        min_value=0, initial=600_000, label=gettext_lazy("Events per minute (0: no limit)")
    )


class SourceSettingsForm(forms.Form):
    pii_scrub = SourceForm.base_fields["pii_scrub"]
    pii_kinds = SourceForm.base_fields["pii_kinds"]
    rate_limit_per_minute = SourceForm.base_fields["rate_limit_per_minute"]


class BuildForm(forms.Form):
    dataset_name = forms.CharField(
        max_length=200,
        label=gettext_lazy("Dataset"),
        help_text=gettext_lazy("A new dataset, or an existing one of the workspace to add to."),
    )
    since = forms.DateTimeField(
        required=False, label=gettext_lazy("From"), widget=forms.DateInput(attrs={"type": "date"})
    )
    until = forms.DateTimeField(
        required=False, label=gettext_lazy("Until (exclusive)"), widget=forms.DateInput(attrs={"type": "date"})
    )
    review = forms.BooleanField(
        required=False, initial=True, label=gettext_lazy("Send conflicting feedback to expert review")
    )


def _ingest_url(request) -> str:
    return request.build_absolute_uri(reverse("api-feedback-events"))


def _charts(data: dict) -> dict:
    days = sorted({row["day"].isoformat() for row in data["volume"]})
    by_kind: dict[str, dict[str, int]] = {}
    for row in data["volume"]:
        by_kind.setdefault(row["kind"], {})[row["day"].isoformat()] = row["events"]
    return {
        "days": days,
        "volume": [
            {"kind": kind, "events": [counts.get(day, 0) for day in days]} for kind, counts in sorted(by_kind.items())
        ],
        "likes": [
            {
                "name": f"{row['model']} · {row['prompt_version'] or '—'}",
                "rate": 100 * row["ratio"],
                "low": 100 * row["low"],
                "high": 100 * row["high"],
            }
            for row in data["like_ratio"]
        ],
        "choices": [
            {"name": row.model, "rate": 100 * row.win_share, "low": 100 * row.win_low, "high": 100 * row.win_high}
            for row in data["support"]
        ],
        "words": {
            "volume": _("Events per day"),
            "likes": _("Share of likes (%)"),
            "choices": _("Picked when shown (%)"),
        },
    }


@login_required
def dashboard_view(request):
    workspace = _workspace_from(request, capability=VIEW)
    try:
        days = int(request.GET.get("days", 30))
    except ValueError:
        days = 30
    days = days if days in DAYS_CHOICES else 30
    data = feedback_dashboard(workspace=workspace, days=days)
    sources = list(feedback_sources_for(user=request.user, workspace=workspace))
    can_manage = user_can(request.user, MANAGE, workspace)
    tokens = feedback_source_tokens(sources=sources) if can_manage else {}
    for source in sources:
        source.token_rows = tokens.get(source.pk, [])
        source.simulated_rule = rule_description(source.simulated_by) if source.simulated_by else ""
    return render(
        request,
        "frontend/feedback/dashboard.html",
        {
            "workspace": workspace,
            "workspaces": feedback_workspaces_for(user=request.user),
            "days": days,
            "days_choices": DAYS_CHOICES,
            "data": data,
            "charts": _charts(data),
            "sources": sources,
            "can_manage": can_manage,
            "source_form": SourceForm(),
            "build_form": BuildForm(),
            "pii_kind_choices": SourceForm.base_fields["pii_kinds"].choices,
            "ingest_url": _ingest_url(request),
        },
    )


def _dashboard_url(workspace) -> str:
    return f"{reverse('feedback:dashboard')}?workspace={workspace.pk}"


def _token_page(request, source, key: str):
    """The one page that shows a new ingest token; it is not stored, so it cannot be shown again."""
    return render(request, "frontend/feedback/token_created.html", {
        "source": source, "key": key, "workspace": source.workspace,
        "ingest_url": _ingest_url(request)})


@login_required
@require_POST
def source_create_view(request):
    workspace = _workspace_from(request, capability=MANAGE)
    form = SourceForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            source = feedback_source_create(
                workspace=workspace,
                name=data["name"],
                pii_scrub=data["pii_scrub"],
                pii_kinds=data["pii_kinds"],
                rate_limit_per_minute=data["rate_limit_per_minute"],
                created_by=request.user,
            )
            _, key = feedback_token_create(source=source, created_by=request.user)
        except ApplicationError as exc:
            messages.error(request, exc.message)
        else:
            return _token_page(request, source, key)
    else:
        messages.error(request, _("The source was not created: check its name and settings."))
    return redirect(_dashboard_url(workspace))


@login_required
@require_POST
def token_create_view(request, source_id: int):
    source = access_feedback_source(request.user, source_id, capability=MANAGE)
    try:
        _, key = feedback_token_create(source=source, created_by=request.user)
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return redirect(_dashboard_url(source.workspace))
    return _token_page(request, source, key)


@login_required
@require_POST
def source_settings_view(request, source_id: int):
    source = access_feedback_source(request.user, source_id, capability=MANAGE)
    form = SourceSettingsForm(request.POST)
    if form.is_valid():
        try:
            feedback_source_settings_update(source=source, updated_by=request.user, **form.cleaned_data)
        except ApplicationError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(
                request,
                _("Settings of “%(name)s” saved; they apply to events sent from now on.") % {"name": source.name},
            )
    else:
        messages.error(request, _("The settings were not saved: the limit must be a whole number, 0 or more."))
    return redirect(_dashboard_url(source.workspace))


@login_required
@require_POST
def token_revoke_view(request, token_id: int):
    token = feedback_token_revoke(token=access_feedback_token(request.user, token_id), revoked_by=request.user)
    messages.success(request, _("Token %(prefix)s… revoked: it no longer works.") % {"prefix": token.prefix})
    return redirect(_dashboard_url(token.source.workspace))


@login_required
@require_POST
def dataset_build_view(request):
    workspace = _workspace_from(request, capability=MANAGE)
    form = BuildForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Give the dataset a name, and dates as YYYY-MM-DD."))
        return redirect(_dashboard_url(workspace))
    data = form.cleaned_data
    dataset = dataset_by_name(workspace_name=workspace.name, dataset_name=data["dataset_name"].strip())
    try:
        export = feedback_dataset_build(
            workspace=workspace,
            dataset=dataset,
            dataset_name=data["dataset_name"],
            since=data["since"],
            until=data["until"],
            review=data["review"],
            created_by=request.user,
        )
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return redirect(_dashboard_url(workspace))
    text = _("Version %(number)s of “%(dataset)s”: %(records)s records from %(events)s events.") % {
        "number": export.version.number, "dataset": export.version.dataset.name, "records": export.counts["records"],
        "events": export.counts["events"]}
    if export.review_project is not None:
        text += " " + _("%(n)s conflicting answers sent to expert review.") % {"n": export.counts["review"]}
    messages.success(request, text)
    return redirect(_dashboard_url(workspace))


# ---------------------------------------------------------------------------------------------------------------
# The best-of-N workbench


@login_required
def workbench_view(request):
    workspace = _workspace_from(request, capability=PICK)
    slots = list(deployments_with_candidate(workspace=workspace))
    wanted = request.GET.get("deployment", "")
    return render(request, "frontend/feedback/workbench.html", {
        "workspace": workspace, "workspaces": feedback_workspaces_for(user=request.user, capability=PICK),
        "endpoints": list(workbench_endpoints(workspace=workspace)),
        "slots": slots, "chosen_slot": wanted if any(str(slot.pk) == wanted for slot in slots) else "",
        "recent": list(workbench_recent_drafts(agent=request.user, workspace=workspace)),
    })


def _assist_draft(request, workspace):
    """The assist preset: the slot chosen on the form answers with 2 production and 2 candidate replies."""
    deployment = access_deployment_for_assist(request.user, request.POST.get("deployment"))
    if deployment.workspace_id != workspace.pk:
        raise Http404
    return deployment_assist_draft_create(deployment=deployment, agent=request.user,
                                          customer_message=request.POST.get("message", ""),
                                          system_prompt=request.POST.get("system_prompt", ""))


@login_required
@require_POST
def workbench_candidates_view(request):
    workspace = _workspace_from(request, capability=PICK)
    if request.POST.get("deployment"):
        try:
            draft = _assist_draft(request, workspace)
        except ApplicationError as exc:
            return _workbench_error(request, exc.message)
        return render(request, "frontend/feedback/_candidates.html", {"draft": draft})
    chosen = [pk for pk in request.POST.getlist("endpoints") if pk.isdigit()]
    endpoints = [e for e in workbench_endpoints(workspace=workspace).filter(pk__in=chosen)]
    try:
        per_endpoint = int(request.POST.get("per_endpoint") or 1)
        draft = workbench_draft_create(workspace=workspace, agent=request.user, endpoints=endpoints,
                                       customer_message=request.POST.get("message", ""),
                                       system_prompt=request.POST.get("system_prompt", ""),
                                       prompt_version=request.POST.get("prompt_version", ""), per_endpoint=per_endpoint)
    except ValueError:
        return _workbench_error(request, _("Answers per endpoint must be a number."))
    except ApplicationError as exc:
        return _workbench_error(request, exc.message)
    return render(request, "frontend/feedback/_candidates.html", {"draft": draft})


@login_required
@require_POST
def workbench_pick_view(request, draft_id: int):
    draft = access_workbench_draft(request.user, draft_id)
    try:
        index = int(request.POST.get("index", "")) - 1
        events = workbench_pick(
            draft=draft, agent=request.user, index=index, edited_text=request.POST.get("edited_text", "")
        )
    except ValueError:
        return _workbench_error(request, _("Pick a candidate first."))
    except ApplicationError as exc:
        return _workbench_error(request, exc.message)
    draft.refresh_from_db()
    return render(
        request,
        "frontend/feedback/_picked.html",
        {"draft": draft, "edited": any(e.kind == "edit" for e in events), "position": draft.picked_index + 1},
    )


urlpatterns = [
    path("", dashboard_view, name="dashboard"),
    path("sources/new/", source_create_view, name="source-create"),
    path("sources/<int:source_id>/settings/", source_settings_view, name="source-settings"),
    path("sources/<int:source_id>/tokens/new/", token_create_view, name="token-create"),
    path("tokens/<int:token_id>/revoke/", token_revoke_view, name="token-revoke"),
    path("datasets/build/", dataset_build_view, name="dataset-build"),
    path("workbench/", workbench_view, name="workbench"),
    path("workbench/candidates/", workbench_candidates_view, name="workbench-candidates"),
    path("workbench/drafts/<int:draft_id>/pick/", workbench_pick_view, name="workbench-pick"),
]

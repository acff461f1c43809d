"""Annotation pages: project list and setup, project detail, and the annotator's workbench.

The pages call the same services, selectors and access checks as the API; the forms only parse input.
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.utils import timezone
from django.utils.dateformat import time_format
from django.utils.translation import gettext, ngettext
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.access import user_can, user_role
from accounts.capabilities import roles_with
from annotation.access import (
    MANAGE,
    WORK,
    access_assignment,
    access_label_schema,
    access_project,
)
from annotation.dashboard import AGREEMENT_PERIODS, project_dashboard
from annotation.label_tree import label_nodes_flat
from annotation.models import Review
from annotation.selectors import (
    annotation_projects_for_user,
    assignment_active_for,
    assignment_item,
    label_schema_tree,
    label_schemas_for_user,
    newer_schema_versions,
    project_exports,
    project_progress,
    review_counts,
    schema_moves_of,
    task_answers,
)
from annotation.services import (
    annotation_project_create,
    annotation_project_export,
    annotation_project_layers_set,
    annotation_project_schema_move,
    annotation_submit,
    assignment_claim_next,
    assignment_heartbeat,
    assignment_prefetch,
    assignment_skip,
    label_schema_create,
)
from annotation.services.annotations import pairwise_record
from annotation.services.reviews import CAPABILITY_BY_LAYER
from common.errors import ApplicationError
from frontend.forms import form_error
from frontend.views.annotation_ai import urlpatterns as ai_urlpatterns
from frontend.views.annotation_forms import LabelSchemaForm, LayersForm, ProjectForm, SkipForm, SubmitForm
from frontend.views.annotation_review import urlpatterns as review_urlpatterns

app_name = "annotation"


@login_required
@require_GET
def project_list(request):
    return _project_list_page(request)


def _project_list_page(request, *, schema_form=None, project_form=None, status=200):
    can_manage = user_can(request.user, MANAGE)
    context = {"projects": annotation_projects_for_user(user=request.user), "can_manage": can_manage}
    if can_manage:
        context["schemas"] = label_schemas_for_user(user=request.user)
        context["schema_form"] = schema_form or LabelSchemaForm(user=request.user)
        context["project_form"] = project_form or ProjectForm(user=request.user)
    return render(request, "frontend/annotation/project_list.html", context, status=status)


@login_required
@require_POST
def schema_create(request):
    if not user_can(request.user, MANAGE):
        raise Http404
    form = LabelSchemaForm(request.POST, user=request.user)
    if form.is_valid():
        data = form.cleaned_data
        try:
            schema = label_schema_create(
                workspace=data["workspace"],
                name=data["name"],
                tree=data["tree"],
                multiple=data["multiple"],
                leaf_only=data["leaf_only"],
                rating_scale=data["rating_scale"] or 0,
                rating_question=data["rating_question"],
                free_text_question=data["free_text_question"],
                pairwise_question=data["pairwise_question"],
                ranking_question=data["ranking_question"],
                created_by=request.user,
            )
        except ApplicationError as error:
            form.add_error(None, str(error))
        else:
            messages.success(request, gettext("Published the label schema %(schema)s.") % {"schema": schema})
            return redirect("annotation:project-list")
    return _project_list_page(request, schema_form=form, status=400)


@login_required
@require_POST
def project_create(request):
    if not user_can(request.user, MANAGE):
        raise Http404
    form = ProjectForm(request.POST, user=request.user)
    if form.is_valid():
        data = form.cleaned_data
        try:
            project = annotation_project_create(
                workspace=data["dataset_version"].dataset.workspace,
                name=data["name"],
                dataset_version=data["dataset_version"],
                schema=data["schema"],
                overlap=data["overlap"],
                instructions=data["instructions"],
                created_by=request.user,
            )
        except ApplicationError as error:
            form.add_error(None, str(error))
        else:
            messages.success(request, gettext("Created the project with one item per record."))
            return redirect("annotation:project-detail", pk=project.pk)
    return _project_list_page(request, project_form=form, status=400)


@login_required
@require_GET
def project_detail(request, pk: int):
    project = access_project(request.user, pk)
    return _project_detail_page(request, project=project)


def _project_detail_page(
    request, *, project, layers_form=None, schema_move_error: str = "", status: int = 200
) -> HttpResponse:
    # One role read decides every button on the page.
    role = user_role(request.user, project.workspace)
    can = {capability: role in roles_with(capability) for capability in (MANAGE, WORK, *CAPABILITY_BY_LAYER.values())}
    layers = [(layer, label) for layer, label in Review.Layer.choices if can[CAPABILITY_BY_LAYER[layer]]]
    context = {
        "project": project,
        "progress": project_progress(project=project, annotator=request.user),
        "labels": label_nodes_flat(label_schema_tree(schema=project.schema)),
        "can_manage": can[MANAGE],
        "can_work": can[WORK],
        "exports": project_exports(project=project) if can[MANAGE] else [],
        "review_layers": layers,
        "review_counts": review_counts(project=project) if layers or can[MANAGE] else {},
        "layers_form": (layers_form or LayersForm.for_project(project)) if can[MANAGE] else None,
        "newer_schemas": list(newer_schema_versions(project=project)) if can[MANAGE] else [],
        "schema_moves": list(schema_moves_of(project=project)) if can[MANAGE] else [],
        "schema_move_error": schema_move_error,
    }
    return render(request, "frontend/annotation/project_detail.html", context, status=status)


@login_required
@require_POST
def project_schema_move(request, pk: int):
    """Move the project to a newer version of its schema; the mapping is typed one "old/path -> new/path" per line."""
    project = access_project(request.user, pk, capabilities=(MANAGE,))
    mapping = {}
    for number, line in enumerate(request.POST.get("mapping", "").splitlines(), start=1):
        if not line.strip():
            continue
        old, sep, new = line.partition("->")
        if not sep or not old.strip() or not new.strip():
            error = gettext("Line %(number)d: write old/path -> new/path.") % {"number": number}
            return _project_detail_page(request, project=project, schema_move_error=error, status=400)
        mapping[old.strip()] = new.strip()
    try:
        schema = access_label_schema(request.user, request.POST.get("schema_id"))
        move = annotation_project_schema_move(project=project, schema=schema, mapping=mapping, moved_by=request.user)
    except ApplicationError as error:
        return _project_detail_page(request, project=project, schema_move_error=str(error), status=400)
    messages.success(request, gettext("Moved to %(schema)s.") % {"schema": move.to_schema})
    return redirect("annotation:project-detail", pk=project.pk)


@login_required
@require_POST
def project_layers(request, pk: int):
    project = access_project(request.user, pk, capabilities=(MANAGE,))
    form = LayersForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            annotation_project_layers_set(
                project=project,
                review_rate=data["review_rate"] / 100,
                spot_check_rate=data["spot_check_rate"] / 100,
                gold_rate=data["gold_rate"] / 100,
                disagreement_threshold=data["disagreement_threshold"] / 100,
                blind=data["blind"],
                label_pools=data["label_pools"],
                mode=data["mode"] or None,
                set_by=request.user,
            )
        except ApplicationError as error:
            form.add_error(None, str(error))
        else:
            messages.success(request, gettext("Saved the layers."))
            return redirect("annotation:project-detail", pk=project.pk)
    return _project_detail_page(
        request, project=access_project(request.user, pk, capabilities=(MANAGE,)), layers_form=form, status=400
    )


@login_required
@require_GET
def project_dashboard_view(request, pk: int):
    """Progress, throughput, agreement, gold accuracy and time per item, with charts (managers, reviewers, experts)."""
    project = access_project(request.user, pk, capabilities=(MANAGE, *set(CAPABILITY_BY_LAYER.values())))
    period = request.GET.get("period") if request.GET.get("period") in AGREEMENT_PERIODS else "week"
    dashboard = project_dashboard(project=project, period=period)
    charts = {
        "throughput": dashboard.throughput,
        "times_ms": dashboard.times_ms,
        "annotators": [[row.username, row.gold_accuracy, row.agreement] for row in dashboard.annotators],
        "agreement_over_time": [
            [point.start.isoformat(), point.alpha, point.items] for point in dashboard.agreement_over_time
        ],
        "titles": {
            "throughput": gettext("Submissions per hour"),
            "times": gettext("Time per item (s)"),
            "quality": gettext("Per annotator"),
            "gold": gettext("Gold accuracy"),
            "agreement": gettext("Agreement with the majority"),
            "over_time": gettext("Krippendorff's alpha by day")
            if period == "day"
            else gettext("Krippendorff's alpha by week"),
        },
        # What a chart with nothing to draw says instead of showing empty axes.
        "empty": {
            "throughput": gettext("No submissions yet."),
            "times": gettext("No submissions yet."),
            "quality": gettext(
                "No annotator has a gold score or shares an item with another annotator yet: this "
                "chart fills in once gold items are answered or an item is annotated twice "
                "(overlap above 1 or a review layer)."
            ),
            "over_time": gettext("No item has several annotations yet."),
        },
    }
    return render(request, "frontend/annotation/dashboard.html", {"project": project, "d": dashboard, "charts": charts})


@login_required
@require_POST
def project_export(request, pk: int):
    project = access_project(request.user, pk, capabilities=(MANAGE,))
    try:
        version = annotation_project_export(project=project, created_by=request.user,
                                            aggregation=request.POST.get("aggregation") or "majority",
                                            output=request.POST.get("output") or "records")
    except ApplicationError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, gettext("Exported as %(version)s.") % {"version": version})
    return redirect("annotation:project-detail", pk=project.pk)


@login_required
@require_http_methods(["GET", "POST"])
def workbench(request, pk: int):
    """GET shows the annotator's current item (claiming nothing); POST claims the next one and shows it."""
    project = access_project(request.user, pk, capabilities=(WORK,))
    if request.method == "POST":
        return _claim_next_and_show(request, project=project)
    return _workbench_page(
        request,
        project=project,
        assignment=assignment_active_for(project=project, annotator=request.user),
        queue_empty=request.GET.get("empty") == "1",
    )


def _workbench_page(
    request,
    *,
    project,
    assignment,
    error: str = "",
    selected: frozenset = frozenset(),
    corrected: str | None = None,
    comment: str = "",
    rating: int | None = None,
    free_text: str = "",
    preference: str = "",
    places: dict | None = None,
    queue_empty: bool = False,
    status: int = 200,
) -> HttpResponse:
    context = {
        "project": project,
        "progress": project_progress(project=project, annotator=request.user, leases=False),
        "error": error,
        "queue_empty": queue_empty,
    }
    if assignment is not None:
        item = assignment_item(assignment=assignment, project=project)
        labels = label_nodes_flat(item.labels)
        context.update(
            item=item,
            labels=labels,
            label_guide=any(node.description or node.examples for node in labels),
            selected=selected,
            comment=comment,
            rating=rating,
            free_text=free_text,
            preference=preference,
            pairwise=bool(project.schema.pairwise_question) and pairwise_record(item.record),
            ranked_candidates=[(c, (places or {}).get(c.entry_id)) for c in item.candidates],
            place_values=range(1, len(item.candidates) + 1),
            rating_values=range(1, project.schema.rating_scale + 1),
            corrected=item.response if corrected is None else corrected,
            others=[] if project.blind else task_answers(task_id=assignment.task_id, exclude_annotator=request.user),
        )
    # htmx swaps only 2xx answers; an error must still reach the page.
    return render(request, "frontend/annotation/workbench.html", context, status=200 if request.htmx else status)


@login_required
@require_POST
def assignment_submit(request, pk: int):
    assignment = access_assignment(request.user, pk)
    project = assignment.task.project  # access_assignment checked the annotation.work capability in its workspace
    label_ids = request.POST.getlist("label_ids")
    form = SubmitForm(request.POST)
    if not form.is_valid():
        current = assignment_active_for(project=project, annotator=request.user)
        return _workbench_page(request, project=project, assignment=current, error=form_error(form), status=400)
    data = form.cleaned_data
    places = ranking_places(request.POST)
    try:
        annotation_submit(assignment=assignment, label_ids=label_ids, corrected_response=data["corrected_response"],
                          comment=data["comment"], time_spent_ms=data["time_spent_ms"] or 0, submitted_by=request.user,
                          rating=data["rating"], free_text=data["free_text"], preference=data["preference"],
                          ranking=ranking_from_places(places, answers=len(assignment.task.candidates)))
    except ApplicationError as error:
        # Show what a reload would show (the current item, if any), keeping the annotator's input when it is this item.
        current = assignment_active_for(project=project, annotator=request.user)
        if current is None or current.pk != assignment.pk:
            return _workbench_page(request, project=project, assignment=current, error=str(error), status=400)
        selected = frozenset(int(i) for i in label_ids if i.isdigit())
        return _workbench_page(request, project=project, assignment=current, error=str(error), selected=selected,
                               corrected=data["corrected_response"], comment=data["comment"], rating=data["rating"],
                               free_text=data["free_text"], preference=data["preference"], places=places, status=400)
    return _claim_next_and_show(request, project=project)


def ranking_places(post) -> dict[int, int]:
    """entry id -> the place (1 = best) the annotator gave it, from the ranking item's `place_<entry id>` selects."""
    places = {}
    for key, value in post.items():
        if key.startswith("place_") and key[6:].isdigit() and value.isdigit():
            places[int(key[6:])] = int(value)
    return places


def ranking_from_places(places: dict[int, int], *, answers: int) -> list[int]:
    """The ranking (entry ids, best first) the places give, checked in the page's terms (places, not entry ids); the
    service checks the ids."""
    if answers and len(places) < answers:
        raise ApplicationError(
            gettext("Give each of the %(n)s answers a place, 1 to %(n)s.") % {"n": answers}, where="ranking"
        )
    if len(set(places.values())) != len(places):
        raise ApplicationError(gettext("Give every answer a place of its own."), where="ranking")
    return sorted(places, key=places.get)


@login_required
@require_POST
def assignment_skip_view(request, pk: int):
    assignment = access_assignment(request.user, pk)
    project = assignment.task.project  # access_assignment checked the annotation.work capability in its workspace
    form = SkipForm(request.POST)
    reason = form.cleaned_data["reason"] if form.is_valid() else ""
    try:
        assignment_skip(assignment=assignment, reason=reason, skipped_by=request.user)
    except ApplicationError as error:
        current = assignment_active_for(project=project, annotator=request.user)
        return _workbench_page(request, project=project, assignment=current, error=str(error), status=400)
    return _claim_next_and_show(request, project=project)


@login_required
@require_POST
def project_prefetch(request, pk: int):
    """Lease the next items ahead in the background (the workbench calls this after showing an item), so the claim
    after a submit finds them at once. Answers a short status line for the page."""
    project = access_project(request.user, pk, capabilities=(WORK,))
    try:
        held = assignment_prefetch(project=project, annotator=request.user)
    except ApplicationError as error:
        return HttpResponse(str(error), content_type="text/plain; charset=utf-8")
    ahead = max(0, len(held) - 1)
    text = (
        ngettext("%(n)d more item reserved for you", "%(n)d more items reserved for you", ahead) % {"n": ahead}
        if ahead
        else ""
    )
    return HttpResponse(text, content_type="text/plain; charset=utf-8")


@login_required
@require_POST
def assignment_heartbeat_view(request, pk: int):
    """Keep the annotator's leases alive while they work (workbench.js calls this while the annotator is active).
    Answers JSON: the new end of the lease as shown on the page, or the reason it could not be renewed."""
    assignment = access_assignment(request.user, pk)
    try:
        renewed = assignment_heartbeat(assignment=assignment, annotator=request.user)
    except ApplicationError as error:
        return JsonResponse({"detail": str(error), "code": error.code}, status=409)
    expires_at = renewed[0].expires_at
    return JsonResponse(
        {
            "expires_at": expires_at.isoformat(),
            "until": time_format(timezone.localtime(expires_at), "H:i"),
            "renewed": len(renewed),
        }
    )


def _claim_next_and_show(request, *, project) -> HttpResponse:
    """Claim the next item and redirect to the workbench, which shows it (or says the queue is empty for this
    annotator)."""
    try:
        assignment = assignment_claim_next(project=project, annotator=request.user)
    except ApplicationError as error:
        messages.error(request, str(error))
        return redirect("annotation:project-detail", pk=project.pk)
    url = reverse("annotation:workbench", args=[project.pk])
    return redirect(url if assignment is not None else f"{url}?empty=1")


urlpatterns = [
    path("", project_list, name="project-list"),
    path("schemas/new/", schema_create, name="schema-create"),
    path("projects/new/", project_create, name="project-create"),
    path("projects/<int:pk>/", project_detail, name="project-detail"),
    path("projects/<int:pk>/export/", project_export, name="project-export"),
    path("projects/<int:pk>/schema/", project_schema_move, name="project-schema-move"),
    path("projects/<int:pk>/work/", workbench, name="workbench"),
    path("assignments/<int:pk>/submit/", assignment_submit, name="assignment-submit"),
    path("assignments/<int:pk>/skip/", assignment_skip_view, name="assignment-skip"),
    path("projects/<int:pk>/prefetch/", project_prefetch, name="project-prefetch"),
    path("projects/<int:pk>/layers/", project_layers, name="project-layers"),
    path("projects/<int:pk>/dashboard/", project_dashboard_view, name="project-dashboard"),
    path("assignments/<int:pk>/heartbeat/", assignment_heartbeat_view, name="assignment-heartbeat"),
] + review_urlpatterns + ai_urlpatterns

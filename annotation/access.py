"""Permission-checked fetches for the annotation app. Missing and forbidden both raise Http404, so ids leak nothing.

Capabilities (accounts/capabilities.py): "annotation.manage" sets projects up and exports them,
"annotation.work" claims, submits and skips items.
"""

from django.db.models import QuerySet
from django.http import Http404

from accounts.capabilities import roles_with
from accounts.models import Membership
from annotation.models import AIAnnotator, AIRun, AnnotationProject, Assignment, LabelSchema, Review
from datahub.models import DatasetVersion

MANAGE = "annotation.manage"
WORK = "annotation.work"
REVIEW = "annotation.review"
SPOT_CHECK = "annotation.spot_check"


def scope_to_any_capability(
    queryset: QuerySet, *, user, capabilities: tuple[str, ...], workspace_path: str = "workspace"
) -> QuerySet:
    """Narrow `queryset` to rows in workspaces where `user` holds at least one of `capabilities`."""
    if not user.is_authenticated:
        return queryset.none()
    if user.is_superuser:
        return queryset
    roles = set().union(*(roles_with(capability) for capability in capabilities))
    workspace_ids = Membership.objects.filter(user=user, role__in=roles).values("workspace_id")
    return queryset.filter(**{f"{workspace_path}__in": workspace_ids})


def _one(queryset: QuerySet, pk):
    # Not .first(): an ORDER BY on a primary-key match sorts nothing, and compiling it was a tenth of a claim's CPU.
    try:
        found = next(iter(queryset.filter(pk=int(pk)).order_by()[:1]), None)
    except (TypeError, ValueError):
        found = None
    if found is None:
        raise Http404
    return found


def access_project(user, project_id, *, capabilities: tuple[str, ...] = (MANAGE, WORK)) -> AnnotationProject:
    """The project if the user holds one of `capabilities` in its workspace (default: may manage or work on it)."""
    projects = AnnotationProject.objects.select_related("workspace", "schema", "dataset_version__dataset")
    return _one(scope_to_any_capability(projects, user=user, capabilities=capabilities), project_id)


def access_assignment(user, assignment_id) -> Assignment:
    """One of the user's own assignments, in a project they may work on; someone else's is as missing as no
    assignment."""
    assignments = Assignment.objects.select_related(
        "task__project__workspace", "task__project__schema", "task__project__dataset_version__dataset"
    ).filter(annotator_id=user.pk)
    return _one(
        scope_to_any_capability(
            assignments, user=user, capabilities=(WORK,), workspace_path="task__project__workspace"
        ),
        assignment_id,
    )


def access_label_schema(user, schema_id) -> LabelSchema:
    """A schema the user may build projects with."""
    schemas = LabelSchema.objects.select_related("workspace")
    return _one(scope_to_any_capability(schemas, user=user, capabilities=(MANAGE,)), schema_id)


def access_dataset_version(user, version_id) -> DatasetVersion:
    """A dataset version the user may open an annotation project over."""
    versions = DatasetVersion.objects.select_related("dataset__workspace")
    return _one(
        scope_to_any_capability(versions, user=user, capabilities=(MANAGE,), workspace_path="dataset__workspace"),
        version_id,
    )


def access_review(user, review_id) -> Review:
    """A check the user may decide: a re-check needs annotation.review, a spot check or disagreement
    annotation.spot_check."""
    from annotation.services.reviews import CAPABILITY_BY_LAYER

    reviews = Review.objects.select_related(
        "task__project__workspace", "task__project__schema", "annotation__annotator"
    )
    found = _one(
        scope_to_any_capability(
            reviews, user=user, capabilities=(REVIEW, SPOT_CHECK), workspace_path="task__project__workspace"
        ),
        review_id,
    )
    if not scope_to_any_capability(
        Review.objects.filter(pk=found.pk),
        user=user,
        capabilities=(CAPABILITY_BY_LAYER[found.layer],),
        workspace_path="task__project__workspace",
    ).exists():
        raise Http404
    return found


def access_ai_annotator(user, ai_annotator_id) -> AIAnnotator:
    """An AI annotator of a project the user manages."""
    ais = AIAnnotator.objects.select_related("project__workspace", "project__schema", "endpoint", "user")
    return _one(
        scope_to_any_capability(ais, user=user, capabilities=(MANAGE,), workspace_path="project__workspace"),
        ai_annotator_id,
    )


def access_ai_run(user, ai_run_id) -> AIRun:
    """A run of an AI annotator of a project the user manages."""
    runs = AIRun.objects.select_related("ai_annotator__project")
    return _one(
        scope_to_any_capability(
            runs, user=user, capabilities=(MANAGE,), workspace_path="ai_annotator__project__workspace"
        ),
        ai_run_id,
    )

"""Permission-checked fetches of studies and comparisons. Missing and forbidden both raise Http404.

Who sees what: study.manage and study.view_results holders see a study (its arms, status and, with view_results, its
results); study.vote holders see only open studies, and only through comparisons addressed by their random token.
"""

from django.db.models import QuerySet
from django.http import Http404

from accounts.access import scope_to_capability
from evaluation.models import Comparison, Study

STUDY_VIEW_CAPABILITIES = ("study.manage", "study.view_results")


def scope_to_any_capability(
    queryset: QuerySet, *, user, capabilities: tuple[str, ...], workspace_path: str = "workspace"
) -> QuerySet:
    """Rows in workspaces where `user` holds at least one of `capabilities`."""
    scoped = [
        scope_to_capability(queryset, user=user, capability=c, workspace_path=workspace_path) for c in capabilities
    ]
    combined = scoped[0]
    for more in scoped[1:]:
        combined = combined | more
    return combined


def access_study(user, study_id, *, capabilities: tuple[str, ...] = STUDY_VIEW_CAPABILITIES) -> Study:
    """A study the user may see with one of `capabilities` (default: manage or view results)."""
    study = (
        scope_to_any_capability(Study.objects.all(), user=user, capabilities=capabilities)
        .select_related("workspace", "dataset_version__dataset")
        .filter(pk=study_id)
        .first()
    )
    if study is None:
        raise Http404
    return study


def access_study_for_vote(user, study_id) -> Study:
    """An open study the user may vote in."""
    study = (
        scope_to_capability(Study.objects.filter(status=Study.Status.OPEN), user=user, capability="study.vote")
        .filter(pk=study_id)
        .first()
    )
    if study is None:
        raise Http404
    return study


def access_comparison_for_vote(user, token: str) -> Comparison:
    """A shown (not identical) comparison, by its token, in a workspace where the user may vote."""
    comparison = (
        scope_to_capability(Comparison.objects.filter(is_identical=False), user=user, capability="study.vote",
                            workspace_path="study__workspace")
        .select_related("study")
        .filter(token=token)
        .first()
    )
    if comparison is None:
        raise Http404
    return comparison


def access_general_eval(user, general_eval_id, *, capabilities: tuple[str, ...] = STUDY_VIEW_CAPABILITIES):
    """A general-capability check the user may see (study.manage or study.view_results in its workspace)."""
    from evaluation.models import GeneralEval

    if general_eval_id is None or not str(general_eval_id).isdigit():
        raise Http404
    general_eval = (
        scope_to_any_capability(GeneralEval.objects.all(), user=user, capabilities=capabilities)
        .select_related("workspace", "baseline_base_model", "baseline_artifact", "candidate_base_model",
                        "candidate_artifact", "created_by")
        .filter(pk=general_eval_id)
        .first()
    )
    if general_eval is None:
        raise Http404
    return general_eval


def access_rating_item_for_vote(user, token: str):
    """A rating item, by its token, in a workspace where the user may vote."""
    from evaluation.models import RatingItem

    item = (
        scope_to_capability(RatingItem.objects.all(), user=user, capability="study.vote",
                            workspace_path="study__workspace")
        .select_related("study")
        .filter(token=token)
        .first()
    )
    if item is None:
        raise Http404
    return item

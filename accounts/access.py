"""Permission-checked fetches. Missing and forbidden both raise Http404, so ids leak nothing."""

from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404

from accounts.capabilities import roles_with
from accounts.models import Membership, Workspace


def scope_to_capability(queryset: QuerySet, *, user, capability: str, workspace_path: str = "workspace") -> QuerySet:
    """Narrow `queryset` to rows in workspaces where `user` holds `capability`.

    `workspace_path` is the lookup from the model to its Workspace (e.g. "dataset__workspace").
    """
    if not user.is_authenticated:
        return queryset.none()
    if user.is_superuser:
        return queryset
    workspace_ids = Membership.objects.filter(user=user, role__in=roles_with(capability)).values("workspace_id")
    return queryset.filter(**{f"{workspace_path}__in": workspace_ids})


def access_workspace(user, workspace_id, *, capability: str) -> Workspace:
    workspace = (
        scope_to_capability(Workspace.objects.all(), user=user, capability=capability, workspace_path="pk")
        .filter(pk=workspace_id)
        .first()
    )
    if workspace is None:
        raise Http404
    return workspace


def user_role(user, workspace) -> str | None:
    if user.is_superuser:
        return "admin"
    membership = Membership.objects.filter(user=user, workspace=workspace).only("role").first()
    return membership.role if membership else None


def user_can(user, capability: str, workspace=None) -> bool:
    """True when the user holds the capability in `workspace`, or in any workspace when none is given."""
    if not user.is_authenticated:
        return False
    if user.is_superuser:
        return True
    memberships = Membership.objects.filter(user=user, role__in=roles_with(capability))
    if workspace is not None:
        memberships = memberships.filter(workspace=workspace)
    return memberships.exists()


def fetch_in_workspace(
    queryset: QuerySet,
    *,
    user,
    pk,
    view_capability: str,
    capability: str,
    workspace_path: str = "workspace",
    workspace_of=lambda row: row.workspace,
):
    """The one permission-checked fetch: a row outside the workspaces where the user holds `view_capability` is
    missing (Http404, the same as a wrong id); a stronger `capability` the user lacks on a row they can see is
    PermissionDenied (403), which tells them nothing new."""
    if pk is None or not str(pk).isdigit():
        raise Http404
    row = (
        scope_to_capability(queryset, user=user, capability=view_capability, workspace_path=workspace_path)
        .filter(pk=pk)
        .first()
    )
    if row is None:
        raise Http404
    if capability != view_capability and not user_can(user, capability, workspace_of(row)):
        raise PermissionDenied
    return row


def access_api_token(user, token_id):
    """One of the user's own API tokens; anyone else's is missing, as is a wrong id."""
    from accounts.models import ApiToken

    if token_id is None or not str(token_id).isdigit() or not user.is_authenticated:
        raise Http404
    token = ApiToken.objects.filter(user=user, pk=token_id).first()
    if token is None:
        raise Http404
    return token

"""Permission-checked fetches. Missing and forbidden both raise Http404, so ids leak nothing."""

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
    workspace = scope_to_capability(Workspace.objects.all(), user=user, capability=capability, workspace_path="pk").filter(pk=workspace_id).first()
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

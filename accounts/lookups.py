"""Name lookups for management commands: each fails with a CommandError naming the option and the problem."""

from django.contrib.auth import get_user_model
from django.core.management.base import CommandError

from accounts.models import Workspace


def workspace_named(name: str) -> Workspace:
    workspace = Workspace.objects.filter(name=name).first()
    if workspace is None:
        raise CommandError(f"--workspace: no workspace named {name!r}")
    return workspace


def user_named(username: str | None):
    if username is None:
        return None
    user = get_user_model().objects.filter(username=username).first()
    if user is None:
        raise CommandError(f"--user: no user named {username!r}")
    return user

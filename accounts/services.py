from django.contrib.auth import get_user_model
from django.db import transaction
from rest_framework.authtoken.models import Token

from accounts.models import Membership, Role, Workspace
from common.errors import ApplicationError
from common.history import history_record

User = get_user_model()


@transaction.atomic
def workspace_create(*, name: str, description: str = "", created_by=None) -> Workspace:
    if Workspace.objects.filter(name=name).exists():
        raise ApplicationError(f"a workspace named {name!r} already exists", where="name")
    workspace = Workspace.objects.create(name=name, description=description)
    history_record(actor=created_by, target=workspace, verb="created", after={"name": name})
    return workspace


@transaction.atomic
def membership_set(*, workspace: Workspace, user, role: str, set_by=None) -> Membership:
    if role not in Role.values:
        raise ApplicationError(f"unknown role {role!r}; choose one of {', '.join(Role.values)}", where="role")
    membership, _ = Membership.objects.update_or_create(workspace=workspace, user=user, defaults={"role": role})
    history_record(actor=set_by, target=membership, verb="role_set", after={"role": role, "user": user.username})
    return membership


def user_create(*, username: str, password: str, email: str = "", is_superuser: bool = False):
    if User.objects.filter(username=username).exists():
        raise ApplicationError(f"a user named {username!r} already exists", where="username")
    if is_superuser:
        return User.objects.create_superuser(username=username, password=password, email=email)
    return User.objects.create_user(username=username, password=password, email=email)


def api_token_for(*, user) -> str:
    token, _ = Token.objects.get_or_create(user=user)
    return token.key

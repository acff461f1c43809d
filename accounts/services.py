import hashlib
import secrets
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from accounts.models import ApiToken, Membership, Role, Workspace
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


API_TOKEN_PREFIX = "wst_"
API_TOKENS_PER_USER = 100
# "Last used" is written at most this often per token, so a busy script does not write a row on every request.
API_TOKEN_USE_RESOLUTION = timedelta(minutes=1)


def api_token_hash(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


@transaction.atomic
def api_token_create(*, user, name: str, created_by=None) -> tuple[ApiToken, str]:
    """A new API token for `user`. Returns (the stored row, the key): show the key now, only its hash is kept."""
    name = name.strip()
    if not name:
        raise ApplicationError("give the token a name, e.g. the script or app that will use it", where="name")
    if len(name) > 100:
        raise ApplicationError("a token name has at most 100 characters", where="name")
    # The user row is locked so two concurrent creations cannot both pass the limit.
    User.objects.select_for_update().filter(pk=user.pk).first()
    if ApiToken.objects.filter(user=user, revoked_at__isnull=True).count() >= API_TOKENS_PER_USER:
        raise ApplicationError(f"you have {API_TOKENS_PER_USER} active tokens; revoke one you no longer use first",
                               where="name", code="too_many_tokens")
    key = API_TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(user=user, name=name, prefix=key[:10], key_hash=api_token_hash(key),
                                    created_at=timezone.now())
    history_record(actor=created_by or user, target=token, verb="created", after={"name": name, "prefix": token.prefix})
    return token, key


@transaction.atomic
def api_token_revoke(*, token: ApiToken, revoked_by=None) -> ApiToken:
    """Stop a token from working, at once and for good. Revoking a revoked token changes nothing."""
    locked = ApiToken.objects.select_for_update().get(pk=token.pk)
    if locked.revoked_at is None:
        locked.revoked_at = timezone.now()
        locked.save(update_fields=["revoked_at"])
        history_record(actor=revoked_by, target=locked, verb="revoked", after={"prefix": locked.prefix})
    return locked


def api_token_authenticate(*, key: str) -> ApiToken | None:
    """The live token with this key, with its user, or None; notes when it was used (at most once a minute).

    One query for a token used within the last minute; a second (an UPDATE) otherwise. The UPDATE is conditional on
    the stored time, so of many requests arriving together with one token only the first writes the row; the others
    change nothing and wait on no row lock for long.
    """
    live = ApiToken.objects.select_related("user").filter(key_hash=api_token_hash(key), revoked_at__isnull=True)
    token = next(iter(live.order_by()[:1]), None)  # the hash is unique: nothing to order
    if token is None:
        return None
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at >= API_TOKEN_USE_RESOLUTION:
        stale = Q(last_used_at__isnull=True) | Q(last_used_at__lte=now - API_TOKEN_USE_RESOLUTION)
        ApiToken.objects.filter(stale, pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    return token


def api_token_for(*, user, name: str = "API token") -> str:
    """A new token's key for `user`: the short way for scripts and tests that need one."""
    return api_token_create(user=user, name=name)[1]

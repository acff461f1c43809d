"""Feedback sources and their ingest tokens.

A token is `wfb_` + 43 random URL-safe characters (256 bits). Only its SHA-256 is stored: a random secret that long
needs no slow password hash, and a lookup by hash stays one indexed query per request. The token is returned once,
by the call that makes it, and cannot be shown again; a lost token is revoked and replaced.
"""

import hashlib
import secrets

from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import Workspace
from common.errors import ApplicationError
from common.history import history_record
from feedback.models import PII_KINDS, FeedbackIngestToken, FeedbackSource

TOKEN_PREFIX = "wfb_"
RATE_LIMIT_MAX = 10_000_000
WORKBENCH_SOURCE_NAME = "Best-of-N workbench"


def token_hash(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def _settings_check(*, pii_kinds, rate_limit_per_minute: int) -> list[str]:
    kinds = list(PII_KINDS) if pii_kinds is None else list(pii_kinds)
    unknown = [kind for kind in kinds if kind not in PII_KINDS]
    if unknown:
        raise ApplicationError(
            f"unknown PII kind {unknown[0]!r}; choose from {', '.join(PII_KINDS)}", where="pii_kinds"
        )
    if not 0 <= rate_limit_per_minute <= RATE_LIMIT_MAX:
        raise ApplicationError(
            f"the rate limit is between 0 (none) and {RATE_LIMIT_MAX} events a minute", where="rate_limit_per_minute"
        )
    return [kind for kind in PII_KINDS if kind in kinds]


@transaction.atomic
def feedback_source_create(
    *,
    workspace: Workspace,
    name: str,
    description: str = "",
    pii_scrub: bool = True,
    pii_kinds: list[str] | None = None,
    rate_limit_per_minute: int = 600_000,
    kind: str = FeedbackSource.Kind.APP,
    simulated_by: str = "",
    created_by=None,
) -> FeedbackSource:
    """Register a production app that sends feedback. The name is unique in the workspace. `simulated_by` names the
    common.simulation rule deciding its events when no people are behind them (the demo's shop app); pages say so."""
    name = " ".join((name or "").split())
    if not name:
        raise ApplicationError("a name is required", where="name")
    if len(name) > 200:
        raise ApplicationError("longer than 200 characters", where="name")
    kinds = _settings_check(pii_kinds=pii_kinds, rate_limit_per_minute=rate_limit_per_minute)
    user = created_by if created_by is not None and created_by.is_authenticated else None
    try:
        with transaction.atomic():
            source = FeedbackSource.objects.create(
                workspace=workspace,
                name=name,
                kind=kind,
                description=description.strip(),
                pii_scrub=pii_scrub,
                pii_kinds=kinds,
                rate_limit_per_minute=rate_limit_per_minute,
                simulated_by=simulated_by,
                created_by=user,
            )
    except IntegrityError as exc:
        raise ApplicationError(
            f"a feedback source named {name!r} already exists in workspace {workspace.name!r}",
            where="name",
            code="duplicate",
        ) from exc
    history_record(actor=created_by, target=source, verb="created",
                   after={"name": name, "kind": kind, "pii_scrub": pii_scrub, "pii_kinds": kinds,
                          "rate_limit_per_minute": rate_limit_per_minute,
                          **({"simulated_by": simulated_by} if simulated_by else {})})
    return source


@transaction.atomic
def feedback_source_settings_update(*, source: FeedbackSource, pii_scrub: bool, pii_kinds: list[str],
                                    rate_limit_per_minute: int, updated_by=None) -> FeedbackSource:
    """Change how a source's future events are scrubbed and limited; stored events are never rewritten."""
    kinds = _settings_check(pii_kinds=pii_kinds, rate_limit_per_minute=rate_limit_per_minute)
    before = {
        "pii_scrub": source.pii_scrub,
        "pii_kinds": source.pii_kinds,
        "rate_limit_per_minute": source.rate_limit_per_minute,
    }
    source.pii_scrub, source.pii_kinds, source.rate_limit_per_minute = pii_scrub, kinds, rate_limit_per_minute
    source.save(update_fields=["pii_scrub", "pii_kinds", "rate_limit_per_minute", "updated_at"])
    history_record(actor=updated_by, target=source, verb="settings_changed", before=before,
                   after={"pii_scrub": pii_scrub, "pii_kinds": kinds, "rate_limit_per_minute": rate_limit_per_minute})
    return source


@transaction.atomic
def feedback_token_create(*, source: FeedbackSource, created_by=None) -> tuple[FeedbackIngestToken, str]:
    """A new ingest token for `source`. Returns (the stored row, the token): show the token now, it is not kept."""
    if source.kind != FeedbackSource.Kind.APP:
        raise ApplicationError("the workbench source takes no ingest tokens; agents record through the workbench page",
                               where="source")
    key = TOKEN_PREFIX + secrets.token_urlsafe(32)
    user = created_by if created_by is not None and created_by.is_authenticated else None
    token = FeedbackIngestToken.objects.create(
        source=source, prefix=key[:12], key_hash=token_hash(key), created_by=user
    )
    history_record(
        actor=created_by, target=source, verb="token_created", after={"token": token.pk, "prefix": token.prefix}
    )
    return token, key


@transaction.atomic
def feedback_token_revoke(*, token: FeedbackIngestToken, revoked_by=None) -> FeedbackIngestToken:
    """Stop a token from working, at once and for good. Revoking a revoked token changes nothing."""
    locked = FeedbackIngestToken.objects.select_for_update().get(pk=token.pk)
    if locked.revoked_at is None:
        locked.revoked_at = timezone.now()
        locked.save(update_fields=["revoked_at"])
        history_record(
            actor=revoked_by,
            target=locked.source,
            verb="token_revoked",
            after={"token": locked.pk, "prefix": locked.prefix},
        )
    return locked


def feedback_token_authenticate(*, key: str) -> FeedbackIngestToken | None:
    """The live token with this secret, with its source and workspace, or None."""
    if not key.startswith(TOKEN_PREFIX):
        return None
    return (FeedbackIngestToken.objects.select_related("source__workspace")
            .filter(key_hash=token_hash(key), revoked_at__isnull=True).first())


def feedback_workbench_source(*, workspace: Workspace) -> FeedbackSource:
    """The workspace's internal source for best-of-N picks, made on first use (a unique constraint settles races)."""
    source = FeedbackSource.objects.filter(workspace=workspace, kind=FeedbackSource.Kind.WORKBENCH).first()
    if source is not None:
        return source
    for name in (WORKBENCH_SOURCE_NAME, f"{WORKBENCH_SOURCE_NAME} (internal)"):  # an app may already use the plain name
        try:
            return feedback_source_create(workspace=workspace, name=name, kind=FeedbackSource.Kind.WORKBENCH,
                                          description="picks and edits made by agents in the best-of-N workbench")
        except ApplicationError:
            source = FeedbackSource.objects.filter(workspace=workspace, kind=FeedbackSource.Kind.WORKBENCH).first()
            if source is not None:  # another request made it first
                return source
    raise ApplicationError("the workbench source cannot be created: rename the sources named "
                           f"{WORKBENCH_SOURCE_NAME!r}", where="source")

"""Sources and datasets: created once, named uniquely inside their workspace."""

from django.db import IntegrityError, transaction

from accounts.models import Workspace
from common.errors import ApplicationError
from common.history import history_record
from datahub.models import Dataset, Source

NAME_MAX = 200


def _clean_name(name: str) -> str:
    name = (name or "").strip()
    if not name:
        raise ApplicationError("a name is required", where="name")
    if len(name) > NAME_MAX:
        raise ApplicationError(f"the name is {len(name)} characters; the limit is {NAME_MAX}", where="name")
    return name


@transaction.atomic
def source_create(*, workspace: Workspace, name: str, kind: str = Source.Kind.OWN, quality_tier: str = Source.Tier.B,
                  description: str = "", created_by=None) -> Source:
    """Register where records come from. The name is unique in the workspace."""
    name = _clean_name(name)
    if kind not in Source.Kind.values:
        raise ApplicationError(f"unknown source kind {kind!r}; choose one of {', '.join(Source.Kind.values)}", where="kind")
    if quality_tier not in Source.Tier.values:
        raise ApplicationError(f"unknown quality tier {quality_tier!r}; choose one of {', '.join(Source.Tier.values)}",
                               where="quality_tier")
    try:
        # The unique constraint decides, so two concurrent creates cannot both win.
        with transaction.atomic():
            source = Source.objects.create(workspace=workspace, name=name, kind=kind, quality_tier=quality_tier, description=description)
    except IntegrityError as exc:
        raise ApplicationError(f"a source named {name!r} already exists in workspace {workspace.name!r}",
                               where="name", code="duplicate") from exc
    history_record(actor=created_by, target=source, verb="created", after={"name": name, "kind": kind, "quality_tier": quality_tier})
    return source


@transaction.atomic
def dataset_create(*, workspace: Workspace, name: str, description: str = "", created_by=None) -> Dataset:
    """Create an empty dataset. The name is unique in the workspace."""
    name = _clean_name(name)
    user = created_by if created_by is not None and created_by.is_authenticated else None
    try:
        with transaction.atomic():
            dataset = Dataset.objects.create(workspace=workspace, name=name, description=description, created_by=user)
    except IntegrityError as exc:
        raise ApplicationError(f"a dataset named {name!r} already exists in workspace {workspace.name!r}",
                               where="name", code="duplicate") from exc
    history_record(actor=created_by, target=dataset, verb="created", after={"name": name})
    return dataset

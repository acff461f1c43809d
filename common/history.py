from django.db import models

from common.models import HistoryEvent


def history_record(
    *, actor, target: models.Model, verb: str, before: dict | None = None, after: dict | None = None
) -> HistoryEvent:
    """Append a history row; call inside the transaction of the state change it describes."""
    return HistoryEvent.objects.create(
        actor=actor if actor is not None and actor.is_authenticated else None,
        target_type=target._meta.label_lower,
        target_id=target.pk,
        verb=verb,
        before=before,
        after=after,
    )

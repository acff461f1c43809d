"""State changes of production feedback, one function each (see the modules for the concurrency rules)."""

from feedback.services.datasets import feedback_dataset_build
from feedback.services.ingest import feedback_events_ingest
from feedback.services.sources import (
    feedback_source_create,
    feedback_source_settings_update,
    feedback_token_create,
    feedback_token_revoke,
    feedback_workbench_source,
)
from feedback.services.workbench import workbench_draft_create, workbench_index_of_reply, workbench_pick

__all__ = [
    "feedback_dataset_build",
    "feedback_events_ingest",
    "feedback_source_create",
    "feedback_source_settings_update",
    "feedback_token_create",
    "feedback_token_revoke",
    "feedback_workbench_source",
    "workbench_draft_create",
    "workbench_index_of_reply",
    "workbench_pick",
]

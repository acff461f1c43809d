"""State changes of the annotation app, one function each (see the modules for the concurrency rules)."""

from annotation.services.ai_annotators import ai_annotator_create, ai_run_create, ai_run_execute
from annotation.services.annotations import annotation_submit, annotator_kind_for
from annotation.services.export import annotation_project_export
from annotation.services.label_schemas import label_schema_create
from annotation.services.projects import annotation_project_create
from annotation.services.queue import (
    assignment_claim_batch,
    assignment_claim_next,
    assignment_heartbeat,
    assignment_prefetch,
    assignment_release,
    assignment_skip,
)
from annotation.services.schema_moves import annotation_project_schema_move
from annotation.services.reviews import annotation_project_layers_set, review_claim_next, review_decide

__all__ = [
    "ai_annotator_create",
    "ai_run_create",
    "ai_run_execute",
    "annotation_project_create",
    "annotation_project_export",
    "annotation_project_layers_set",
    "annotation_project_schema_move",
    "annotation_submit",
    "annotator_kind_for",
    "assignment_claim_batch",
    "assignment_claim_next",
    "assignment_heartbeat",
    "assignment_prefetch",
    "assignment_release",
    "assignment_skip",
    "label_schema_create",
    "review_claim_next",
    "review_decide",
]

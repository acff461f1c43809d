from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from accounts.models import Workspace
from annotation.label_tree import label_tree_validate
from annotation.lock_objects import workspace_lock
from annotation.models import Label, LabelSchema
from common.errors import ApplicationError
from common.history import history_record


@transaction.atomic
def label_schema_create(
    *,
    workspace: Workspace,
    name: str,
    tree: list,
    multiple: bool = False,
    leaf_only: bool = True,
    rating_scale: int = 0,
    rating_question: str = "",
    free_text_question: str = "",
    pairwise_question: str = "",
    ranking_question: str = "",
    created_by=None,
) -> LabelSchema:
    """Publish a label schema: its tree of labels, fixed from now on.

    A published schema never changes; creating one under a name the workspace already uses publishes the next
    version of that name. Labels are stored depth-first (`order`), so reading them in order draws the tree.

    Optional fields beside the labels: `rating_scale` N (2..10) asks every annotator for a rating from 1 to N
    (`rating_question` says what it measures), `free_text_question` asks for a free-text answer, `pairwise_question`
    asks which of a record's two answers is better (A, B or a tie; on preference records), `ranking_question` asks to
    rank the answers to one prompt, best first (a project over the schema groups them into one item, see
    annotation_project_create).
    0 / blank: not asked. A schema that asks any of these may have no labels at all (`tree` empty): a rating-only or
    ranking-only schema.
    """
    name = " ".join((name or "").split())
    if not name:
        raise ApplicationError("empty", where="name")
    if len(name) > 200:
        raise ApplicationError("longer than 200 characters", where="name")
    if (
        isinstance(rating_scale, bool)
        or not isinstance(rating_scale, int)
        or not (rating_scale == 0 or 2 <= rating_scale <= 10)
    ):
        raise ApplicationError("must be 0 (no rating) or a whole number from 2 to 10", where="rating_scale")
    rating_question = " ".join((rating_question or "").split())
    free_text_question = " ".join((free_text_question or "").split())
    pairwise_question = " ".join((pairwise_question or "").split())
    ranking_question = " ".join((ranking_question or "").split())
    for field, text in (("rating_question", rating_question), ("free_text_question", free_text_question),
                        ("pairwise_question", pairwise_question), ("ranking_question", ranking_question)):
        if len(text) > 300:
            raise ApplicationError("longer than 300 characters", where=field)
    if rating_question and not rating_scale:
        raise ApplicationError("a rating question needs a rating scale", where="rating_question")
    asks = bool(rating_scale or free_text_question or pairwise_question or ranking_question)
    flat = [] if asks and not tree else label_tree_validate(tree)
    workspace_lock(workspace=workspace)
    version = (LabelSchema.objects.filter(workspace=workspace, name=name).aggregate(n=Max("version"))["n"] or 0) + 1
    schema = LabelSchema.objects.create(
        workspace=workspace,
        name=name,
        version=version,
        multiple=multiple,
        leaf_only=leaf_only,
        rating_scale=rating_scale,
        rating_question=rating_question,
        free_text_question=free_text_question,
        pairwise_question=pairwise_question,
        ranking_question=ranking_question,
        published_at=timezone.now(),
        created_by=created_by,
    )
    # Level by level, so every parent has its id before its children are inserted.
    saved: list[Label | None] = [None] * len(flat)
    for depth in range(max((node.depth for node in flat), default=-1) + 1):
        level = [(i, node) for i, node in enumerate(flat) if node.depth == depth]
        rows = Label.objects.bulk_create([
            Label(schema=schema, parent=saved[node.parent_index] if node.parent_index is not None else None,
                  name=node.name, path=node.path, description=node.description, examples=node.examples, order=i)
            for i, node in level
        ])
        for (i, _), row in zip(level, rows):
            saved[i] = row
    history_record(
        actor=created_by,
        target=schema,
        verb="published",
        after={
            "name": name,
            "version": version,
            "labels": [node.path for node in flat],
            "multiple": multiple,
            "leaf_only": leaf_only,
            "rating_scale": rating_scale,
            "rating_question": rating_question,
            "free_text_question": free_text_question,
            "pairwise_question": pairwise_question,
            "ranking_question": ranking_question,
        },
    )
    return schema

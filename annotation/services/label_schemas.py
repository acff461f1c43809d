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
def label_schema_create(*, workspace: Workspace, name: str, tree: list, multiple: bool = False, leaf_only: bool = True,
                        created_by=None) -> LabelSchema:
    """Publish a label schema: its tree of labels, fixed from now on.

    A published schema never changes; creating one under a name the workspace already uses publishes the next
    version of that name. Labels are stored depth-first (`order`), so reading them in order draws the tree.
    """
    name = " ".join((name or "").split())
    if not name:
        raise ApplicationError("empty", where="name")
    if len(name) > 200:
        raise ApplicationError("longer than 200 characters", where="name")
    flat = label_tree_validate(tree)
    workspace_lock(workspace=workspace)
    version = (LabelSchema.objects.filter(workspace=workspace, name=name).aggregate(n=Max("version"))["n"] or 0) + 1
    schema = LabelSchema.objects.create(workspace=workspace, name=name, version=version, multiple=multiple, leaf_only=leaf_only,
                                        published_at=timezone.now(), created_by=created_by)
    # Level by level, so every parent has its id before its children are inserted.
    saved: list[Label | None] = [None] * len(flat)
    for depth in range(max(node.depth for node in flat) + 1):
        level = [(i, node) for i, node in enumerate(flat) if node.depth == depth]
        rows = Label.objects.bulk_create([
            Label(schema=schema, parent=saved[node.parent_index] if node.parent_index is not None else None,
                  name=node.name, path=node.path, description=node.description, order=i)
            for i, node in level
        ])
        for (i, _), row in zip(level, rows):
            saved[i] = row
    history_record(actor=created_by, target=schema, verb="published",
                   after={"name": name, "version": version, "labels": [node.path for node in flat], "multiple": multiple,
                          "leaf_only": leaf_only})
    return schema

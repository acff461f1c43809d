"""Moving a project to a newer version of its label schema, and reading old answers through the moves.

A published schema version never changes; a new version is published under the same name (label_schema_create). A
project moves to it with a mapping old path -> new path. The mapping recorded is complete for the old version: a label
not named keeps its path when the new version has that path, and is left unmapped otherwise (refused when the
project's annotations, gold answers or review fixes use it: their meaning would be lost). Annotations keep their old
labels; label_path_mapper translates them, move after move, wherever answers are compared or exported.
"""

from django.db import transaction

from annotation.models import Annotation, AnnotationProject, AnnotationTask, Label, LabelSchema, Review, SchemaMove
from common.errors import ApplicationError
from common.history import history_record


@transaction.atomic
def annotation_project_schema_move(
    *, project: AnnotationProject, schema: LabelSchema, mapping: dict, moved_by=None
) -> SchemaMove:
    """Move the project to `schema`, a newer published version of the same schema name in the same workspace.

    `mapping`: old label path -> new label path (only the labels that change path). Gold answers of the project's items
    are rewritten to the new paths; annotations are not (see label_path_mapper). Claims and submits from now on use the
    new version; a submit in flight with the old labels is refused and the annotator picks again.
    """
    locked = AnnotationProject.objects.select_for_update().select_related("schema").get(pk=project.pk)
    old = locked.schema
    if schema.workspace_id != locked.workspace_id or schema.name != old.name:
        raise ApplicationError(
            f"must be a version of the label schema {old.name!r} in the project's workspace", where="schema"
        )
    if schema.version <= old.version:
        raise ApplicationError(f"must be newer than the project's version {old.version}", where="schema")
    if schema.published_at is None:
        raise ApplicationError("is not published", where="schema")
    if not isinstance(mapping, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in mapping.items()):
        raise ApplicationError("must map old label paths to new label paths", where="mapping")

    old_paths = set(old.labels.values_list("path", flat=True))
    new_labels = {label.path: label for label in Label.objects.filter(schema=schema).prefetch_related("children")}
    for path, target in mapping.items():
        if path not in old_paths:
            raise ApplicationError(f"{path!r} is not a label of {old}", where="mapping")
        if target not in new_labels:
            raise ApplicationError(f"{target!r} is not a label of {schema}", where="mapping")
        if schema.leaf_only and new_labels[target].children.all():
            raise ApplicationError(f"{target!r} has sub-labels in {schema}; map to one of them", where="mapping")
    full = {path: mapping.get(path, path) for path in sorted(old_paths) if mapping.get(path, path) in new_labels}
    unmapped = _used_paths(project=locked, schema=old) - set(full)
    if unmapped:
        raise ApplicationError(
            f"used in this project but not in {schema}: {', '.join(sorted(unmapped))}; map them", where="mapping"
        )

    for task in AnnotationTask.objects.filter(project=locked, is_gold=True).only("pk", "gold_labels"):
        moved = sorted({full.get(path, path) for path in task.gold_labels})
        if moved != task.gold_labels:
            AnnotationTask.objects.filter(pk=task.pk).update(gold_labels=moved)
    move = SchemaMove.objects.create(project=locked, from_schema=old, to_schema=schema, mapping=full, moved_by=moved_by)
    locked.schema = schema
    locked.save(update_fields=["schema", "updated_at"])
    project.schema = schema
    history_record(actor=moved_by, target=locked, verb="schema_moved",
                   before={"schema": old.pk, "version": old.version},
                   after={"schema": schema.pk, "version": schema.version, "mapping": full, "move": move.pk})
    return move


def _used_paths(*, project: AnnotationProject, schema: LabelSchema) -> set[str]:
    """Paths of `schema` (the project's current version) that its annotations, review fixes or gold answers use,
    counting labels of earlier versions under the paths the moves gave them."""
    mapper = label_path_mapper(project=project)
    rows = set(Annotation.labels.through.objects.filter(annotation__task__project=project)
               .values_list("label__schema_id", "label__path").distinct())
    rows |= set(Review.fixed_labels.through.objects.filter(review__task__project=project)
                .values_list("label__schema_id", "label__path").distinct())
    used = {path_in_current(mapper, schema_id, path, schema.pk) for schema_id, path in rows} - {None}
    for gold in AnnotationTask.objects.filter(project=project, is_gold=True).values_list("gold_labels", flat=True):
        used |= set(gold)
    return used


def label_path_mapper(*, project: AnnotationProject) -> dict[int, dict[str, str]]:
    """schema id -> {old path: the path it has in the project's current version}, for every version the project moved
    away from (empty when it never moved). One query. Labels of the current version need no mapping."""
    mapper: dict[int, dict[str, str]] = {}
    for move in SchemaMove.objects.filter(project=project).order_by("created_at", "pk"):
        for table in mapper.values():
            for path, target in list(table.items()):
                if target in move.mapping:
                    table[path] = move.mapping[target]
                else:
                    del table[path]
        mapper[move.from_schema_id] = dict(move.mapping)
    return mapper


def path_in_current(mapper: dict[int, dict[str, str]], schema_id: int, path: str, current_schema_id: int) -> str | None:
    """`path` of schema `schema_id` as the project's current version names it (None when it has no counterpart)."""
    if schema_id == current_schema_id or schema_id not in mapper:
        return path
    return mapper[schema_id].get(path)

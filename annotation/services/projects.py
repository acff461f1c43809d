import math

from django.db import transaction

from accounts.models import Workspace
from annotation.models import Annotation, AnnotationProject, AnnotationTask, Assignment, LabelSchema
from annotation.services.annotations import schema_labels
from common.db import tables_analyze_after_commit
from common.errors import ApplicationError
from common.history import history_record
from datahub.models import DatasetVersion, Record, VersionRecord

TASK_BATCH = 5000
MAX_CANDIDATES = 9  # answers ranked in one item: one digit each on the workbench
MAX_OVERLAP = 20
MAX_LEASE_SECONDS = 24 * 3600


@transaction.atomic
def annotation_project_create(*, workspace: Workspace, name: str, dataset_version: DatasetVersion, schema: LabelSchema,
                              overlap: int = 1, instructions: str = "", lease_seconds: int = 600,
                              created_by=None) -> AnnotationProject:
    """Open a project over a frozen version: one AnnotationTask per entry of the version.

    With a ranking question in the schema, the conversations that answer one prompt (the same prompt hash, a final
    assistant turn) become one ranking item instead: its `candidates` are their entries (see ranking_items); every
    other entry stays an item of its own. A schema without labels makes items only of what it asks about (see
    project_items).

    The version and the schema must belong to `workspace`; the schema is published (it never changes), so the labels
    annotators see now are the labels an export reads later.
    """
    name = " ".join((name or "").split())
    if not name:
        raise ApplicationError("empty", where="name")
    if len(name) > 200:
        raise ApplicationError("longer than 200 characters", where="name")
    if dataset_version.dataset.workspace_id != workspace.pk:
        raise ApplicationError("the dataset version belongs to another workspace", where="dataset_version")
    if schema.workspace_id != workspace.pk:
        raise ApplicationError("the label schema belongs to another workspace", where="schema")
    if schema.published_at is None:
        raise ApplicationError("the label schema is not published", where="schema")
    if not 1 <= overlap <= MAX_OVERLAP:
        raise ApplicationError(f"overlap must be between 1 and {MAX_OVERLAP}", where="overlap")
    if not 30 <= lease_seconds <= MAX_LEASE_SECONDS:
        raise ApplicationError(f"a lease lasts between 30 and {MAX_LEASE_SECONDS} seconds", where="lease_seconds")
    project = AnnotationProject.objects.create(
        workspace=workspace,
        name=name,
        dataset_version=dataset_version,
        schema=schema,
        overlap=overlap,
        instructions=instructions.strip(),
        lease_seconds=lease_seconds,
        created_by=created_by,
    )
    created, ranked, batch = 0, 0, []
    for entries in project_items(dataset_version, schema):
        batch.append(
            AnnotationTask(project=project, entry_id=entries[0], candidates=entries if len(entries) > 1 else [])
        )
        ranked += len(entries) > 1
        if len(batch) == TASK_BATCH:
            created += len(AnnotationTask.objects.bulk_create(batch))
            batch = []
    if batch:
        created += len(AnnotationTask.objects.bulk_create(batch))
    if not created:
        if not schema_labels(schema=schema):
            raise ApplicationError(
                f"the dataset version has nothing the schema {schema} asks about (without labels it asks "
                "only its questions: a ranking needs several answers to one prompt, an A/B question "
                "preference records)",
                where="dataset_version",
            )
        raise ApplicationError("the dataset version has no records to annotate", where="dataset_version")
    after = {
        "name": name,
        "dataset_version": dataset_version.pk,
        "schema": schema.pk,
        "overlap": overlap,
        "tasks": created,
    }
    if schema.ranking_question:
        after["ranking_items"] = ranked
    history_record(actor=created_by, target=project, verb="created", after=after)
    tables_analyze_after_commit(AnnotationTask, Assignment, Annotation)
    return project


def project_items(dataset_version: DatasetVersion, schema: LabelSchema):
    """The items of a project over `dataset_version` under `schema`, in entry order: lists of entry ids (ranking
    items hold several). A schema with labels, a rating or a free-text question asks something of every record; one
    with only an A/B and/or a ranking question makes items only of preference records and of answers to rank."""
    every_record = bool(schema.rating_scale or schema.free_text_question or schema_labels(schema=schema))
    single_kinds = None if every_record else ({Record.Kind.PREFERENCE} if schema.pairwise_question else set())
    if schema.ranking_question:
        return ranking_items(dataset_version, single_kinds=single_kinds)
    entries = VersionRecord.objects.filter(version=dataset_version).order_by("pk")
    if single_kinds is not None:
        entries = entries.filter(record__kind__in=single_kinds)
    return ([entry_id] for entry_id in entries.values_list("pk", flat=True).iterator(chunk_size=TASK_BATCH))


def ranking_items(dataset_version: DatasetVersion, *, single_kinds: set | None = None) -> list[list[int]]:
    """The items of a ranking project, in entry order: lists of entry ids, one id for an item of one record.

    Conversations (SFT records: they always end in an assistant answer) that share a prompt (Record.prompt_hash) are the
    answers to rank; more than MAX_CANDIDATES answers to one prompt are cut into as few, as even items as fit (10
    answers: 5 + 5). An answer without a sibling, and every record of another kind, is an item of its own (only of
    `single_kinds`, when given: a schema without labels has nothing to ask of a lone answer). The answers
    to one prompt share a split (splits group by prompt), so an item never straddles train and test."""
    rows = (VersionRecord.objects.filter(version=dataset_version).order_by("pk")
            .values_list("pk", "record__kind", "record__prompt_hash"))
    groups: dict[str, list[int]] = {}
    singles: list[list[int]] = []
    for entry_id, kind, prompt_hash in rows.iterator(chunk_size=TASK_BATCH):
        if kind == Record.Kind.SFT:
            groups.setdefault(prompt_hash, []).append(entry_id)
        elif single_kinds is None or kind in single_kinds:
            singles.append([entry_id])
    items = singles
    for entry_ids in groups.values():
        if len(entry_ids) == 1 and single_kinds is not None and Record.Kind.SFT not in single_kinds:
            continue
        parts = math.ceil(len(entry_ids) / MAX_CANDIDATES)
        size, extra = divmod(len(entry_ids), parts)
        start = 0
        for part in range(parts):
            end = start + size + (part < extra)
            items.append(entry_ids[start:end])
            start = end
    return sorted(items)

"""A project's rankings and A/B choices out as a DPO-ready version: preference records only.

- A ranked item (a ranking item with counted rankings, see export.counted_annotations) gives one pair per two of its
  answers in the aggregated order (annotation.aggregation.ranking_pairs: every pair whose mean places differ, better
  first), as a new preference record: the shared prompt, the better answer as chosen, the other as rejected (parent =
  the better answer's record, origin "annotation"). Tools of the conversations are not carried (a preference record
  has none).
- An A/B-compared preference record keeps its pair when most annotators prefer A, gets its swapped child record when
  they prefer B (export._swapped_records), and is left out on a tie.
Every pair takes its item's split: the answers to one prompt share a split, so train and test never share a prompt.
"""

from collections import Counter, defaultdict

from django.db import transaction

from annotation.aggregation import ranking_pairs
from annotation.models import AnnotationProject
from annotation.services.export import _swapped_records, counted_annotations, preference_aggregate
from common.errors import ApplicationError
from common.history import history_record
from datahub.canonical import canonical_validate
from datahub.models import DatasetVersion, Record, VersionRecord
from datahub.services.records import record_build, records_insert_ids
from datahub.services.versions import dataset_version_create

PAIRS_RULE = ("rankings: every two answers whose mean places differ, the better as chosen; A/B: the preference of most "
              "annotators, ties left out")


@transaction.atomic
def preference_pairs_export(*, project: AnnotationProject, created_by=None) -> DatasetVersion:
    """Freeze the project's rankings and A/B choices as preference records (module docstring), the next version of the
    project's dataset with the project's version as parent."""
    source = project.dataset_version
    dataset = source.dataset
    counted, unverified = counted_annotations(project=project)
    rankings: dict[int, list[list[int]]] = defaultdict(list)
    preferences: dict[int, list[str]] = defaultdict(list)
    for entry_id, ranking, preference in counted.order_by("created_at", "pk").values_list(
        "task__entry_id", "ranking", "preference"
    ):
        if ranking:
            rankings[entry_id].append(ranking)
        if preference:
            preferences[entry_id].append(preference)
    if not rankings and not preferences:
        raise ApplicationError(
            "the project has no rankings or A/B choices to export as preference pairs", where="project", code="empty"
        )

    pairs = {entry_id: ranking_pairs(given) for entry_id, given in rankings.items()}
    entry_ids = {e for item in pairs.values() for pair in item for e in pair} | set(preferences)
    entries = {entry.pk: entry for entry in VersionRecord.objects.filter(pk__in=entry_ids).select_related("record")}
    built: list[tuple[Record, str]] = []
    for item_pairs in pairs.values():
        for better, worse in item_pairs:
            chosen, rejected = entries[better].record, entries[worse].record
            row = {"kind": Record.Kind.PREFERENCE, "messages": chosen.prompt_messages, "chosen": chosen.messages[-1],
                   "rejected": rejected.messages[-1]}
            clean = canonical_validate(row, where=f"records {chosen.pk} and {rejected.pk}: ")
            built.append(
                (
                    record_build(
                        dataset=dataset,
                        clean=clean,
                        source=chosen.source,
                        origin="annotation",
                        parent=chosen,
                        tags=list(chosen.tags or []),
                    ),
                    entries[better].split,
                )
            )
    by_hash = records_insert_ids(dataset=dataset, records=[record for record, _ in built])
    out: dict[int, tuple] = {}
    for record, split in built:
        out.setdefault(by_hash[record.content_hash], (by_hash[record.content_hash], split, []))

    preferred = {entry_id: preference_aggregate(given) for entry_id, given in preferences.items()}
    swaps = _swapped_records(dataset=dataset, entry_ids=[e for e, p in preferred.items() if p == "b"])
    for entry_id, outcome in preferred.items():
        entry = entries[entry_id]
        if outcome == "tie" or entry.record.kind != Record.Kind.PREFERENCE:
            continue
        record_id = swaps.get(entry_id, entry.record_id)
        out.setdefault(record_id, (record_id, entry.split, []))
    if not out:
        raise ApplicationError("every A/B choice of the project is a tie; there is no preference pair to export",
                               where="project", code="empty")

    outcomes = Counter(preferred.values())
    detail = {
        "project_id": project.pk,
        "project": project.name,
        "schema": str(project.schema),
        "output": "preference_pairs",
        "ranked": len(rankings),
        "ranking_pairs": len({by_hash[r.content_hash] for r, _ in built}),
        "pairwise": {outcome: outcomes[outcome] for outcome in ("a", "b", "tie")},
        "swapped": len(swaps),
        "pairs": len(out),
        "overlap": project.overlap,
        "rule": PAIRS_RULE,
    }
    if project.mode == AnnotationProject.Mode.AI_FIRST:
        detail["mode"] = project.mode
        detail["ai_answers_awaiting_review"] = unverified
    version = dataset_version_create(
        dataset=dataset,
        entries=list(out.values()),
        operation=DatasetVersion.Operation.ANNOTATION_EXPORT,
        created_by=created_by,
        parent=source,
        seed=source.seed,
        ratios=source.ratios,
        operation_detail=detail,
        note=f"preference pairs from the rankings and A/B choices of project {project.name!r}",
    )
    history_record(
        actor=created_by,
        target=project,
        verb="exported",
        after={"version": version.pk, "number": version.number, **detail},
    )
    return version

"""Reads for the datahub. Each selector owns its query shape, so list pages cost a fixed number of queries."""

import json
import re

from django.db import connection
from django.db.models import BooleanField, Count, F, IntegerField, OuterRef, Q, QuerySet, Subquery, TextField
from django.db.models.expressions import RawSQL
from django.db.models.functions import Cast, Coalesce, Length

from accounts.access import scope_to_capability
from accounts.models import Workspace
from common.text_similarity import CJK, CJK_RANGES, prompt_text
from datahub.access import VIEW
from datahub.leakage import leaks_find
from datahub.models import Dataset, DatasetVersion, ImportJob, ImportRowError, Record, Source, VersionRecord


def _count_of(queryset: QuerySet, field: str) -> Coalesce:
    """A correlated COUNT(*) subquery: one per row, but no JOIN fan-out between two counts."""
    counted = queryset.filter(**{field: OuterRef("pk")}).order_by().values(field).annotate(n=Count("pk")).values("n")
    return Coalesce(Subquery(counted, output_field=IntegerField()), 0)


def workspace_list_for(*, user, capability: str) -> QuerySet[Workspace]:
    """Workspaces where the user holds `capability` (for the workspace choice of a create form)."""
    return scope_to_capability(Workspace.objects.all(), user=user, capability=capability, workspace_path="pk").order_by(
        "name"
    )


def source_list(*, user, workspace: Workspace | None = None) -> QuerySet[Source]:
    sources = scope_to_capability(Source.objects.select_related("workspace"), user=user, capability=VIEW)
    if workspace is not None:
        sources = sources.filter(workspace=workspace)
    return sources.annotate(record_count=_count_of(Record.objects.all(), "source")).order_by("workspace__name", "name")


def source_choices(*, workspace: Workspace) -> QuerySet[Source]:
    return Source.objects.filter(workspace=workspace).order_by("name")


def source_in_workspace(*, workspace: Workspace, source_id) -> Source | None:
    return Source.objects.filter(workspace=workspace, pk=source_id).first() if str(source_id).isdigit() else None


def _datasets_counted() -> QuerySet[Dataset]:
    return Dataset.objects.select_related("workspace").annotate(
        record_count=_count_of(Record.objects.all(), "dataset"),
        version_count=_count_of(DatasetVersion.objects.all(), "dataset"),
    )


def dataset_list(*, user, workspace: Workspace | None = None) -> QuerySet[Dataset]:
    datasets = scope_to_capability(_datasets_counted(), user=user, capability=VIEW)
    if workspace is not None:
        datasets = datasets.filter(workspace=workspace)
    return datasets.order_by("workspace__name", "name")


def natural_key(text: str) -> tuple:
    """Sort key that orders the numbers inside names by value: bad_1, bad_2, bad_10 (not bad_1, bad_10, bad_2)."""
    return tuple(int(part) if part.isdigit() else part.casefold() for part in re.split(r"(\d+)", text))


def dataset_ids_natural(*, user, query: str = "") -> list[int]:
    """Ids of the datasets the user may see (names or descriptions containing `query`), by workspace and then name
    in natural order. One query for the ids and names only; dataset_page loads the rows of one page."""
    datasets = scope_to_capability(Dataset.objects.all(), user=user, capability=VIEW)
    query = query.strip()
    if query:
        datasets = datasets.filter(Q(name__icontains=query) | Q(description__icontains=query))
    rows = datasets.values_list("pk", "workspace__name", "name")
    return [pk for pk, *_ in sorted(rows, key=lambda row: (natural_key(row[1]), natural_key(row[2]), row[0]))]


def dataset_page(*, ids: list[int]) -> list[Dataset]:
    """The datasets `ids`, with their counts, in the order given: one query."""
    by_id = {dataset.pk: dataset for dataset in _datasets_counted().filter(pk__in=ids)}
    return [by_id[pk] for pk in ids if pk in by_id]


def import_job_removed_dataset(*, user, import_job_id) -> dict | None:
    """When the import job failed and its new dataset was removed with it (datahub.services.imports.dataset_import_new),
    the import's error, file and dataset name, for the person who started it; else None."""
    from common.models import HistoryEvent

    if not str(import_job_id).isdigit() or not user.is_authenticated:
        return None
    event = (
        HistoryEvent.objects.filter(
            target_type="datahub.dataset", verb="deleted", actor=user, after__import_job=int(import_job_id)
        )
        .order_by("-pk")
        .first()
    )
    return event.after if event is not None else None


def dataset_with_counts(*, dataset: Dataset) -> Dataset:
    """The dataset again, with record_count and version_count, in one query."""
    return _datasets_counted().get(pk=dataset.pk)


def source_by_name(*, workspace: Workspace, name: str) -> Source | None:
    return Source.objects.filter(workspace=workspace, name=name).first()


def dataset_by_name(*, workspace_name: str, dataset_name: str) -> Dataset | None:
    """For management commands, which act with the operator's authority and name things instead of numbering them."""
    return Dataset.objects.select_related("workspace").filter(workspace__name=workspace_name, name=dataset_name).first()


def dataset_records(*, dataset: Dataset) -> QuerySet[Record]:
    return Record.objects.filter(dataset=dataset).select_related("source").order_by("pk")


def dataset_import_jobs(*, dataset: Dataset) -> QuerySet[ImportJob]:
    return (
        ImportJob.objects.filter(dataset=dataset).select_related("source", "created_by").order_by("-created_at", "-pk")
    )


def dataset_versions(*, dataset: Dataset) -> QuerySet[DatasetVersion]:
    return DatasetVersion.objects.filter(dataset=dataset).select_related("parent", "created_by").order_by("-number")


def version_by_number(*, dataset: Dataset, number: int) -> DatasetVersion | None:
    return DatasetVersion.objects.filter(dataset=dataset, number=number).first()


def version_entry_list(*, version: DatasetVersion, split: str | None = None) -> QuerySet[VersionRecord]:
    entries = VersionRecord.objects.filter(version=version).select_related("record__source").order_by("pk")
    return entries.filter(split=split) if split else entries


def import_job_errors(*, job: ImportJob) -> QuerySet[ImportRowError]:
    """The rows an import with skip_invalid left out, in file order."""
    return ImportRowError.objects.filter(job=job).order_by("line", "pk")


def version_in_workspace(*, workspace: Workspace, version_id) -> DatasetVersion | None:
    """The version with this id if its dataset is in `workspace`, else None (for other apps' choice fields)."""
    if not str(version_id).isdigit():
        return None
    return DatasetVersion.objects.select_related("dataset").filter(dataset__workspace=workspace, pk=version_id).first()


def version_kind_counts(*, version: DatasetVersion, split: str | None = None) -> dict[str, int]:
    """Records per kind (sft, preference, kto) in the version, or in one of its splits; one query."""
    entries = VersionRecord.objects.filter(version=version)
    if split:
        entries = entries.filter(split=split)
    counts = dict(
        entries.values_list("record__kind").annotate(n=Count("pk")).order_by().values_list("record__kind", "n")
    )
    return {kind: counts.get(kind, 0) for kind in Record.Kind.values}


def version_leakage(*, version: DatasetVersion, split: str = "test", limit: int = 100) -> dict:
    """Prompts of `split` (test by default) that also appear in train, exactly or nearly (datahub.leakage).

    Returns {"split", "checked", "exact", "near", "leaks": the first `limit` leaks as dicts}. Reads the two
    splits' prompts once; its cost grows with the version, so pages run it on request, not on every view.
    """
    def side(name: str) -> list[tuple[int, str, str]]:
        rows = VersionRecord.objects.filter(version=version, split=name).order_by("pk").values_list(
            "record_id", "record__prompt_hash", "record__messages", "record__kind")
        return [
            (record_id, prompt_hash, prompt_text(messages, kind))
            for record_id, prompt_hash, messages, kind in rows.iterator(2000)
        ]

    test = side(split)
    leaks = leaks_find(train=side("train"), test=test)
    return {
        "split": split,
        "checked": len(test),
        "exact": sum(1 for leak in leaks if leak.kind == "exact"),
        "near": sum(1 for leak in leaks if leak.kind == "near"),
        "leaks": [{"test_record": leak.test_record, "train_record": leak.train_record, "kind": leak.kind,
                   "similarity": leak.similarity, "prompt": leak.prompt[:300]} for leak in leaks[:limit]],
    }


def version_diff(*, old: DatasetVersion, new: DatasetVersion, limit: int = 100) -> dict:
    """What changed from `old` to `new`, by content: added and removed records, changed records (a record in
    `new` that corrects one in `old` — its parent — which `new` no longer holds), and records that moved split.

    Returns counts and the first `limit` record ids of each list.
    """
    def entries(version: DatasetVersion) -> dict[str, tuple[int, str, int | None]]:
        rows = VersionRecord.objects.filter(version=version).values_list(
            "record__content_hash", "record_id", "split", "record__parent_id"
        )
        return {content: (record_id, split, parent) for content, record_id, split, parent in rows.iterator(5000)}

    before, after = entries(old), entries(new)
    old_ids = {record_id: content for content, (record_id, _, _) in before.items()}
    added = [after[c] for c in after.keys() - before.keys()]
    removed = {c: before[c] for c in before.keys() - after.keys()}
    changed, removed_by_change = [], set()
    for record_id, _, parent in added:
        if parent in old_ids and old_ids[parent] in removed:
            changed.append({"old": parent, "new": record_id})
            removed_by_change.add(old_ids[parent])
    changed_new = {pair["new"] for pair in changed}
    added_ids = sorted(r for r, _, _ in added if r not in changed_new)
    removed_ids = sorted(r for c, (r, _, _) in removed.items() if c not in removed_by_change)
    moved = sorted(
        (
            {"record": after[c][0], "from": before[c][1], "to": after[c][1]}
            for c in after.keys() & before.keys()
            if after[c][1] != before[c][1]
        ),
        key=lambda m: m["record"],
    )
    return {
        "old": old.number, "new": new.number,
        "added": len(added_ids), "removed": len(removed_ids), "changed": len(changed), "moved": len(moved),
        "unchanged": len(after.keys() & before.keys()) - len(moved),
        "added_records": added_ids[:limit], "removed_records": removed_ids[:limit],
        "changed_records": sorted(changed, key=lambda pair: pair["new"])[:limit], "moved_records": moved[:limit],
    }


# Upper edges of the length histogram buckets, in characters of the record's conversation text.
LENGTH_BUCKETS = (256, 512, 1024, 2048, 4096, 8192, 16384)


def length_bucket(length: int, edges: tuple[int, ...] = LENGTH_BUCKETS) -> str:
    lower = 0
    for edge in edges:
        if length < edge:
            return f"{lower}–{edge - 1}"
        lower = edge
    return f"≥{edges[-1]}"


def length_histogram_empty(edges: tuple[int, ...]) -> dict[str, int]:
    """Every bucket of length_bucket over `edges`, at zero, in order."""
    return {label: 0 for label in [length_bucket(0, edges)] + [length_bucket(edge, edges) for edge in edges]}


def version_card(*, version: DatasetVersion) -> dict:
    """The version's dataset card: counts per split, kind mix per split, records per source (with kind and tier),
    and a histogram of record lengths (characters of the stored conversation JSON, a tokenizer-free proxy for tokens).
    Token lengths, which need a base model's tokenizer, are training.selectors.version_token_lengths.

    Four queries whatever the version's size; the lengths are measured by the database.
    """
    entries = VersionRecord.objects.filter(version=version)
    mix: dict[str, dict[str, int]] = {
        split: {kind: 0 for kind in Record.Kind.values} for split in ("train", "validation", "test")
    }
    for split, kind, n in entries.values_list("split", "record__kind").annotate(n=Count("pk")).order_by():
        mix[split][kind] = n
    sources = list(entries.values_list("record__source__name", "record__source__kind", "record__source__quality_tier")
                   .annotate(n=Count("pk")).order_by("-n", "record__source__name"))
    histogram = length_histogram_empty(LENGTH_BUCKETS)
    lengths = entries.annotate(size=Length(Cast("record__messages", TextField()))).values_list("size", flat=True)
    for size in lengths.iterator(chunk_size=5000):
        histogram[length_bucket(size or 0)] += 1
    return {
        "total": sum(version.counts.values()),
        "splits": dict(version.counts),
        "mix": mix,
        "sources": [
            {"name": name or "", "kind": kind or "", "tier": tier or "", "records": n}
            for name, kind, tier, n in sources
        ],
        "lengths": histogram,
    }


def record_search(*, dataset: Dataset, q: str = "", source_id: int | None = None, tag: str = "", kind: str = "",
                  label: bool | None = None, version: DatasetVersion | None = None, split: str = "",
                  min_length: int | None = None, max_length: int | None = None) -> QuerySet[Record]:
    """The dataset's records, filtered; one query however many filters.

    Search: on PostgreSQL, words go through full-text search (datahub_recordsearch: the string values of the messages,
    'simple' configuration, GIN-indexed, every word must match; records of an import still being indexed match
    every word as a substring); text holding Chinese, Japanese or Korean characters — which the parser cannot split into
    words — is matched as a substring (ILIKE) instead. On SQLite every search is a substring match on the stored
    JSON (non-ASCII is stored \\u-escaped there, so the needle is escaped the same way). Length is the length of
    the stored conversation JSON in characters. `split` needs `version` (a split belongs to a frozen version).
    """
    records = Record.objects.filter(dataset=dataset).select_related("source")
    q = (q or "").strip()
    if q:
        if connection.vendor == "postgresql" and not CJK.search(q):
            # The words of an import whose indexing is still running (ImportJob.search_pending) are matched as
            # substrings.
            needles = [f"%{_like_escape(word)}%" for word in q.split()]
            records = records.filter(
                RawSQL(
                    "(datahub_record.id IN (SELECT record_id FROM datahub_recordsearch "
                    "WHERE document @@ plainto_tsquery('simple'::regconfig, %s)) "
                    "OR (datahub_record.import_job_id IN (SELECT id FROM datahub_importjob WHERE search_pending AND "
                    "dataset_id = %s) "
                    "AND datahub_record.messages::text ILIKE ALL (%s)))",
                    [q, dataset.pk, needles],
                    output_field=BooleanField(),
                )
            )
        elif connection.vendor == "postgresql":
            needle = f"%{_like_escape(q)}%"
            records = records.filter(
                RawSQL("datahub_record.messages::text ILIKE %s", [needle], output_field=BooleanField())
            )
        else:
            records = records.annotate(_text=Cast("messages", TextField())).filter(_text__icontains=json.dumps(q)[1:-1])
    if source_id is not None:
        records = records.filter(source_id=source_id)
    if tag:
        if connection.vendor == "postgresql":
            records = records.filter(tags__contains=[tag])
        else:
            # SQLite stores the list as JSON text with non-ASCII escaped, as json.dumps writes it.
            records = records.annotate(_tags=Cast("tags", TextField())).filter(_tags__contains=json.dumps(tag))
    if kind:
        records = records.filter(kind=kind)
    if label is not None:
        records = records.filter(label=label)
    if version is not None:
        records = records.filter(version_entries__version=version)
        if split:
            records = records.filter(version_entries__split=split)
    if min_length is not None or max_length is not None:
        records = records.annotate(_length=Length(Cast("messages", TextField())))
        if min_length is not None:
            records = records.filter(_length__gte=min_length)
        if max_length is not None:
            records = records.filter(_length__lte=max_length)
    return records.order_by("pk")


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _sum_of(queryset: QuerySet, field: str, value) -> Coalesce:
    """A correlated SUM subquery per source row (no JOIN fan-out between several aggregates)."""
    from django.db.models import Sum

    summed = (
        queryset.filter(**{field: OuterRef("pk")}).order_by().values(field).annotate(total=Sum(value)).values("total")
    )
    return Coalesce(Subquery(summed, output_field=IntegerField()), 0)


def _cjk_records() -> QuerySet[Record]:
    """Records whose conversation holds Chinese, Japanese or Korean characters. PostgreSQL keeps them as text in
    the JSON; SQLite stores them \\u-escaped, so the pattern there matches the escapes of the same ranges."""
    text = Record.objects.annotate(_text=Cast("messages", TextField()))
    if connection.vendor == "postgresql":
        return text.filter(_text__regex=f"[{CJK_RANGES}]")
    # The same ranges as json.dumps escapes them: \\uXXXX for the Basic Multilingual Plane, a surrogate pair for the
    # supplementary ideographs (high surrogates d840-d888 cover U+20000-U+323FF).
    return text.filter(
        _text__iregex=r"\\u(11[0-9a-f]|30[4-9a-f]|31[0-8abf]|3[4-9a-f]|4[0-9a-c]|4d[0-9ab]|4[ef]|[5-9][0-9a-f]"
        r"|a9[67]|a[c-f]|[bc][0-9a-f]|d[0-7]|d8[4-7][0-9a-f]|d88[0-8]|f[9a]"
        r"|ff(6[6-9a-f]|[7-9a-c][0-9a-f]|d[0-9a-c]))"
    )


def source_stats(*, user, workspace: Workspace | None = None) -> QuerySet[Source]:
    """Sources the user may see, each with: record_count, chars (characters of stored conversations, a tokenizer-free
    proxy for tokens), cjk_count (records with Chinese/Japanese/Korean text; the rest are counted as other languages),
    sft_count, preference_count, kto_count, kto_desirable, duplicates (exact duplicates its imports skipped),
    invalid (rows its imports left out). One query however many sources."""
    records = Record.objects.all()
    return source_list(user=user, workspace=workspace).annotate(
        chars=_sum_of(records, "source", Length(Cast("messages", TextField()))),
        cjk_count=_count_of(_cjk_records(), "source"),
        sft_count=_count_of(records.filter(kind=Record.Kind.SFT), "source"),
        preference_count=_count_of(records.filter(kind=Record.Kind.PREFERENCE), "source"),
        kto_count=_count_of(records.filter(kind=Record.Kind.KTO), "source"),
        kto_desirable=_count_of(records.filter(kind=Record.Kind.KTO, label=True), "source"),
        duplicates=_sum_of(ImportJob.objects.filter(status=ImportJob.Status.SUCCEEDED), "source", "duplicate_count"),
        invalid=_sum_of(ImportJob.objects.filter(status=ImportJob.Status.SUCCEEDED), "source", "invalid_count"),
    ).annotate(other_count=F("record_count") - F("cjk_count"), kto_undesirable=F("kto_count") - F("kto_desirable"))


# Reads the dedupe, augmentation and feedback apps make of records and versions: their query shapes live here, with
# the tables they read.

def dataset_in_workspace(*, workspace: Workspace, dataset_id) -> Dataset | None:
    """The dataset with this id if it is in `workspace`, else None (for other apps' choice fields)."""
    return Dataset.objects.filter(workspace=workspace, pk=dataset_id).first() if str(dataset_id).isdigit() else None


def workspace_version_choices(*, workspace: Workspace) -> QuerySet[DatasetVersion]:
    """Every version of the workspace's datasets, by dataset name and newest first (for choice fields)."""
    return (
        DatasetVersion.objects.filter(dataset__workspace=workspace)
        .select_related("dataset")
        .order_by("dataset__name", "-number")
    )


def dataset_latest_version_id(*, dataset_id: int) -> int | None:
    return DatasetVersion.objects.filter(dataset_id=dataset_id).order_by("-number").values_list("pk", flat=True).first()


def version_record_list(*, version_id: int, fields: tuple[str, ...] | None = None) -> QuerySet[Record]:
    """The version's records with their sources (only `fields`, when given), unordered."""
    records = Record.objects.filter(version_entries__version_id=version_id).select_related("source")
    return records.only(*fields) if fields else records


def dataset_record_list_upto(
    *, dataset_id: int, last_record_id: int, fields: tuple[str, ...] | None = None
) -> QuerySet[Record]:
    """The dataset's records up to `last_record_id` (those present when a run started), with their sources, by id."""
    records = (
        Record.objects.filter(dataset_id=dataset_id, pk__lte=last_record_id).select_related("source").order_by("pk")
    )
    return records.only(*fields) if fields else records


def dataset_group_rows(*, dataset_id: int, last_record_id: int | None = None) -> list[tuple[int, str, int | None]]:
    """(record id, prompt hash, parent id) of the dataset's records (up to `last_record_id`), by id: splits.group_keys'
    input."""
    records = Record.objects.filter(dataset_id=dataset_id)
    if last_record_id is not None:
        records = records.filter(pk__lte=last_record_id)
    return list(records.order_by("pk").values_list("pk", "prompt_hash", "parent_id"))


def version_splits(*, version_id: int) -> dict[int, str]:
    """Record id → split in the version."""
    return dict(VersionRecord.objects.filter(version_id=version_id).values_list("record_id", "split"))


def version_entry_rows(*, version_id: int) -> list[tuple[int, str, list]]:
    """(record id, split, labels) of the version's entries, in entry order."""
    return list(
        VersionRecord.objects.filter(version_id=version_id).order_by("pk").values_list("record_id", "split", "labels")
    )


def version_record_splits(*, version_id: int) -> list[tuple[int, str]]:
    """(record id, split) of the version's entries, by record id."""
    return list(
        VersionRecord.objects.filter(version_id=version_id).order_by("record_id").values_list("record_id", "split")
    )


def version_split_entries(*, version: DatasetVersion, split: str) -> QuerySet[VersionRecord]:
    """The entries of one split of the version with their records, by record id."""
    return VersionRecord.objects.filter(version=version, split=split).select_related("record").order_by("record_id")


def version_has_split(*, version: DatasetVersion, split: str) -> bool:
    return VersionRecord.objects.filter(version=version, split=split).exists()


def source_record_ids(*, source_id: int, workspace_id: int) -> list[int]:
    """Ids of the source's records in the workspace's datasets, by id."""
    return list(Record.objects.filter(source_id=source_id, dataset__workspace_id=workspace_id).order_by("pk")
                .values_list("pk", flat=True))


def source_records(*, source: Source) -> QuerySet[Record]:
    return Record.objects.filter(source=source).order_by("pk")


def record_content_hashes(*, record_ids: list[int]) -> dict[int, str]:
    """Record id → content hash."""
    return dict(Record.objects.filter(pk__in=record_ids).values_list("pk", "content_hash"))


def records_by_id(*, record_ids: list[int]) -> dict[int, Record]:
    """Record id → record, with its source."""
    return {record.pk: record for record in Record.objects.filter(pk__in=record_ids).select_related("source")}


def dataset_content_hashes_present(*, dataset_id: int, hashes: list[str]) -> set[str]:
    """Those of `hashes` that a record of the dataset already has (one query; callers pass bounded chunks)."""
    return set(
        Record.objects.filter(dataset_id=dataset_id, content_hash__in=hashes).values_list("content_hash", flat=True)
    )


def version_record_labels(*, version_id: int, record_ids) -> dict[int, list[str]]:
    """Record id → the labels it carries in the version together with the record's own tags, sorted and distinct (what
    a study's per-label results group its prompts by). One query."""
    rows = VersionRecord.objects.filter(version_id=version_id, record_id__in=list(record_ids)).values_list(
        "record_id", "labels", "record__tags")
    return {record_id: sorted({str(x) for x in (labels or []) + (tags or []) if str(x).strip()})
            for record_id, labels, tags in rows}

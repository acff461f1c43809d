import hashlib

from django.db import transaction
from django.db.models import Max

from common.db import tables_analyze_after_commit
from common.errors import ApplicationError
from common.history import history_record
from datahub.models import Dataset, DatasetVersion, Record, VersionRecord
from datahub.splits import DEFAULT_RATIOS, group_keys, ratios_check, split_entries, stratified_assign


def manifest_hash(entries: list[tuple[str, str, list]]) -> str:
    """Content address of a version: its (content hash, split, labels) triples, in a fixed order."""
    digest = hashlib.sha256()
    for content, split, labels in sorted(entries):
        digest.update(f"{content}\t{split}\t{'|'.join(sorted(labels))}\n".encode())
    return digest.hexdigest()


@transaction.atomic
def dataset_version_create(*, dataset: Dataset, entries: list[tuple[int, str, list]], operation: str, created_by=None,
                           parent: DatasetVersion | None = None, seed: int = 0, ratios: dict | None = None,
                           operation_detail: dict | None = None, note: str = "") -> DatasetVersion:
    """Freeze `entries` — (record id, split, labels) — as the dataset's next version. Never changes afterwards.

    The dataset row is locked so two concurrent freezes get consecutive numbers.
    """
    if not entries:
        raise ApplicationError("a version needs at least one record", where="records")
    Dataset.objects.select_for_update().filter(pk=dataset.pk).first()
    number = (dataset.versions.aggregate(n=Max("number"))["n"] or 0) + 1
    hashes = dict(
        Record.objects.filter(pk__in=[e[0] for e in entries], dataset=dataset).values_list("pk", "content_hash")
    )
    missing = [e[0] for e in entries if e[0] not in hashes]
    if missing:
        raise ApplicationError(f"record {missing[0]} is not in dataset {dataset.name!r}", where="records")
    counts = {"train": 0, "validation": 0, "test": 0}
    for _, split, _ in entries:
        counts[split] += 1
    version = DatasetVersion.objects.create(
        dataset=dataset, number=number, parent=parent, operation=operation, operation_detail=operation_detail or {},
        seed=seed, ratios=ratios or {}, counts=counts, note=note, created_by=created_by,
        manifest_hash=manifest_hash([(hashes[rid], split, labels) for rid, split, labels in entries]),
    )
    VersionRecord.objects.bulk_create(
        [VersionRecord(version=version, record_id=rid, split=split, labels=labels) for rid, split, labels in entries],
        batch_size=2000,
    )
    history_record(
        actor=created_by,
        target=version,
        verb="frozen",
        after={"number": number, "counts": counts, "operation": operation},
    )
    tables_analyze_after_commit(VersionRecord)
    return version


def _stratum(kind: str, label) -> str:
    """The label a stratified split balances: the kind, and for KTO rows whether the answer is desirable."""
    return f"{kind}:{label}" if kind == Record.Kind.KTO else kind


def dataset_version_freeze(
    *,
    dataset: Dataset,
    created_by=None,
    seed: int = 0,
    ratios: dict | None = None,
    note: str = "",
    stratify: bool = False,
) -> DatasetVersion:
    """Freeze every record of the dataset with a seeded split, grouped so that no prompt (nor a record and its
    augmentations or corrections) lands in two splits, and split sizes by largest remainder (datahub.splits). With
    `stratify`, each label (kind; KTO desirable or not) is divided in the ratios on its own."""
    ratios = ratios_check(ratios or DEFAULT_RATIOS)
    rows = list(
        Record.objects.filter(dataset=dataset)
        .order_by("pk")
        .values_list("pk", "prompt_hash", "parent_id", "kind", "label")
        .iterator(chunk_size=5000)
    )
    if not rows:
        raise ApplicationError(f"dataset {dataset.name!r} has no records to freeze", where="dataset")
    keys = group_keys([(pk, prompt, parent) for pk, prompt, parent, _, _ in rows])
    if stratify:
        groups: dict[str, tuple[str, int]] = {}
        for pk, _, _, kind, label in rows:
            stratum, count = groups.get(keys[pk], (_stratum(kind, label), 0))
            groups[keys[pk]] = (stratum, count + 1)
        splits = stratified_assign(groups, seed=seed, ratios=ratios)
        entries = [(pk, splits[keys[pk]], []) for pk, *_ in rows]
    else:
        entries = split_entries([pk for pk, *_ in rows], keys, seed=seed, ratios=ratios)
    parent = dataset.versions.order_by("-number").first()
    return dataset_version_create(
        dataset=dataset,
        entries=entries,
        operation=DatasetVersion.Operation.FREEZE,
        created_by=created_by,
        parent=parent,
        seed=seed,
        ratios=ratios,
        note=note,
        operation_detail={"stratified": True} if stratify else None,
    )

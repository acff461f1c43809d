from collections.abc import Iterable

from datahub.canonical import canonical_validate, content_hash, prompt_hash
from datahub.models import Dataset, ImportJob, Record, Source

LOOKUP_CHUNK = 5000


def record_build(*, dataset: Dataset, clean: dict, source: Source | None = None, raw=None, origin: str = "import",
                 parent: Record | None = None, import_job: ImportJob | None = None, line_number: int | None = None,
                 tags: list | None = None) -> Record:
    """An unsaved Record from a row already passed through canonical_validate."""
    return Record(
        dataset=dataset,
        source=source,
        kind=clean["kind"],
        messages=clean["messages"],
        tools=clean.get("tools"),
        chosen=clean.get("chosen"),
        rejected=clean.get("rejected"),
        label=clean.get("label"),
        raw=raw,
        content_hash=content_hash(clean),
        prompt_hash=prompt_hash(clean),
        tags=tags or [],
        parent=parent,
        origin=origin,
        import_job=import_job,
        line_number=line_number,
    )


def records_bulk_create(
    *, dataset: Dataset, rows: Iterable[dict], source: Source | None = None, origin: str = "import"
) -> tuple[int, int]:
    """Validate canonical rows and add the ones whose content the dataset does not hold yet.

    Returns (created, duplicates). Call inside a transaction: a bad row raises and nothing is kept.
    """
    records = [
        record_build(
            dataset=dataset, clean=canonical_validate(row, where=f"row {i + 1}: "), source=source, origin=origin
        )
        for i, row in enumerate(rows)
    ]
    return records_insert(dataset=dataset, records=records)


def records_insert(*, dataset: Dataset, records: list[Record]) -> tuple[int, int]:
    """Insert records, skipping content the dataset already has (exact dedupe on content_hash).

    Returns (created, duplicates). Hashes are looked up in chunks: one IN list of a million hashes would
    exceed SQLite's parameter limit and make PostgreSQL plan a huge query.
    """
    hashes = list({r.content_hash for r in records})
    existing: set[str] = set()
    for start in range(0, len(hashes), LOOKUP_CHUNK):
        chunk = hashes[start:start + LOOKUP_CHUNK]
        existing.update(
            Record.objects.filter(dataset=dataset, content_hash__in=chunk).values_list("content_hash", flat=True)
        )
    fresh, seen = [], existing
    for record in records:
        if record.content_hash not in seen:
            seen.add(record.content_hash)
            fresh.append(record)
    Record.objects.bulk_create(fresh, batch_size=1000)
    return len(fresh), len(records) - len(fresh)


def record_ids_by_hash(*, dataset: Dataset, hashes) -> dict[str, int]:
    """content hash -> id of the dataset's record with that content, for the hashes it holds (looked up in chunks)."""
    hashes = list(set(hashes))
    found: dict[str, int] = {}
    for start in range(0, len(hashes), LOOKUP_CHUNK):
        chunk = hashes[start:start + LOOKUP_CHUNK]
        found.update(Record.objects.filter(dataset=dataset, content_hash__in=chunk).values_list("content_hash", "pk"))
    return found


def records_insert_ids(*, dataset: Dataset, records: list[Record]) -> dict[str, int]:
    """records_insert, then content hash -> id of the record now holding each one's content (inserted, or already
    there)."""
    records_insert(dataset=dataset, records=records)
    return record_ids_by_hash(dataset=dataset, hashes=(r.content_hash for r in records))


def records_quality_score_set(*, records: list[Record]) -> None:
    """Write each record's quality_score as set on it (a grading run's scores; dedupe's keep policy and mixing read
    them). One batched UPDATE per thousand records."""
    Record.objects.bulk_update(records, ["quality_score"], batch_size=1000)


TAG_MAX = 64


def records_tag(
    *,
    dataset: Dataset,
    record_ids: list[int],
    add: list[str] | None = None,
    remove: list[str] | None = None,
    actor=None,
) -> int:
    """Add and remove tags on the given records of `dataset`; return how many records changed.

    Tags are not content (the content hash ignores them), so frozen versions are unaffected. Ids outside the
    dataset are refused, so a request cannot touch another dataset's records.
    """
    from django.db import transaction

    from common.errors import ApplicationError
    from common.history import history_record

    add = [t.strip() for t in (add or []) if t and t.strip()]
    remove = [t.strip() for t in (remove or []) if t and t.strip()]
    if not add and not remove:
        raise ApplicationError("give at least one tag to add or remove", where="tags")
    if any(len(t) > TAG_MAX for t in add):
        raise ApplicationError(f"a tag is at most {TAG_MAX} characters", where="tags")
    if not record_ids:
        raise ApplicationError("select at least one record", where="records")
    with transaction.atomic():
        records = list(Record.objects.select_for_update().filter(dataset=dataset, pk__in=record_ids).only("pk", "tags"))
        if len(records) != len(set(record_ids)):
            missing = sorted(set(record_ids) - {r.pk for r in records})
            raise ApplicationError(f"record {missing[0]} is not in dataset {dataset.name!r}", where="records")
        changed = []
        for record in records:
            tags = [t for t in (record.tags or []) if t not in remove]
            tags += [t for t in add if t not in tags]
            if tags != record.tags:
                record.tags = tags
                changed.append(record)
        Record.objects.bulk_update(changed, ["tags"], batch_size=1000)
        history_record(actor=actor, target=dataset, verb="records_tagged",
                       after={"records": len(changed), "add": add, "remove": remove})
    return len(changed)

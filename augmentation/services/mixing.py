"""Mixing: a version of one dataset sampled from several ingredients (sources or dataset versions) by target ratios.

Quotas: total × ratio, rounded by largest remainder so they add up to the total exactly. An ingredient with fewer
records than its quota gives all it has (the shortfall is not moved to the others, which would distort the ratios
further); the ratios actually achieved are recorded in the version's operation_detail. Content already taken from an
earlier ingredient is not offered again, so the mix holds no exact duplicates. Sampling is seeded per ingredient.

A record from another dataset is copied into the target (origin "mix", parent the original). A record taken from a
version keeps its split there; one taken from a source is split by prompt like a freeze (seeded, grouped).
"""

import math
import random

from django.db import transaction
from django.utils import timezone

from augmentation.models import JobStatus, MixRun
from common.errors import ApplicationError
from common.history import history_record
from datahub.canonical import canonical_validate
from datahub.models import Dataset, DatasetVersion, Record
from datahub.selectors import (
    record_content_hashes,
    records_by_id,
    source_in_workspace,
    source_record_ids,
    version_in_workspace,
    version_record_splits,
)
from datahub.services.records import record_build, record_ids_by_hash, records_insert
from datahub.services.versions import dataset_version_create
from datahub.splits import DEFAULT_RATIOS, split_for

KINDS = ("source", "version")


def quotas_allocate(total: int, ratios: list[float]) -> list[int]:
    """Largest-remainder rounding of total × ratio; ties go to the earlier ingredient."""
    raw = [total * r for r in ratios]
    quotas = [math.floor(x) for x in raw]
    order = sorted(range(len(raw)), key=lambda i: (-(raw[i] - quotas[i]), i))
    for i in order[:total - sum(quotas)]:
        quotas[i] += 1
    return quotas


def ingredients_check(*, dataset: Dataset, ingredients: list[dict]) -> list[dict]:
    """[{"kind", "id", "ratio"}] checked: known kinds, rows in the dataset's workspace, ratios > 0 adding up to 1."""
    if len(ingredients) < 1:
        raise ApplicationError("a mix needs at least one ingredient", where="ingredients")
    clean = []
    for i, item in enumerate(ingredients):
        where = f"ingredients[{i}]"
        if item.get("kind") not in KINDS:
            raise ApplicationError("kind is source or version", where=f"{where}.kind")
        try:
            ratio, pk = float(item.get("ratio")), int(item.get("id"))
        except (TypeError, ValueError) as exc:
            raise ApplicationError("id must be a number and ratio a number above 0", where=where) from exc
        if ratio <= 0:
            raise ApplicationError("ratio must be above 0", where=f"{where}.ratio")
        if item["kind"] == "source":
            row = source_in_workspace(workspace=dataset.workspace, source_id=pk)
            name = row.name if row else ""
        else:
            row = version_in_workspace(workspace=dataset.workspace, version_id=pk)
            name = str(row) if row else ""
        if row is None:
            raise ApplicationError(f"no {item['kind']} {pk} in this workspace", where=f"{where}.id")
        clean.append({"kind": item["kind"], "id": pk, "ratio": ratio, "name": name})
    if len({(c["kind"], c["id"]) for c in clean}) != len(clean):
        raise ApplicationError("an ingredient appears twice", where="ingredients")
    if abs(sum(c["ratio"] for c in clean) - 1.0) > 1e-6:
        raise ApplicationError("the ratios must add up to 1", where="ingredients")
    return clean


def mix_run_create(*, dataset: Dataset, ingredients: list[dict], total_size: int, seed: int = 0, created_by=None,
                   run_in_background: bool = True) -> MixRun:
    if total_size < 1:
        raise ApplicationError("the total size must be at least 1", where="total_size")
    clean = ingredients_check(dataset=dataset, ingredients=ingredients)
    with transaction.atomic():
        run = MixRun.objects.create(
            dataset=dataset, ingredients=clean, total_size=total_size, seed=seed, created_by=created_by
        )
        history_record(
            actor=created_by, target=run, verb="created", after={"ingredients": clean, "total_size": total_size}
        )
        if run_in_background:
            from augmentation.tasks import mix_run_execute_task

            transaction.on_commit(lambda: mix_run_execute_task.enqueue(run_id=run.pk))
    return run


def _pool(item: dict, workspace_id: int) -> list[tuple[int, str | None]]:
    """(record id, split or None) of an ingredient, in id order."""
    if item["kind"] == "version":
        return version_record_splits(version_id=item["id"])
    return [(pk, None) for pk in source_record_ids(source_id=item["id"], workspace_id=workspace_id)]


def _copies(dataset: Dataset, records: list[Record]) -> dict[int, int]:
    """Original id -> the target dataset's record with that content (copied when the target lacks it)."""
    foreign = [r for r in records if r.dataset_id != dataset.pk]
    built = []
    for r in foreign:
        row = {
            "kind": r.kind,
            "messages": r.messages,
            "tools": r.tools,
            "chosen": r.chosen,
            "rejected": r.rejected,
            "label": r.label,
        }
        clean = canonical_validate({k: v for k, v in row.items() if v is not None}, where=f"record {r.pk}: ")
        built.append(
            record_build(dataset=dataset, clean=clean, source=r.source, origin="mix", parent=r, tags=list(r.tags or []))
        )
    records_insert(dataset=dataset, records=built)
    by_hash = record_ids_by_hash(dataset=dataset, hashes=(r.content_hash for r in records))
    return {r.pk: by_hash[r.content_hash] for r in records}


def mix_run_execute(*, run: MixRun, on_progress=None) -> MixRun:
    """Sample, copy and freeze the mix. Idempotent: only a queued run executes."""
    claimed = MixRun.objects.filter(pk=run.pk, status=JobStatus.QUEUED).update(
        status=JobStatus.RUNNING, updated_at=timezone.now()
    )
    if not claimed:
        return MixRun.objects.get(pk=run.pk)
    run.refresh_from_db()
    dataset = run.dataset
    MixRun.objects.filter(pk=run.pk).update(total=len(run.ingredients))
    try:
        with transaction.atomic():
            quotas = quotas_allocate(run.total_size, [i["ratio"] for i in run.ingredients])
            taken_hashes: set[str] = set()
            entries: dict[int, tuple[int, str, list]] = {}
            report = []
            for index, (item, quota) in enumerate(zip(run.ingredients, quotas)):
                pool = _pool(item, dataset.workspace_id)
                hashes = record_content_hashes(record_ids=[pk for pk, _ in pool])
                # One row per content (the earliest): a source's records copied by an earlier mix are the same data.
                available, offered = [], set(taken_hashes)
                for pk, split in pool:
                    if hashes[pk] not in offered:
                        offered.add(hashes[pk])
                        available.append((pk, split))
                chosen = random.Random(f"mix:{run.seed}:{index}").sample(available, min(quota, len(available)))
                records = records_by_id(record_ids=[pk for pk, _ in chosen])
                target_of = _copies(dataset, list(records.values()))
                for pk, split in chosen:
                    taken_hashes.add(hashes[pk])
                    record = records[pk]
                    entries[target_of[pk]] = (
                        target_of[pk],
                        split or split_for(record.prompt_hash, seed=run.seed, ratios=DEFAULT_RATIOS),
                        [],
                    )
                report.append({**item, "available": len(available), "requested": quota, "taken": len(chosen)})
                MixRun.objects.filter(pk=run.pk).update(processed=index + 1, updated_at=timezone.now())
                if on_progress:
                    on_progress(index + 1, len(run.ingredients))
            total = len(entries)
            for row in report:
                row["achieved_ratio"] = round(row["taken"] / total, 6) if total else 0.0
            achieved = {"ingredients": report, "total_requested": run.total_size, "total": total, "seed": run.seed,
                        "exact": all(r["taken"] == r["requested"] for r in report)}
            if not total:
                raise ApplicationError("the ingredients hold no records", where="ingredients")
            version = dataset_version_create(
                dataset=dataset,
                entries=list(entries.values()),
                operation=DatasetVersion.Operation.MIX,
                created_by=run.created_by,
                parent=dataset.versions.order_by("-number").first(),
                seed=run.seed,
                ratios=DEFAULT_RATIOS,
                operation_detail={"mix_run": run.pk, **achieved},
                note=f"mix run {run.pk}",
            )
            MixRun.objects.filter(pk=run.pk).update(
                status=JobStatus.SUCCEEDED, achieved=achieved, result_version=version, finished_at=timezone.now()
            )
            history_record(
                actor=run.created_by, target=run, verb="mixed", after={"version": version.pk, "total": total}
            )
    except Exception as exc:  # noqa: BLE001 - nothing was written (one transaction); the run keeps the reason
        MixRun.objects.filter(pk=run.pk).update(
            status=JobStatus.FAILED, error=str(exc)[:2000], finished_at=timezone.now()
        )
    run.refresh_from_db()
    return run

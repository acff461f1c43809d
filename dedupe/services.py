"""Dedupe runs: create (queued), execute (a dry run: pairs, clusters, proposed decisions), override, apply (a new
version).

Nothing changes in the dataset until a person applies a reviewed dry run; applying freezes the kept records as a new
DatasetVersion (operation "dedupe") with lineage, and never touches Record rows.
"""

import time
from collections.abc import Callable

from django.db import transaction
from django.db.models import F, Max
from django.utils import timezone

from common.errors import ApplicationError
from common.history import history_record
from common.text_similarity import near_pairs, normalised_hash
from datahub.models import Dataset, DatasetVersion, Record
from datahub.selectors import (
    dataset_group_rows,
    dataset_latest_version_id,
    dataset_record_list_upto,
    version_record_list,
    version_splits,
)
from datahub.services.versions import dataset_version_create
from datahub.splits import DEFAULT_RATIOS, group_keys, ratios_check, split_entries
from dedupe import stages
from dedupe.embeddings import embedding_model_check, embedding_model_reads, texts_embed
from dedupe.models import DedupeCluster, DedupeDecision, DedupePair, DedupeRun, Stage
from dedupe.plan import decisions_make, exact_collapse

ProgressCallback = Callable[[str, int, int], None]
TIER_ORDER = {"A": 0, "B": 1, "C": 2, "D": 3}
CLOSEST_MISSES = 50
SEMANTIC_MISS_FLOOR = 0.75
HISTOGRAM_BINS = 50


def record_text(record: Record) -> str:
    """What near and semantic dedupe compare: the prompt turns and the answer (the chosen one for preferences)."""
    return "\n".join([prompt_turns_text(record), record.response_text]).strip()


def prompt_turns_text(record: Record) -> str:
    """Every turn before the answer, the system prompt included (unlike text_similarity.prompt_text, which is the
    part a person wrote): two records with different system prompts are different records to dedupe."""
    return "\n".join(str(m.get("content") or "") for m in record.prompt_messages).strip()


def full_text(record: Record) -> str:
    """Everything that makes the record what it is, for the normalised exact key (preferences:
    prompt+chosen+rejected)."""
    parts = [str(m.get("content") or "") for m in record.messages]
    for answer in (record.chosen, record.rejected):
        if answer:
            parts.append(str(answer.get("content") or ""))
    if record.label is not None:
        parts.append(f"label:{record.label}")
    return f"{record.kind}\n" + "\n".join(parts)


def keep_rank(record: Record) -> tuple:
    """The keep policy: better source tier (A best, no source last), then higher quality score, then earliest."""
    tier = TIER_ORDER.get(record.source.quality_tier, 4) if record.source_id else 4
    quality = -record.quality_score if record.quality_score is not None else 1.0
    return tier, quality, record.created_at, record.pk


def _check_settings(
    *, use_exact: bool, use_near: bool, use_semantic: bool, near_threshold: float, cosine_threshold: float
) -> None:
    if not (use_exact or use_near or use_semantic):
        raise ApplicationError("choose at least one stage: exact, near-duplicate or semantic", where="stages")
    if not 0.5 <= near_threshold <= 1.0:
        raise ApplicationError(
            "the near-duplicate threshold is a Jaccard similarity from 0.5 to 1", where="near_threshold"
        )
    if not 0.5 <= cosine_threshold <= 1.0:
        raise ApplicationError("the cosine threshold is from 0.5 to 1 (0.95 is the default for MiniLM-class models)",
                               where="cosine_threshold")


def dedupe_run_create(
    *,
    dataset: Dataset,
    version: DatasetVersion | None = None,
    created_by=None,
    use_exact: bool = True,
    use_near: bool = True,
    use_semantic: bool = True,
    near_threshold: float = 0.8,
    cosine_threshold: float = 0.95,
    embedding_model: str = "",
    seed: int = 0,
    run_in_background: bool = True,
) -> DedupeRun:
    """Queue a dry run over `version`, or over the dataset's current records (those that exist now).

    With `run_in_background` the job is enqueued after commit; without, the caller runs `dedupe_run_execute`.
    """
    _check_settings(use_exact=use_exact, use_near=use_near, use_semantic=use_semantic, near_threshold=near_threshold,
                    cosine_threshold=cosine_threshold)
    if use_semantic:
        embedding_model = embedding_model_check(workspace_id=dataset.workspace_id, name=embedding_model)
    if version is not None and version.dataset_id != dataset.pk:
        raise ApplicationError(f"version {version.number} belongs to another dataset", where="version")
    if version is None:
        last_record_id = dataset.records.aggregate(m=Max("pk"))["m"]
        if last_record_id is None:
            raise ApplicationError(f"dataset {dataset.name!r} has no records to dedupe", where="dataset")
    with transaction.atomic():
        run = DedupeRun.objects.create(
            dataset=dataset, version=version, use_exact=use_exact, use_near=use_near, use_semantic=use_semantic,
            near_threshold=near_threshold, cosine_threshold=cosine_threshold,
            embedding_model=embedding_model if use_semantic else "", seed=seed,
            last_record_id=None if version is not None else last_record_id,
            created_by=created_by if created_by is not None and created_by.is_authenticated else None,
        )
        history_record(actor=created_by, target=run, verb="created", after=_settings(run))
        if run_in_background:
            from dedupe.tasks import dedupe_run_execute_task

            transaction.on_commit(lambda: dedupe_run_execute_task.enqueue(dedupe_run_id=run.pk))
    return run


def _settings(run: DedupeRun) -> dict:
    return {"version": run.version.number if run.version_id else None, "exact": run.use_exact, "near": run.use_near,
            "semantic": run.use_semantic, "near_threshold": run.near_threshold, "num_perm": run.num_perm,
            "cosine_threshold": run.cosine_threshold, "embedding_model": run.embedding_model}


def _progress(run: DedupeRun, on_progress: ProgressCallback | None, phase: str, done: int, total: int) -> None:
    DedupeRun.objects.filter(pk=run.pk).update(phase=phase, processed=done, total=total, updated_at=timezone.now())
    if on_progress is not None:
        on_progress(phase, done, total)


def _load(run: DedupeRun) -> tuple[list[Record], dict[int, str]]:
    """The run's records best-first by the keep policy, and each record's split (its version's, or the latest
    version's for a run over current records; records in no version have none)."""
    fields = ("id", "dataset_id", "kind", "messages", "chosen", "rejected", "label", "content_hash", "quality_score",
              "created_at", "source_id", "source__quality_tier")
    if run.version_id:
        records = list(version_record_list(version_id=run.version_id, fields=fields))
        split_version = run.version_id
    else:
        records = list(
            dataset_record_list_upto(dataset_id=run.dataset_id, last_record_id=run.last_record_id, fields=fields)
        )
        split_version = dataset_latest_version_id(dataset_id=run.dataset_id)
    splits = version_splits(version_id=split_version) if split_version else {}
    records.sort(key=keep_rank)
    return records, splits


def dedupe_run_execute(*, run: DedupeRun, on_progress: ProgressCallback | None = None) -> DedupeRun:
    """Find duplicates and propose decisions (the dry run). Idempotent: a run that is not queued is returned as it is.
    A failure marks the run failed with the message; nothing half-written stays behind."""
    with transaction.atomic():
        claimed = DedupeRun.objects.filter(pk=run.pk, status=DedupeRun.Status.QUEUED).update(
            status=DedupeRun.Status.RUNNING, updated_at=timezone.now())
    run.refresh_from_db()
    if not claimed:
        return run
    try:
        _execute(run, on_progress)
    except ApplicationError as exc:
        _fail(run, exc.message)
    except Exception as exc:  # a bad model directory, an out-of-memory index: the run says so instead of hanging
        _fail(run, f"{type(exc).__name__}: {exc}")
        raise
    finally:
        run.refresh_from_db()
    return run


@transaction.atomic
def _fail(run: DedupeRun, message: str) -> None:
    DedupeRun.objects.filter(pk=run.pk).update(
        status=DedupeRun.Status.FAILED, error=message, finished_at=timezone.now()
    )
    history_record(actor=None, target=run, verb="failed", after={"error": message})


def _execute(run: DedupeRun, on_progress: ProgressCallback | None) -> None:
    started = time.perf_counter()
    timings: dict[str, float] = {}
    _progress(run, on_progress, "load", 0, 1)
    records, splits = _load(run)
    count = len(records)
    if count == 0:
        raise ApplicationError("there are no records to dedupe", where="records")
    timings["load"] = time.perf_counter() - started
    stamp = time.perf_counter()

    survivors, exact_drops = list(range(count)), {}
    if run.use_exact:
        _progress(run, on_progress, "exact", 0, count)
        survivors, exact_drops = exact_collapse(
            [r.content_hash for r in records], stage=Stage.EXACT, candidates=survivors
        )
        keys = [normalised_hash(full_text(r)) for r in records]
        survivors, normal_drops = exact_collapse(keys, stage=Stage.NORMALISED, candidates=survivors)
        exact_drops.update(normal_drops)
        _progress(run, on_progress, "exact", count, count)
    timings["exact"] = time.perf_counter() - stamp

    texts = [record_text(records[p]) for p in survivors]
    edges: list[tuple[int, int, float, str]] = []
    shown: list[tuple[int, int, float, str]] = []
    histogram: dict = {}
    if run.use_near:
        stamp = time.perf_counter()
        _progress(run, on_progress, "near", 0, len(survivors))
        duplicates, misses = near_pairs(texts, threshold=run.near_threshold, num_perm=run.num_perm)
        edges += [(survivors[p.a], survivors[p.b], p.similarity, Stage.NEAR) for p in duplicates]
        misses.sort(key=lambda p: -p.similarity)
        shown += [(survivors[p.a], survivors[p.b], p.similarity, Stage.NEAR) for p in misses[:CLOSEST_MISSES]]
        histogram = {"stage": Stage.NEAR, **stages.histogram([p.similarity for p in duplicates + misses], low=0.0,
                                                             bins=HISTOGRAM_BINS)}
        _progress(run, on_progress, "near", len(survivors), len(survivors))
        timings["near"] = time.perf_counter() - stamp
    vectors = None
    embed_stats: dict = {}
    semantic_skipped = 0
    if run.use_semantic:
        # Only the texts the model can read are compared; the rest are left to the exact and near stages.
        readable = [i for i, text in enumerate(texts) if embedding_model_reads(text, model_name=run.embedding_model)]
        semantic_skipped = len(texts) - len(readable)
        positions = [survivors[i] for i in readable]
        stamp = time.perf_counter()
        _progress(run, on_progress, "embed", 0, len(readable))
        vectors = texts_embed([texts[i] for i in readable], model_name=run.embedding_model, stats=embed_stats,
                              on_progress=lambda done, total: _progress(run, on_progress, "embed", done, total))
        timings["embed"] = time.perf_counter() - stamp
        stamp = time.perf_counter()
        _progress(run, on_progress, "search", 0, len(readable))
        pairs, nearest = stages.semantic_neighbours(vectors, floor=min(SEMANTIC_MISS_FLOOR, run.cosine_threshold))
        # A pair the near stage already joined is not reported twice; its decision keeps the near stage's evidence.
        known = {(a, b) for a, b, _, _ in edges}
        pairs = [p for p in pairs if (positions[p.a], positions[p.b]) not in known]
        duplicates = [p for p in pairs if p.similarity >= run.cosine_threshold]
        misses = sorted(
            (p for p in pairs if SEMANTIC_MISS_FLOOR <= p.similarity < run.cosine_threshold),
            key=lambda p: -p.similarity,
        )
        edges += [(positions[p.a], positions[p.b], p.similarity, Stage.SEMANTIC) for p in duplicates]
        shown += [(positions[p.a], positions[p.b], p.similarity, Stage.SEMANTIC) for p in misses[:CLOSEST_MISSES]]
        histogram = {"stage": Stage.SEMANTIC, **stages.histogram(nearest, low=0.0, bins=HISTOGRAM_BINS)}
        timings["search"] = time.perf_counter() - stamp
        _progress(run, on_progress, "search", len(readable), len(readable))

    stamp = time.perf_counter()
    decisions, clusters = decisions_make(count, exact_drops=exact_drops, edges=edges)
    prompt_cosines = _prompt_similarities(run, records, edges + shown) if run.use_semantic else {}
    _progress(run, on_progress, "save", 0, 1)
    pair_rows = [(d.position, d.kept, 1.0, d.stage) for d in exact_drops.values()]
    with transaction.atomic():
        cluster_rows = DedupeCluster.objects.bulk_create(
            [
                DedupeCluster(
                    run=run,
                    number=i + 1,
                    kept_id=records[c.kept].pk,
                    size=len(c.members),
                    max_similarity=c.max_similarity,
                )
                for i, c in enumerate(clusters)
            ],
            batch_size=2000,
        )
        cluster_of = {member: row for c, row in zip(clusters, cluster_rows) for member in c.members}
        rank_in_cluster = {member: rank for c in clusters for rank, member in enumerate(c.members)}
        DedupeDecision.objects.bulk_create([
            DedupeDecision(run=run, cluster=cluster_of[d.position], record_id=records[d.position].pk,
                           action="drop" if d.drop else "keep", proposed_action="drop" if d.drop else "keep",
                           kept_record_id=records[d.kept].pk if d.kept is not None else None, similarity=d.similarity,
                           stage=d.stage, rank=rank_in_cluster[d.position])
            for d in decisions.values()], batch_size=2000)
        stored = [(a, b, s, stage, True) for a, b, s, stage in pair_rows + edges] + [
            (a, b, s, stage, False) for a, b, s, stage in shown
        ]
        DedupePair.objects.bulk_create(
            [
                DedupePair(
                    run=run,
                    record_a_id=records[min(a, b)].pk,
                    record_b_id=records[max(a, b)].pk,
                    stage=stage,
                    similarity=s,
                    prompt_similarity=prompt_cosines.get((min(a, b), max(a, b))),
                    is_duplicate=duplicate,
                    split_a=splits.get(records[min(a, b)].pk, ""),
                    split_b=splits.get(records[max(a, b)].pk, ""),
                )
                for a, b, s, stage, duplicate in stored
            ],
            batch_size=2000,
        )
        leakage = _leakage(stored, records, splits)
        timings["save"] = time.perf_counter() - stamp
        timings["total"] = time.perf_counter() - started
        drops = sum(1 for d in decisions.values() if d.drop)
        DedupeRun.objects.filter(pk=run.pk).update(
            status=DedupeRun.Status.DRY_RUN_READY,
            phase="",
            record_count=count,
            drop_count=drops,
            cluster_count=len(clusters),
            histogram=histogram,
            leakage=leakage,
            timings={k: round(v, 4) for k, v in timings.items()},
            embedded_count=embed_stats.get("embedded", 0),
            semantic_skipped=semantic_skipped,
            finished_at=timezone.now(),
            updated_at=timezone.now(),
        )
        history_record(
            actor=None,
            target=run,
            verb="dry_run_ready",
            after={"records": count, "drops": drops, "clusters": len(clusters), "leakage": leakage.get("pairs", 0)},
        )
    if on_progress is not None:
        on_progress("save", 1, 1)


def _prompt_similarities(run: DedupeRun, records: list[Record], pairs: list) -> dict[tuple[int, int], float]:
    """Prompt-only cosine of the reported pairs: shown beside the full similarity, never used to drop anything."""
    positions = sorted({p for a, b, *_ in pairs for p in (a, b)})
    if not positions:
        return {}
    vectors = texts_embed([prompt_turns_text(records[p]) for p in positions], model_name=run.embedding_model)
    row = {p: i for i, p in enumerate(positions)}
    return {(min(a, b), max(a, b)): round(float(vectors[row[a]] @ vectors[row[b]]), 4) for a, b, *_ in pairs}


def _leakage(stored: list, records: list[Record], splits: dict[int, str]) -> dict:
    """Duplicate pairs whose two records sit in different splits: a test item with a twin in train."""
    by_splits: dict[str, int] = {}
    for a, b, _, _, duplicate in stored:
        left, right = splits.get(records[a].pk, ""), splits.get(records[b].pk, "")
        if duplicate and left and right and left != right:
            key = "/".join(sorted((left, right)))
            by_splits[key] = by_splits.get(key, 0) + 1
    return {"pairs": sum(by_splits.values()), "by_splits": by_splits, "has_splits": bool(splits)}


@transaction.atomic
def dedupe_decision_override(*, decision: DedupeDecision, action: str, actor) -> DedupeDecision:
    """Set a record of a reviewed dry run to keep or drop. Precondition: the run is ready for review (not applied)."""
    if action not in DedupeDecision.Action.values:
        raise ApplicationError("action is keep or drop", where="action")
    run = DedupeRun.objects.select_for_update().get(pk=decision.run_id)
    if run.status != DedupeRun.Status.DRY_RUN_READY:
        raise ApplicationError(
            f"run {run.pk} is {run.get_status_display().lower()}; only a dry run ready for review changes",
            where="status",
            code="not_reviewable",
        )
    decision = DedupeDecision.objects.select_for_update().get(pk=decision.pk)
    before = decision.action
    if before != action:
        decision.action = action
        decision.overridden_by = actor if actor is not None and actor.is_authenticated else None
        decision.save(update_fields=["action", "overridden_by"])
        DedupeRun.objects.filter(pk=run.pk).update(drop_count=F("drop_count") + (1 if action == "drop" else -1))
        history_record(actor=actor, target=decision, verb="overridden", before={"action": before},
                       after={"action": action, "record": decision.record_id})
    return decision


def dedupe_run_apply(*, run: DedupeRun, actor=None, ratios: dict | None = None, note: str = "") -> DatasetVersion:
    """Freeze the kept records as the dataset's next version (operation dedupe).

    Over a version: each kept record keeps its split and labels, and the version is the parent. Over current records:
    a seeded split (datahub.splits), grouped so a record, its prompt's other records and the duplicates a person
    chose to keep all land in the same split. Precondition: the run is ready for review; it is applied once.
    """
    with transaction.atomic():
        run = DedupeRun.objects.select_for_update(of=("self",)).select_related("dataset", "version").get(pk=run.pk)
        if run.status != DedupeRun.Status.DRY_RUN_READY:
            raise ApplicationError(
                f"run {run.pk} is {run.get_status_display().lower()}; only a dry run ready for review is applied",
                where="status",
                code="not_applicable",
            )
        dropped = set(run.decisions.filter(action="drop").values_list("record_id", flat=True))
        overridden = run.decisions.exclude(action=F("proposed_action")).count()
        if run.version_id:
            rows = run.version.entries.order_by("record_id").values_list("record_id", "split", "labels")
            entries = [(rid, split, labels) for rid, split, labels in rows if rid not in dropped]
            ratios, seed = run.version.ratios, run.version.seed
        else:
            ratios, seed = ratios_check(ratios or DEFAULT_RATIOS), run.seed
            entries = _seeded_entries(run, dropped, seed=seed, ratios=ratios)
        detail = {"dedupe_run": run.pk, **_settings(run), "removed": len(dropped), "overridden": overridden,
                  "records_before": run.record_count}
        version = dataset_version_create(
            dataset=run.dataset,
            entries=entries,
            operation=DatasetVersion.Operation.DEDUPE,
            created_by=actor,
            parent=run.version,
            seed=seed,
            ratios=ratios,
            operation_detail=detail,
            note=note,
        )
        run.status = DedupeRun.Status.APPLIED
        run.applied_version = version
        run.save(update_fields=["status", "applied_version", "updated_at"])
        history_record(
            actor=actor,
            target=run,
            verb="applied",
            after={"version": version.number, "removed": len(dropped), "overridden": overridden},
        )
    return version


def _seeded_entries(run: DedupeRun, dropped: set[int], *, seed: int, ratios: dict) -> list[tuple[int, str, list]]:
    rows = dataset_group_rows(dataset_id=run.dataset_id, last_record_id=run.last_record_id)
    # Duplicates a person chose to keep join their cluster's kept record's split group: no leakage by construction.
    links = [(record_id, kept_id) for record_id, kept_id in
             run.decisions.filter(action="keep", cluster__isnull=False).values_list("record_id", "cluster__kept_id")
             if kept_id is not None and kept_id != record_id]
    keys = group_keys(rows, links)
    return split_entries([pk for pk, _, _ in rows if pk not in dropped], keys, seed=seed, ratios=ratios)


def dedupe_runs_of_dataset_delete(*, dataset: Dataset) -> None:
    """Delete the dataset's dedupe runs with their pairs, clusters and decisions; called by datahub's dataset_delete
    inside its transaction, after it has checked that none is under way."""
    DedupeRun.objects.filter(dataset=dataset).delete()

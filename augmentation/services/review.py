"""The review of an augmentation run: decide per candidate, accept all passing, then accept the run as a new version."""

from collections import Counter

from django.db import transaction

from augmentation.models import AugmentationCandidate, AugmentationRun, JobStatus
from common.errors import ApplicationError
from common.history import history_record
from datahub.models import DatasetVersion
from datahub.selectors import version_entry_rows
from datahub.services.records import record_build, records_insert_ids
from datahub.services.versions import dataset_version_create

Decision = AugmentationCandidate.Decision


def _reviewable(run: AugmentationRun) -> None:
    if run.status != JobStatus.SUCCEEDED:
        raise ApplicationError("the run has no candidates to review yet", where="run", code="not_ready")
    if run.result_version_id:
        raise ApplicationError("the run was accepted already; its decisions are final", where="run", code="accepted")


@transaction.atomic
def candidates_decide(*, run: AugmentationRun, candidate_ids: list[int], decision: str, actor=None) -> int:
    """Set `decision` on the given candidates of `run`; returns how many changed. Ids of other runs are refused."""
    run = AugmentationRun.objects.select_for_update().get(pk=run.pk)
    _reviewable(run)
    if decision not in Decision.values:
        raise ApplicationError(f"decision is one of {', '.join(Decision.values)}", where="decision")
    ids = set(candidate_ids)
    if not ids:
        raise ApplicationError("choose at least one candidate", where="candidates")
    found = set(AugmentationCandidate.objects.filter(run=run, pk__in=ids).values_list("pk", flat=True))
    if found != ids:
        raise ApplicationError(f"candidate {min(ids - found)} is not in this run", where="candidates")
    if decision == Decision.ACCEPTED:
        broken = (
            AugmentationCandidate.objects.filter(run=run, pk__in=ids, content_hash="")
            .values_list("pk", flat=True)
            .first()
        )
        if broken is not None:
            raise ApplicationError(
                f"candidate {broken} is not a valid record (empty or malformed) and cannot be accepted",
                where="candidates",
            )
    changed = (
        AugmentationCandidate.objects.filter(run=run, pk__in=ids).exclude(decision=decision).update(decision=decision)
    )
    history_record(
        actor=actor, target=run, verb="candidates_decided", after={"decision": decision, "candidates": changed}
    )
    return changed


@transaction.atomic
def candidates_accept_passing(*, run: AugmentationRun, actor=None) -> int:
    """Accept every passing candidate still pending; returns how many."""
    run = AugmentationRun.objects.select_for_update().get(pk=run.pk)
    _reviewable(run)
    changed = AugmentationCandidate.objects.filter(run=run, is_passing=True, decision=Decision.PENDING).update(
        decision=Decision.ACCEPTED
    )
    history_record(actor=actor, target=run, verb="passing_accepted", after={"candidates": changed})
    return changed


@transaction.atomic
def augmentation_run_accept(*, run: AugmentationRun, created_by=None, note: str = "") -> DatasetVersion:
    """Create a child record per accepted candidate and freeze the run's version plus the children as a new version.

    Every entry of the input version keeps its split; each child lands in its parent's split (always train: only train
    parents get candidates). A child whose content the dataset already holds reuses that record. The run is locked, so
    accepting twice makes one version.
    """
    run = AugmentationRun.objects.select_for_update().select_related("version__dataset").get(pk=run.pk)
    _reviewable(run)
    accepted = list(
        AugmentationCandidate.objects.filter(run=run, decision=Decision.ACCEPTED)
        .select_related("parent")
        .order_by("pk")
    )
    if not accepted:
        raise ApplicationError("accept at least one candidate first", where="candidates", code="empty")
    source_version, dataset = run.version, run.version.dataset
    children = [
        record_build(
            dataset=dataset,
            clean=c.row,
            source=c.parent.source,
            origin="augmentation",
            parent=c.parent,
            tags=[*[t for t in (c.parent.tags or []) if not t.startswith("augmented:")], f"augmented:{c.method}"],
            raw={
                "augmentation": {
                    "run": run.pk,
                    "method": c.method,
                    "operation": c.operation,
                    "scores": c.scores,
                    "reason": c.reason,
                }
            },
        )
        for c in accepted
    ]
    by_hash = records_insert_ids(dataset=dataset, records=children)
    entries = {rid: [rid, split, labels] for rid, split, labels in version_entry_rows(version_id=source_version.pk)}
    added = Counter()
    for candidate in accepted:
        candidate.record_id = record_id = by_hash[candidate.content_hash]
        if record_id in entries:  # content an entry already had, or two accepted candidates alike
            continue
        entries[record_id] = [record_id, candidate.split, []]
        added[candidate.method] += 1
    AugmentationCandidate.objects.bulk_update(accepted, ["record"], batch_size=1000)
    detail = {
        "augmentation_run": run.pk,
        "methods": run.methods,
        "candidates": run.candidate_count,
        "passing": run.passing_count,
        "accepted": len(accepted),
        "added": dict(added),
        "embedding_model": run.embedding_model,
        "thresholds": {k: v for k, v in run.options.items() if k.endswith(("_min", "_max"))},
    }
    version = dataset_version_create(
        dataset=dataset,
        entries=[tuple(e) for e in entries.values()],
        operation=DatasetVersion.Operation.AUGMENTATION,
        created_by=created_by,
        parent=source_version,
        seed=source_version.seed,
        ratios=source_version.ratios,
        operation_detail=detail,
        note=note or f"augmentation run {run.pk}",
    )
    run.result_version = version
    run.save(update_fields=["result_version", "updated_at"])
    history_record(actor=created_by, target=run, verb="accepted", after={"version": version.pk, **detail})
    return version

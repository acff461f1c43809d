"""The layers above labelling: re-checks sampled at the project's review rate, expert spot checks sampled per annotator,
and the reviewers' queue and decisions. Gold scoring and the disagreement check run inside the submit (queue_paths).

Sampling is a seeded draw per (project, annotation, layer), so a replayed history samples the same annotations.
Lock order (see lock_objects): the reviewer's row, then review rows; a review never takes a task or an assignment lock.
"""

import random
from collections import Counter
from datetime import timedelta

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from annotation.lock_objects import annotator_lock, review_lock, reviews_lock_free, task_lock
from annotation.models import Annotation, AnnotationProject, AnnotationTask, Assignment, Label, Review
from annotation.services.annotations import labels_check
from common.errors import ApplicationError
from common.history import history_record

REVIEW_CLAIM_SECONDS = 600
MAX_REASON_CHARS = 2000
# An annotator whose gold accuracy is below this (over at least LOW_QUALITY_MIN_ITEMS gold items) or whose agreement
# with the majority is below it is spot-checked at twice the project's rate.
LOW_QUALITY = 0.8
LOW_QUALITY_MIN_ITEMS = 3
CAPABILITY_BY_LAYER = {
    Review.Layer.REVIEW: "annotation.review",
    Review.Layer.SPOT_CHECK: "annotation.spot_check",
    Review.Layer.DISAGREEMENT: "annotation.spot_check",
}
ANNOTATOR_POOLS = (Annotation.AnnotatorKind.CROWD, Annotation.AnnotatorKind.STAFF, Annotation.AnnotatorKind.EXPERT,
                   Annotation.AnnotatorKind.AI)


def _draw(*parts) -> float:
    return random.Random(":".join(str(p) for p in parts)).random()


def _share_check(value, *, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise ApplicationError("must be a share between 0 and 1", where=where)
    return float(value)


@transaction.atomic
def annotation_project_layers_set(
    *,
    project: AnnotationProject,
    review_rate: float,
    spot_check_rate: float,
    gold_rate: float,
    disagreement_threshold: float,
    blind: bool,
    label_pools: list,
    mode: str | None = None,
    set_by=None,
) -> AnnotationProject:
    """Set the project's layers: review, spot-check and gold rates, the disagreement threshold, blind mode, which
    annotator kinds label (empty: every kind) and the mode (AnnotationProject.Mode; None keeps the current one). Gold
    items are drawn again among the items nobody has labelled yet whose dataset entry already carries labels; those
    labels are the known answer."""
    values = {
        "review_rate": _share_check(review_rate, where="review_rate"),
        "spot_check_rate": _share_check(spot_check_rate, where="spot_check_rate"),
        "gold_rate": _share_check(gold_rate, where="gold_rate"),
        "disagreement_threshold": _share_check(disagreement_threshold, where="disagreement_threshold"),
        "blind": bool(blind),
    }
    if not isinstance(label_pools, list | tuple) or any(pool not in ANNOTATOR_POOLS for pool in label_pools):
        raise ApplicationError(f"must be a list drawn from {', '.join(ANNOTATOR_POOLS)}", where="label_pools")
    values["label_pools"] = sorted(set(label_pools))
    if mode is not None and mode not in AnnotationProject.Mode.values:
        raise ApplicationError(f"must be one of {', '.join(AnnotationProject.Mode.values)}", where="mode")
    values["mode"] = project.mode if mode is None else mode
    pools = values["label_pools"]
    if values["mode"] == AnnotationProject.Mode.AI_FIRST and pools and Annotation.AnnotatorKind.AI not in pools:
        raise ApplicationError(
            "AI first needs AI annotators in the labelling pools (or every pool)", where="label_pools"
        )
    before = {field: getattr(project, field) for field in LAYER_FIELDS}
    for field, value in values.items():
        setattr(project, field, value)
    project.save(update_fields=[*LAYER_FIELDS, "updated_at"])
    gold = _gold_draw(project=project)
    history_record(actor=set_by, target=project, verb="layers_set", before=before,
                   after={**{field: getattr(project, field) for field in LAYER_FIELDS}, "gold_items": gold})
    return project


LAYER_FIELDS = ["review_rate", "spot_check_rate", "gold_rate", "disagreement_threshold", "blind", "label_pools", "mode"]


def _gold_draw(*, project: AnnotationProject) -> int:
    """Mark gold the unlabelled items drawn at the gold rate among those whose entry has labels; returns the gold
    count."""
    paths = set(project.schema.labels.values_list("path", flat=True))
    fresh = AnnotationTask.objects.filter(project=project, submitted_count=0)
    gold_ids, gold_labels = [], {}
    for task_id, labels in fresh.exclude(entry__labels=[]).values_list("pk", "entry__labels"):
        known = sorted(set(labels or []) & paths)
        if known and _draw(project.pk, task_id, "gold") < project.gold_rate:
            gold_ids.append(task_id)
            gold_labels[task_id] = known
    fresh.exclude(pk__in=gold_ids).filter(is_gold=True).update(is_gold=False, gold_labels=[])
    for task_id in gold_ids:
        AnnotationTask.objects.filter(pk=task_id).update(is_gold=True, gold_labels=gold_labels[task_id])
    return AnnotationTask.objects.filter(project=project, is_gold=True).count()


def annotator_quality(*, project: AnnotationProject, annotator) -> dict:
    """The annotator's gold accuracy and agreement with the majority on finished multi-annotated items of the project:
    {"gold_n", "gold_accuracy", "agreement_n", "agreement"} (None when there is nothing to measure)."""
    gold = Annotation.objects.filter(task__project=project, annotator=annotator, gold_correct__isnull=False)
    gold_n = gold.count()
    gold_ok = gold.filter(gold_correct=True).count()
    agreement_n = agreed = 0
    if project.overlap > 1:
        tasks = AnnotationTask.objects.filter(
            project=project, is_complete=True, annotations__annotator=annotator
        ).values("pk")
        label_sets: dict[int, dict[int, frozenset]] = {}
        chosen = Annotation.labels.through.objects.filter(annotation__task__in=tasks).values_list(
            "annotation__task_id", "annotation__annotator_id", "label_id")
        for task_id, annotator_id, label_id in chosen:
            label_sets.setdefault(task_id, {}).setdefault(annotator_id, set()).add(label_id)
        for answers in label_sets.values():
            if annotator.pk not in answers or len(answers) < 2:
                continue
            counts = Counter(frozenset(answer) for answer in answers.values())
            agreement_n += 1
            agreed += counts[frozenset(answers[annotator.pk])] > 1
    return {"gold_n": gold_n, "gold_accuracy": gold_ok / gold_n if gold_n else None,
            "agreement_n": agreement_n, "agreement": agreed / agreement_n if agreement_n else None}


def checks_sample(*, project: AnnotationProject, task_id: int, annotation: Annotation) -> list[Review]:
    """The re-check and the spot check drawn for a fresh annotation (unsaved; the caller saves them in the submit's
    transaction). Seeded by the annotation id; no query unless the project spot-checks."""
    reviews = []
    if project.mode == AnnotationProject.Mode.AI_FIRST and annotation.annotator_kind == Annotation.AnnotatorKind.AI:
        reviews.append(Review(task_id=task_id, annotation=annotation, layer=Review.Layer.REVIEW,
                              sampled_because="AI first: every AI answer is re-checked"))
    elif project.review_rate and _draw(project.pk, annotation.pk, "review") < project.review_rate:
        reviews.append(Review(task_id=task_id, annotation=annotation, layer=Review.Layer.REVIEW,
                              sampled_because=f"review rate {project.review_rate:.0%}"))
    if project.spot_check_rate:
        rate, because = project.spot_check_rate, f"spot-check rate {project.spot_check_rate:.0%}"
        quality = annotator_quality(project=project, annotator=annotation.annotator)
        if quality["gold_n"] >= LOW_QUALITY_MIN_ITEMS and quality["gold_accuracy"] < LOW_QUALITY:
            rate, because = min(1.0, 2 * rate), f"gold accuracy {quality['gold_accuracy']:.0%}"
        elif quality["agreement_n"] >= LOW_QUALITY_MIN_ITEMS and quality["agreement"] < LOW_QUALITY:
            rate, because = min(1.0, 2 * rate), f"agreement {quality['agreement']:.0%}"
        if _draw(project.pk, annotation.pk, "spot_check") < rate:
            reviews.append(
                Review(task_id=task_id, annotation=annotation, layer=Review.Layer.SPOT_CHECK, sampled_because=because)
            )
    return reviews


@transaction.atomic
def review_claim_next(*, project: AnnotationProject, reviewer, layer: str) -> Review | None:
    """The reviewer's next pending check in `layer`: the one they hold, else the first pending one nobody holds (or
    whose hold ran out) that is not about their own work. None when nothing is left. The capability is the caller's
    check."""
    if layer not in Review.Layer.values:
        raise ApplicationError(f"must be one of {', '.join(Review.Layer.values)}", where="layer")
    now = timezone.now()
    annotator_lock(annotator=reviewer)
    pending = Review.objects.filter(task__project=project, layer=layer, status=Review.Status.PENDING)
    held = pending.filter(reviewer=reviewer, claimed_until__gt=now).order_by("pk").first()
    if held is not None:
        return held
    candidates = (pending.filter(Q(reviewer__isnull=True) | Q(claimed_until__lte=now))
                  .exclude(task__annotations__annotator=reviewer).order_by("pk"))
    locked = reviews_lock_free(candidates, limit=1)
    if not locked:
        return None
    review = locked[0]
    review.reviewer = reviewer
    review.claimed_until = now + timedelta(seconds=REVIEW_CLAIM_SECONDS)
    review.save(update_fields=["reviewer", "claimed_until", "updated_at"])
    return review


@transaction.atomic
def review_decide(*, review: Review, reviewer, verdict: str, reason: str = "", label_ids: list | None = None) -> Review:
    """Accept, reject (a reason is required) or fix (the right labels are required) a pending check.

    Only the reviewer holding the check may decide it; a decided check is final. The capability for the check's
    layer (CAPABILITY_BY_LAYER) is the caller's check.
    """
    locked = review_lock(review_id=review.pk)
    if locked.status != Review.Status.PENDING:
        raise ApplicationError(
            f"this check was already decided ({locked.get_status_display().lower()})", where="review", code="decided"
        )
    if locked.reviewer_id != reviewer.pk or locked.claimed_until is None or locked.claimed_until <= timezone.now():
        raise ApplicationError("take this check from the queue first", where="review", code="not_yours")
    reason = (reason or "").strip()
    if len(reason) > MAX_REASON_CHARS:
        raise ApplicationError(f"longer than {MAX_REASON_CHARS} characters", where="reason")
    labels: list[Label] = []
    if verdict == "accept":
        locked.status = Review.Status.ACCEPTED
    elif verdict == "reject":
        if not reason:
            raise ApplicationError("say why the answer is rejected", where="reason")
        locked.status = Review.Status.REJECTED
    elif verdict == "fix":
        project = AnnotationProject.objects.select_related("schema").get(tasks__pk=locked.task_id)
        labels = labels_check(schema=project.schema, label_ids=label_ids if label_ids is not None else [])
        if not labels:
            raise ApplicationError(
                f"the schema {project.schema} has no labels to fix; accept or reject", where="verdict"
            )
        locked.status = Review.Status.FIXED
    else:
        raise ApplicationError("must be accept, reject or fix", where="verdict")
    locked.reason = reason
    locked.decided_at = timezone.now()
    locked.save(update_fields=["status", "reason", "decided_at", "updated_at"])
    if labels:
        locked.fixed_labels.set(labels)
    reopened = locked.status == Review.Status.REJECTED and _ai_first_answer_give_back(review=locked, reviewer=reviewer)
    history_record(
        actor=reviewer,
        target=locked,
        verb=locked.status,
        after={
            "layer": locked.layer,
            "annotation": locked.annotation_id,
            "task": locked.task_id,
            "reason": reason,
            "labels": [label.path for label in labels],
            **({"item_given_back": True} if reopened else {}),
        },
    )
    return locked


def _ai_first_answer_give_back(*, review: Review, reviewer) -> bool:
    """When the rejected answer is an AI's in an AI-first project, give its item back to people: the AI's assignment
    becomes skipped (its slot frees, and the AI is not offered the item again) and the task is incomplete again.
    Returns whether it did. Takes the task, then the assignment (the submit's order); nothing that holds a task waits
    for a review row, so holding the review row here closes no cycle."""
    if review.annotation_id is None or review.layer != Review.Layer.REVIEW:
        return False
    annotation = Annotation.objects.select_related("task__project").get(pk=review.annotation_id)
    if (
        annotation.annotator_kind != Annotation.AnnotatorKind.AI
        or annotation.task.project.mode != AnnotationProject.Mode.AI_FIRST
    ):
        return False
    task = task_lock(task_id=review.task_id)
    moved = Assignment.objects.filter(pk=annotation.assignment_id, status=Assignment.Status.SUBMITTED).update(
        status=Assignment.Status.SKIPPED, skip_reason=f"AI answer rejected by a reviewer: {review.reason}"[:500])
    if moved:
        AnnotationTask.objects.filter(pk=task.pk).update(
            submitted_count=max(0, task.submitted_count - 1), is_complete=False
        )
    return bool(moved)

"""Scorecards: the workspace's weights, creating a scorecard (queued) and computing it (the job).

scorecard_compute gathers the evidence (releases.evidence), measures speed and deployability through the model
server's engine (releases.measure), scores each dimension by the rules of releases.scoring and stores the scores with
the figures and the evidence they came from. Missing evidence leaves its dimension unscored and the total empty.
"""

import logging

from django.db import transaction
from django.utils import timezone

from accounts.models import Workspace
from common.errors import ApplicationError
from common.history import history_record
from releases import scoring
from releases.evidence import (
    PORTABLE_FORMATS,
    export_formats,
    general_evidence,
    merged_export,
    ref,
    resources_evidence,
    task_evidence,
)
from releases.models import ReleasePolicy, Scorecard
from training.models import ModelArtifact

logger = logging.getLogger(__name__)


def workspace_weights(*, workspace: Workspace) -> dict[str, float]:
    policy = ReleasePolicy.objects.filter(workspace=workspace).first()
    return dict(policy.weights) if policy is not None else dict(scoring.DEFAULT_WEIGHTS)


def release_policy_set(*, workspace: Workspace, weights: dict, updated_by=None) -> ReleasePolicy:
    """Store the workspace's scorecard weights (five, each 0..1, summing to 1). Old scorecards keep theirs."""
    try:
        clean = scoring.weights_check(weights)
    except ValueError as error:
        raise ApplicationError(str(error), where="weights") from None
    with transaction.atomic():
        policy = ReleasePolicy.objects.select_for_update().filter(workspace=workspace).first()
        before = dict(policy.weights) if policy is not None else dict(scoring.DEFAULT_WEIGHTS)
        if policy is None:
            policy = ReleasePolicy.objects.create(workspace=workspace, weights=clean, updated_by=updated_by)
        else:
            policy.weights, policy.updated_by = clean, updated_by
            policy.save(update_fields=["weights", "updated_by", "updated_at"])
        history_record(actor=updated_by, target=policy, verb="weights_set", before={"weights": before},
                       after={"weights": clean})
    return policy


def scorecard_create(*, artifact: ModelArtifact, created_by=None) -> Scorecard:
    """Queue a scorecard of `artifact` against its base model, with the workspace's current weights; the job
    (scorecard_compute_task) starts after commit."""
    if artifact.is_partial:
        raise ApplicationError(f"model artifact {artifact.name!r} was saved by a cancelled run; score a finished model",
                               where="artifact")
    with transaction.atomic():
        scorecard = Scorecard.objects.create(workspace=artifact.workspace, artifact=artifact,
                                             baseline=artifact.base_model,
                                             weights=workspace_weights(workspace=artifact.workspace),
                                             created_by=created_by)
        history_record(actor=created_by, target=scorecard, verb="created",
                       after={"artifact": artifact.pk, "weights": scorecard.weights})
        from releases.tasks import scorecard_compute_task

        scorecard_id = scorecard.pk
        transaction.on_commit(lambda: scorecard_compute_task.enqueue(scorecard_id=scorecard_id))
    return scorecard


def _dimension(key: str, scored: scoring.Scored, figures: dict, evidence: list[dict]) -> dict:
    return {"key": key, "score": scored.score, "missing": scored.missing, "figures": figures, "evidence": evidence}


def _speed_and_deployability(scorecard: Scorecard) -> tuple[dict, dict]:
    from releases.measure import answers_check, speed_measure

    artifact = scorecard.artifact
    merged = merged_export(artifact=artifact)
    formats = export_formats(artifact=artifact, merged=merged)
    adapter_answers, adapter_reply = answers_check(artifact)
    merged_answers, merged_reply = (None, "") if merged is None else answers_check(merged)
    deploy = _dimension(
        scoring.DEPLOYABILITY,
        scoring.deployability_score(merged_answers=merged_answers, adapter_answers=adapter_answers,
                                    portable_formats=[f for f in formats if f in PORTABLE_FORMATS]),
        {"formats": formats, "model_answers": adapter_answers, "model_reply": adapter_reply,
         "merged_answers": merged_answers, "merged_reply": merged_reply},
        [ref("artifact", artifact)] + ([ref("artifact", merged)] if merged is not None and merged != artifact else []),
    )
    if not adapter_answers:
        speed = _dimension(scoring.SPEED, scoring.Scored(None, adapter_reply), {}, [ref("artifact", artifact)])
        return speed, deploy
    candidate, baseline = speed_measure(candidate=artifact, baseline=scorecard.baseline)
    ratio = candidate.tokens_per_s / baseline.tokens_per_s if baseline.tokens_per_s > 0 else None
    p95_ratio = candidate.p95_ms / baseline.p95_ms if baseline.p95_ms > 0 else None
    speed = _dimension(
        scoring.SPEED, scoring.speed_score(ratio, p95_ratio),
        {"candidate": candidate.as_dict(), "baseline": baseline.as_dict(), "tokens_per_s_ratio": ratio,
         "p95_ratio": p95_ratio, "measured_at": timezone.now().isoformat(timespec="seconds")},
        [ref("scorecard", scorecard, f"scorecard of {artifact.name}"), ref("base_model", scorecard.baseline)],
    )
    return speed, deploy


def scorecard_compute(*, scorecard: Scorecard) -> Scorecard:
    """Compute a queued scorecard; one that is not queued is left alone. A failure is recorded on the row."""
    with transaction.atomic():
        claimed = Scorecard.objects.filter(pk=scorecard.pk, status=Scorecard.Status.QUEUED).update(
            status=Scorecard.Status.RUNNING, updated_at=timezone.now())
    if not claimed:
        scorecard.refresh_from_db()
        return scorecard
    scorecard = Scorecard.objects.select_related("artifact__base_model", "artifact__run", "artifact__source__run",
                                                 "baseline", "workspace").get(pk=scorecard.pk)
    try:
        artifact = scorecard.artifact
        task = task_evidence(artifact=artifact)
        general = general_evidence(artifact=artifact)
        resources = resources_evidence(artifact=artifact, merged=merged_export(artifact=artifact))
        speed, deploy = _speed_and_deployability(scorecard)
        dimensions = [
            _dimension(scoring.TASK, scoring.task_score(task.figures.get("band"), task.figures.get("rating_mean")),
                       task.figures, task.refs),
            _dimension(scoring.GENERAL, scoring.general_score(general.figures.get("verdict"),
                                                              general.figures.get("change"),
                                                              general.figures.get("tolerance")),
                       general.figures, general.refs),
            speed,
            _dimension(scoring.RESOURCES, scoring.resources_score(resources.figures.get("peak_memory_bytes"),
                                                                  resources.figures.get("serving_bytes")),
                       resources.figures, resources.refs),
            deploy,
        ]
    except Exception as error:  # a model that fails mid-measurement, files gone: the reason goes on the row
        logger.exception("scorecard %s failed", scorecard.pk)
        return _finish(scorecard, status=Scorecard.Status.FAILED, error=f"{type(error).__name__}: {error}")
    return _finish(scorecard, status=Scorecard.Status.DONE, dimensions=dimensions)


def _finish(scorecard: Scorecard, *, status: str, dimensions: list | None = None, error: str = "") -> Scorecard:
    total = scoring.weighted_total({d["key"]: d["score"] for d in dimensions or []}, scorecard.weights)
    with transaction.atomic():
        scorecard.status, scorecard.error, scorecard.dimensions = status, error, dimensions or []
        scorecard.total, scorecard.is_complete = total.total, total.is_complete
        scorecard.is_ready_to_ship = total.is_ready_to_ship
        scorecard.save(update_fields=["status", "error", "dimensions", "total", "is_complete", "is_ready_to_ship",
                                      "updated_at"])
        history_record(actor=None, target=scorecard, verb=status,
                       after={"total": total.total, "missing": total.missing, "error": error})
    return scorecard

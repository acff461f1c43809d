"""Deployment slots: create, set the candidate and the split, promote through the release gate (or past it, by an
admin with a written reason), roll back, and record which model wrote each reply a slot served.

Every change locks the slot's row, writes the history row (with the gate as it stood) in the same transaction and
returns the slot.
"""

from django.db import IntegrityError, transaction
from django.utils.text import slugify

from accounts.access import user_can
from accounts.models import Workspace
from common.errors import ApplicationError
from common.history import history_record
from releases.gate import deployment_gate
from releases.models import Deployment, DeploymentReply
from releases.routing import end_user_hash
from training.models import BaseModel, ModelArtifact

REASON_MIN = 10


def _model_fields(prefix: str, model) -> dict:
    return {f"{prefix}_base_model": model if isinstance(model, BaseModel) else None,
            f"{prefix}_artifact": model if isinstance(model, ModelArtifact) else None}


def model_ref(model) -> dict | None:
    if model is None:
        return None
    return {"kind": "base_model" if isinstance(model, BaseModel) else "artifact", "id": model.pk, "name": model.name}


def _same_workspace(model, workspace: Workspace, where: str) -> None:
    if model is not None and model.workspace_id != workspace.pk:
        raise ApplicationError("the model belongs to another workspace", where=where)


def deployment_create(*, workspace: Workspace, name: str, production, created_by=None,
                      support_band_low: float = 0.5) -> Deployment:
    """A new slot answering with `production` (a base model or a model artifact of `workspace`)."""
    if not name or slugify(name) != name:
        raise ApplicationError(f"{name!r}: a slot's name is lowercase letters, digits and hyphens, e.g. support-bot",
                               where="name")
    _same_workspace(production, workspace, "production")
    _band_check(support_band_low)
    try:
        with transaction.atomic():
            deployment = Deployment.objects.create(workspace=workspace, name=name, created_by=created_by,
                                                   support_band_low=support_band_low,
                                                   **_model_fields("production", production))
            history_record(actor=created_by, target=deployment, verb="created",
                           after={"name": name, "production": model_ref(production)})
    except IntegrityError:
        raise ApplicationError(f"a slot named {name!r} exists in this workspace", where="name",
                               code="conflict") from None
    return deployment


def _band_check(band: float) -> None:
    if not 0 <= band < 1:
        raise ApplicationError(f"the gate's band is a share from 0 to below 1; got {band}", where="support_band_low")


def _locked(deployment: Deployment) -> Deployment:
    return (Deployment.objects.select_for_update(of=("self",))
            .select_related("workspace", "production_base_model", "production_artifact__base_model",
                            "candidate_base_model", "candidate_artifact__base_model", "previous_base_model", "previous_artifact")
            .get(pk=deployment.pk))


def deployment_candidate_set(*, deployment: Deployment, candidate, share: float, support_band_low: float,
                             set_by=None) -> Deployment:
    """Set (or with None clear) the slot's candidate, the share of end users it answers (0..1) and the gate's band."""
    if not 0 <= share <= 1:
        raise ApplicationError(f"the candidate's share is from 0 to 1; got {share}", where="candidate_share")
    _band_check(support_band_low)
    _same_workspace(candidate, deployment.workspace, "candidate")
    with transaction.atomic():
        deployment = _locked(deployment)
        if candidate is not None and candidate == deployment.production:
            raise ApplicationError("the candidate is the production model already", where="candidate")
        before = {"candidate": model_ref(deployment.candidate), "candidate_share": deployment.candidate_share,
                  "support_band_low": deployment.support_band_low}
        for field, value in _model_fields("candidate", candidate).items():
            setattr(deployment, field, value)
        deployment.candidate_share, deployment.support_band_low = share, support_band_low
        deployment.save()
        history_record(actor=set_by, target=deployment, verb="candidate_set", before=before,
                       after={"candidate": model_ref(candidate), "candidate_share": share,
                              "support_band_low": support_band_low})
    return deployment


def deployment_promote(*, deployment: Deployment, promoted_by, override_reason: str = "") -> Deployment:
    """Make the candidate the production model; the old production model becomes what rollback restores.

    The release gate (releases.gate) must pass. Past a failing gate only a holder of release.override may promote,
    with a written reason of at least REASON_MIN characters; the gate's state and the reason go into the history.
    """
    reason = override_reason.strip()
    with transaction.atomic():
        deployment = _locked(deployment)
        candidate = deployment.candidate
        if candidate is None:
            raise ApplicationError("the slot has no candidate to promote", where="candidate")
        gate = deployment_gate(deployment=deployment)
        if not gate.passed:
            blocking = "; ".join(condition.reason for condition in gate.blocking)
            if not reason:
                raise ApplicationError(f"the release gate blocks the promotion: {blocking}", where="gate",
                                       code="conflict")
            if not user_can(promoted_by, "release.override", deployment.workspace):
                raise ApplicationError("only a workspace admin may promote past the release gate",
                                       where="override_reason")
            if len(reason) < REASON_MIN:
                raise ApplicationError(f"write why the gate is overridden (at least {REASON_MIN} characters)",
                                       where="override_reason")
        before = {"production": model_ref(deployment.production), "candidate": model_ref(candidate)}
        for field, value in _model_fields("previous", deployment.production).items():
            setattr(deployment, field, value)
        for field, value in _model_fields("production", candidate).items():
            setattr(deployment, field, value)
        for field, value in _model_fields("candidate", None).items():
            setattr(deployment, field, value)
        deployment.save()
        history_record(actor=promoted_by, target=deployment, verb="overridden" if not gate.passed else "promoted",
                       before=before, after={"production": model_ref(candidate), "gate": gate.as_dict(),
                                             "override_reason": reason if not gate.passed else ""})
    return deployment


def deployment_rollback(*, deployment: Deployment, rolled_back_by=None) -> Deployment:
    """Restore the production model the last promotion replaced, in one step."""
    with transaction.atomic():
        deployment = _locked(deployment)
        previous = deployment.previous
        if previous is None:
            raise ApplicationError("nothing to roll back to: the slot has not been promoted since it was created",
                                   where="previous")
        before = {"production": model_ref(deployment.production)}
        for field, value in _model_fields("production", previous).items():
            setattr(deployment, field, value)
        for field, value in _model_fields("previous", None).items():
            setattr(deployment, field, value)
        deployment.save()
        history_record(actor=rolled_back_by, target=deployment, verb="rolled_back", before=before,
                       after={"production": model_ref(previous)})
    return deployment


def deployment_reply_record(*, deployment: Deployment, role: str, model, reply_id: str,
                            end_user: str = "") -> DeploymentReply:
    """Remember which model wrote reply `reply_id` of the slot (the end user only as a hash)."""
    return DeploymentReply.objects.create(deployment=deployment, role=role, reply_id=reply_id,
                                          end_user_hash=end_user_hash(end_user), **_model_fields_plain(model))


def _model_fields_plain(model) -> dict:
    return {"base_model": model if isinstance(model, BaseModel) else None,
            "artifact": model if isinstance(model, ModelArtifact) else None}

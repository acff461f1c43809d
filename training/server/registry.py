"""Which models the server offers a user, and how their ids read.

Model ids are stable and unique across the installation:

    <workspace id>/<base model name>         a registered base model, e.g. "3/qwen2.5-0.5b-instruct"
    <workspace id>/artifacts/<artifact id>   a trained model artifact, e.g. "3/artifacts/12"
    ft:<base>:<workspace>:<suffix>:<job id>  a fine-tuning job's model (finetuning.selectors), and with
                                             ":ckpt-step-<step>" after it, one of its checkpoints

Base model names are unique within a workspace; artifact names (a run's name) need not be, so artifacts are named by
their id. The artifact form is matched first, so a base model literally named "artifacts/<digits>" is not reachable.
A user sees the models of the workspaces where they hold training.view; any other id answers "not found".
"""

import re
from dataclasses import dataclass
from pathlib import Path

from accounts.access import scope_to_capability
from training.models import BaseModel, ModelArtifact
from training.services.base_models import base_model_directory, model_directory

CAPABILITY = "training.view"
ARTIFACT_ID = re.compile(r"^(\d+)/artifacts/(\d+)$")
BASE_ID = re.compile(r"^(\d+)/(.+)$")


@dataclass(frozen=True)
class ServedModel:
    """A model the server can answer as: `base_dir` holds weights, tokenizer and chat template; `adapter_dir`, when set,
    is a peft adapter applied on top."""

    id: str
    created: int
    owned_by: str
    base_dir: Path
    adapter_dir: Path | None


def base_model_id(base_model: BaseModel) -> str:
    return f"{base_model.workspace_id}/{base_model.name}"


def artifact_model_id(artifact: ModelArtifact) -> str:
    return f"{artifact.workspace_id}/artifacts/{artifact.pk}"


def served_directories(model: BaseModel | ModelArtifact) -> tuple[Path, Path | None]:
    """(base_dir, adapter_dir) the server loads `model` from: an adapter is applied to its base; merged and full
    weights load on their own, with the tokenizer saved beside them."""
    if isinstance(model, BaseModel):
        return base_model_directory(model), None
    if model.kind == ModelArtifact.Kind.ADAPTER:
        return base_model_directory(model.base_model), model_directory(model.path)
    return model_directory(model.path), None


def _served_base(base_model: BaseModel) -> ServedModel:
    base_dir, adapter_dir = served_directories(base_model)
    return ServedModel(id=base_model_id(base_model), created=int(base_model.created_at.timestamp()),
                       owned_by=base_model.workspace.name, base_dir=base_dir, adapter_dir=adapter_dir)


def _served_artifact(artifact: ModelArtifact) -> ServedModel:
    base_dir, adapter_dir = served_directories(artifact)
    return ServedModel(id=artifact_model_id(artifact), created=int(artifact.created_at.timestamp()),
                       owned_by=artifact.workspace.name, base_dir=base_dir, adapter_dir=adapter_dir)


def _served_fine_tuned(model) -> ServedModel:
    return ServedModel(id=model.id, created=model.created, owned_by=model.owned_by,
                       base_dir=base_model_directory(model.base_model), adapter_dir=model_directory(model.adapter_path))


def served_model_list(*, user) -> list[ServedModel]:
    """Every model `user` may call, base models first, then artifacts, then fine-tuning jobs' models, each group
    oldest first (three queries)."""
    # The fine-tuning app builds on this one; imported here, where it is used, so neither imports the other first.
    from finetuning.selectors import fine_tuned_models_list

    base_models = scope_to_capability(BaseModel.objects.select_related("workspace"), user=user, capability=CAPABILITY)
    artifacts = scope_to_capability(ModelArtifact.objects.select_related("workspace", "base_model"), user=user,
                                    capability=CAPABILITY)
    return ([_served_base(row) for row in base_models.order_by("workspace_id", "created_at", "pk")]
            + [_served_artifact(row) for row in artifacts.order_by("workspace_id", "created_at", "pk")]
            + [_served_fine_tuned(model) for model in fine_tuned_models_list(user=user)])


def served_model_get(*, user, model_id: str) -> ServedModel | None:
    """The model named `model_id` if `user` may call it, else None (missing and forbidden look the same)."""
    if model_id.startswith("ft:"):
        from finetuning.selectors import fine_tuned_model_get

        model = fine_tuned_model_get(user=user, model_id=model_id)
        return _served_fine_tuned(model) if model is not None else None
    match = ARTIFACT_ID.match(model_id)
    if match:
        artifacts = scope_to_capability(ModelArtifact.objects.select_related("workspace", "base_model"), user=user,
                                        capability=CAPABILITY)
        artifact = artifacts.filter(workspace_id=int(match[1]), pk=int(match[2])).first()
        return _served_artifact(artifact) if artifact is not None else None
    match = BASE_ID.match(model_id)
    if match:
        base_models = scope_to_capability(
            BaseModel.objects.select_related("workspace"), user=user, capability=CAPABILITY
        )
        base_model = base_models.filter(workspace_id=int(match[1]), name=match[2]).first()
        return _served_base(base_model) if base_model is not None else None
    return None

"""Merging a LoRA adapter into its base model, for serving without peft: a new "merged" ModelArtifact.

Merging loads the base at full precision (a LoRA cannot be merged into a quantized base, so QLoRA adapters merge
into the original weights too), applies the adapter, folds it in with merge_and_unload and saves the result with the
tokenizer. Heavy on a big model, so it runs as a job on the "gpu" queue (training.tasks.model_artifact_merge_task).
"""

from django.db import transaction

from common.errors import ApplicationError
from common.history import history_record
from common.storage import workspace_storage_relative
from training.models import ModelArtifact
from training.services.base_models import base_model_directory, model_directory

MERGED_ROOT = "artifacts"


def _mergeable_check(artifact: ModelArtifact) -> None:
    if artifact.kind != ModelArtifact.Kind.ADAPTER:
        raise ApplicationError(
            f"model artifact {artifact.name!r} holds {artifact.get_kind_display().lower()}; only an adapter is merged",
            where="kind",
        )
    if artifact.run is not None and artifact.run.adapter == "prompt_tuning":
        raise ApplicationError(
            f"model artifact {artifact.name!r} is a prompt-tuning adapter: its virtual tokens have no "
            "weights to fold into the base",
            where="kind",
        )
    if ModelArtifact.objects.filter(source=artifact, kind=ModelArtifact.Kind.MERGED).exists():
        raise ApplicationError(f"model artifact {artifact.name!r} is already merged", where="kind", code="duplicate")


def model_artifact_merge_request(*, artifact: ModelArtifact, requested_by=None) -> ModelArtifact:
    """Check that `artifact` can be merged and queue the merge job after commit; returns the artifact."""
    _mergeable_check(artifact)
    from training.tasks import model_artifact_merge_task

    artifact_id = artifact.pk
    user_id = requested_by.pk if requested_by is not None and requested_by.is_authenticated else None
    history_record(actor=requested_by, target=artifact, verb="merge_requested", after={"artifact": artifact_id})
    transaction.on_commit(lambda: model_artifact_merge_task.enqueue(artifact_id=artifact_id, user_id=user_id))
    return artifact


def model_artifact_merge(*, artifact: ModelArtifact, merged_by=None) -> ModelArtifact:
    """Merge `artifact` (a LoRA adapter) into its base and register the merged weights as a new artifact linked to it.

    Writes <storage>/workspaces/<workspace id>/artifacts/<id>-merged/; the database rows are written only after the
    files are complete.
    """
    _mergeable_check(artifact)
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    base_dir = base_model_directory(artifact.base_model)
    relative = f"{workspace_storage_relative(artifact.workspace_id)}/{MERGED_ROOT}/{artifact.pk}-merged"
    out_dir = model_directory(relative)
    dtype = torch.bfloat16 if torch.cuda.is_available() and torch.cuda.is_bf16_supported() else torch.float32
    model = AutoModelForCausalLM.from_pretrained(base_dir, dtype=dtype)
    merged = PeftModel.from_pretrained(model, model_directory(artifact.path)).merge_and_unload()
    merged.save_pretrained(out_dir)
    AutoTokenizer.from_pretrained(base_dir).save_pretrained(out_dir)
    with transaction.atomic():
        result = ModelArtifact.objects.create(
            workspace=artifact.workspace,
            name=f"{artifact.name} (merged)"[:200],
            run=None,
            base_model=artifact.base_model,
            dataset_version=artifact.dataset_version,
            kind=ModelArtifact.Kind.MERGED,
            path=relative,
            is_partial=artifact.is_partial,
            source=artifact,
        )
        history_record(actor=merged_by, target=result, verb="merged",
                       after={"source": artifact.pk, "path": relative, "base_model": artifact.base_model_id})
    return result

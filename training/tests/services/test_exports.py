"""Exports of the tiny adapter, made by the real job and checked by loading them back."""

import json

import pytest
from safetensors import safe_open

from common.errors import ApplicationError
from common.models import HistoryEvent
from training.models import ModelExport
from training.services.base_models import base_model_directory, model_directory
from training.services.exports import model_export_request, vllm_command

def _export(artifact, format, user, run_jobs) -> ModelExport:
    """Request the export and run the real job. The worker closes the connection between jobs, which only a
    transactional test survives on PostgreSQL."""
    export = model_export_request(artifact=artifact, format=format, requested_by=user)
    run_jobs()
    export.refresh_from_db()
    return export


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_merged_bf16_export_is_safetensors_in_bf16_and_answers_as_the_adapter_does(
        tiny_artifact, users, run_jobs):
    export = _export(tiny_artifact, "merged_bf16", users["ml_engineer"], run_jobs)

    assert (export.status, export.error, export.is_verified) == (ModelExport.Status.SUCCEEDED, "", True)
    assert export.path == f"workspaces/{tiny_artifact.workspace_id}/exports/{tiny_artifact.pk}-merged_bf16"
    files = model_directory(export.path)
    with safe_open(files / "model.safetensors", framework="pt") as weights:
        dtypes = {str(weights.get_tensor(name).dtype) for name in weights.keys()}
    assert dtypes == {"torch.bfloat16"}
    assert (files / "tokenizer.json").is_file()
    assert not (files / "adapter_config.json").exists()
    assert export.verification["export_tokens"] == export.verification["source_tokens"]
    assert len(export.verification["source_tokens"]) == 12
    assert export.verification["runtime"] == "transformers, bfloat16"
    events = HistoryEvent.objects.filter(target_type="training.modelexport", target_id=export.pk).order_by("pk")
    verbs = list(events.values_list("verb", flat=True))
    assert verbs == ["export_requested", "exported"]


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_onnx_export_answers_in_onnxruntime_with_the_source_models_tokens(
        tiny_artifact, users, run_jobs):
    export = _export(tiny_artifact, "onnx", users["ml_engineer"], run_jobs)

    assert (export.status, export.error, export.is_verified) == (ModelExport.Status.SUCCEEDED, "", True)
    assert (model_directory(export.path) / "model.onnx").is_file()
    assert export.verification["runtime"].startswith("onnxruntime ")
    assert export.verification["export_text"] == export.verification["source_text"]
    assert len(export.verification["export_tokens"]) == 12


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_vllm_export_is_the_serve_command_of_the_base_with_the_adapter(
        tiny_artifact, users, run_jobs, tiny_adapter_dir):
    export = _export(tiny_artifact, "vllm", users["ml_engineer"], run_jobs)

    base_dir = base_model_directory(tiny_artifact.base_model)
    assert export.command == (f"vllm serve {base_dir} --enable-lora --lora-modules "
                              f"artifact-{tiny_artifact.pk}={tiny_adapter_dir}")
    assert (export.status, export.path, export.is_verified) == (ModelExport.Status.SUCCEEDED, "", True)
    assert json.loads((tiny_adapter_dir / "adapter_config.json").read_text())["r"] == 4


@pytest.mark.django_db
def test_vllm_command_asks_for_a_higher_lora_rank_and_quotes_paths():
    assert vllm_command(base_dir="/m/base model", adapters=[("a", "/m/a", 8), ("b", "/m/b", 64)]) == (
        "vllm serve '/m/base model' --enable-lora --lora-modules a=/m/a b=/m/b --max-lora-rank 64")
    assert vllm_command(base_dir="/m/merged", adapters=[]) == "vllm serve /m/merged"


@pytest.mark.django_db
def test_a_second_request_is_refused_while_a_failed_one_is_queued_again(tiny_artifact, users,
                                                                        django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        export = model_export_request(artifact=tiny_artifact, format="onnx", requested_by=users["ml_engineer"])
    with pytest.raises(ApplicationError) as caught:
        model_export_request(artifact=tiny_artifact, format="onnx")
    assert (caught.value.where, caught.value.code) == ("format", "conflict")
    assert caught.value.message == "model artifact 'tiny-tuned' already has a onnx export (queued)"
    ModelExport.objects.filter(pk=export.pk).update(status=ModelExport.Status.FAILED, error="disk full")
    with django_capture_on_commit_callbacks(execute=False):
        again = model_export_request(artifact=tiny_artifact, format="onnx")
    assert (again.pk, again.status, again.error) == (export.pk, ModelExport.Status.QUEUED, "")
    with pytest.raises(ApplicationError) as caught:
        model_export_request(artifact=tiny_artifact, format="gguf")
    assert caught.value.where == "format"
    assert ModelExport.objects.count() == 1

"""Exports of a model artifact that other runtimes load, each checked by loading it back.

- merged_bf16: the adapter folded into its base (or the weights as they are), saved as safetensors in bfloat16 with
  the tokenizer: what vLLM, TGI, llama.cpp's converter or transformers take.
- onnx: the merged model as one ONNX graph (input_ids, attention_mask → logits) for onnxruntime on a CPU, with the
  tokenizer beside it. Hugging Face Optimum's exporter (optimum-onnx) requires transformers < 4.58 and does not
  install beside our transformers 5, so the graph comes from torch.onnx's own exporter.
- vllm: no files, the exact `vllm serve` command for the artifact: the base with the adapter as a LoRA module, or the
  weights directory.

GGUF is not offered: no converter installs from the package registries as a maintained package (llama.cpp's
convert_hf_to_gguf.py ships with llama.cpp's sources only, and llama-cpp-python must be compiled).

The job (`model_export_run_task`) writes the files, then verifies them: the export and the source model (the base
with the adapter through transformers and peft, as the model server loads it) each answer VERIFY_PROMPT greedily for
VERIFY_TOKENS tokens, and the export is verified when the tokens are the same. A bfloat16 export is compared with the
source in bfloat16 too, since rounding the weights is the point of it, not a fault.
"""

import shlex

from django.db import transaction
from django.utils import timezone

from common.errors import ApplicationError
from common.history import history_record
from common.storage import workspace_storage_relative
from training.models import ModelArtifact, ModelExport
from training.services.base_models import base_model_directory, model_directory

EXPORT_ROOT = "exports"
VERIFY_PROMPT = [{"role": "user", "content": "How do I reset my password?"}]
VERIFY_TOKENS = 12
VLLM_DEFAULT_MAX_LORA_RANK = 16  # vLLM refuses adapters of a higher rank unless --max-lora-rank says so


def model_export_request(*, artifact: ModelArtifact, format: str, requested_by=None,
                         enqueue: bool = True) -> ModelExport:
    """Queue an export of `artifact` in `format` (a ModelExport.Format); a failed one is queued again. Raises
    ApplicationError for an unknown format, a prompt-tuning adapter, or an export already queued or made.
    enqueue=False leaves the running to the caller (the export_model command runs it in its own process)."""
    if format not in ModelExport.Format.values:
        raise ApplicationError(f"unknown export format {format!r}; expected one of "
                               f"{', '.join(ModelExport.Format.values)}", where="format")
    if artifact.run is not None and artifact.run.adapter == "prompt_tuning":
        raise ApplicationError(f"model artifact {artifact.name!r} is a prompt-tuning adapter: it has no weights to "
                               "merge and vLLM does not load it", where="format")
    with transaction.atomic():
        export = ModelExport.objects.select_for_update().filter(artifact=artifact, format=format).first()
        if export is not None and export.status != ModelExport.Status.FAILED:
            raise ApplicationError(f"model artifact {artifact.name!r} already has a {format} export "
                                   f"({export.get_status_display().lower()})", where="format", code="conflict")
        if export is None:
            export = ModelExport.objects.create(workspace=artifact.workspace, artifact=artifact, format=format,
                                                requested_by=requested_by if _is_user(requested_by) else None)
        else:
            export.status, export.error = ModelExport.Status.QUEUED, ""
            export.is_verified, export.verification = None, {}
            export.save(update_fields=["status", "error", "is_verified", "verification", "updated_at"])
        history_record(actor=requested_by, target=export, verb="export_requested",
                       after={"artifact": artifact.pk, "format": format})
        if enqueue:
            from training.tasks import model_export_run_task

            export_id = export.pk
            transaction.on_commit(lambda: model_export_run_task.enqueue(export_id=export_id))
    return export


def _is_user(user) -> bool:
    return user is not None and user.is_authenticated


def model_export_run(*, export: ModelExport) -> ModelExport:
    """Make the export's files (or command), verify them and record the outcome on the row: succeeded with
    is_verified, or failed with the reason. Preconditions: the export is queued (a row in another state is returned
    untouched, so a repeated job does nothing)."""
    with transaction.atomic():
        claimed = ModelExport.objects.filter(pk=export.pk, status=ModelExport.Status.QUEUED).update(
            status=ModelExport.Status.RUNNING, updated_at=timezone.now())
    if not claimed:
        return ModelExport.objects.get(pk=export.pk)
    artifact = export.artifact
    try:
        path, command = MAKERS[export.format](artifact)
        verification = _verify(artifact, export.format, path)
    except Exception as error:  # torch, transformers, peft and the ONNX exporter raise all kinds; all are terminal
        return _export_finish(export, status=ModelExport.Status.FAILED, error=f"{type(error).__name__}: {error}")
    return _export_finish(export, status=ModelExport.Status.SUCCEEDED, path=path, command=command,
                          verification=verification)


def _export_finish(export: ModelExport, *, status: str, path: str = "", command: str = "", error: str = "",
                   verification: dict | None = None) -> ModelExport:
    with transaction.atomic():
        export.status, export.path, export.command, export.error = status, path, command, error
        export.verification = verification or {}
        export.is_verified = verification["same"] if verification else None
        export.finished_at = timezone.now()
        export.save()
        history_record(actor=None, target=export, verb="exported" if status == ModelExport.Status.SUCCEEDED else
                       "export_failed", after={"status": status, "path": path, "is_verified": export.is_verified,
                                               "error": error})
    return export


# ---------------------------------------------------------------------------------------------------------------
# Making the exports


def _out_relative(artifact: ModelArtifact, format: str) -> str:
    return f"{workspace_storage_relative(artifact.workspace_id)}/{EXPORT_ROOT}/{artifact.pk}-{format}"


def _source_dirs(artifact: ModelArtifact):
    """(weights directory, adapter directory or None) of the artifact, as the model server loads it."""
    if artifact.kind == ModelArtifact.Kind.ADAPTER:
        return base_model_directory(artifact.base_model), model_directory(artifact.path)
    return model_directory(artifact.path), None


def _merged_model(artifact: ModelArtifact, dtype):
    from transformers import AutoModelForCausalLM

    weights_dir, adapter_dir = _source_dirs(artifact)
    model = AutoModelForCausalLM.from_pretrained(weights_dir, dtype=dtype)
    if adapter_dir is not None:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, adapter_dir).merge_and_unload()
    return model.eval()


def _save_tokenizer(artifact: ModelArtifact, out_dir) -> None:
    from transformers import AutoTokenizer

    AutoTokenizer.from_pretrained(_source_dirs(artifact)[0]).save_pretrained(out_dir)


def _make_merged_bf16(artifact: ModelArtifact) -> tuple[str, str]:
    import torch

    relative = _out_relative(artifact, ModelExport.Format.MERGED_BF16)
    out_dir = model_directory(relative)
    # Merged at full precision, then rounded once: merging in bfloat16 would round the adapter's product as well.
    model = _merged_model(artifact, torch.float32).to(torch.bfloat16)
    model.save_pretrained(out_dir, safe_serialization=True)
    _save_tokenizer(artifact, out_dir)
    return relative, ""


def _make_onnx(artifact: ModelArtifact) -> tuple[str, str]:
    import torch

    relative = _out_relative(artifact, ModelExport.Format.ONNX)
    out_dir = model_directory(relative)
    out_dir.mkdir(parents=True, exist_ok=True)
    model = _merged_model(artifact, torch.float32)

    class LogitsOnly(torch.nn.Module):
        """The model as the graph has it: input_ids and attention_mask in, logits out, no cache."""

        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, input_ids, attention_mask):
            return self.inner(input_ids=input_ids, attention_mask=attention_mask, use_cache=False).logits

    sample = torch.tensor([[1, 2, 3, 4]])
    axes = {0: "batch", 1: "sequence"}
    # The TorchScript-based exporter: the dynamo one needs onnxscript, one more dependency for the same graph.
    torch.onnx.export(LogitsOnly(model), (sample, torch.ones_like(sample)), str(out_dir / "model.onnx"),
                      input_names=["input_ids", "attention_mask"], output_names=["logits"],
                      dynamic_axes={"input_ids": axes, "attention_mask": axes, "logits": axes}, opset_version=17,
                      dynamo=False)
    model.config.save_pretrained(out_dir)
    _save_tokenizer(artifact, out_dir)
    return relative, ""


def vllm_command(*, base_dir, adapters: list[tuple[str, object, int]]) -> str:
    """`vllm serve` for `base_dir` with each (name, adapter directory, LoRA rank) as a LoRA module."""
    parts = ["vllm", "serve", shlex.quote(str(base_dir))]
    if adapters:
        parts += ["--enable-lora", "--lora-modules",
                  *(shlex.quote(f"{name}={directory}") for name, directory, _ in adapters)]
        rank = max(rank for _, _, rank in adapters)
        if rank > VLLM_DEFAULT_MAX_LORA_RANK:
            parts += ["--max-lora-rank", str(rank)]
    return " ".join(parts)


def _make_vllm(artifact: ModelArtifact) -> tuple[str, str]:
    import json

    weights_dir, adapter_dir = _source_dirs(artifact)
    if adapter_dir is None:
        return "", vllm_command(base_dir=weights_dir, adapters=[])
    rank = int(json.loads((adapter_dir / "adapter_config.json").read_text()).get("r") or 0)
    return "", vllm_command(base_dir=weights_dir, adapters=[(f"artifact-{artifact.pk}", adapter_dir, rank)])


MAKERS = {
    ModelExport.Format.MERGED_BF16: _make_merged_bf16,
    ModelExport.Format.ONNX: _make_onnx,
    ModelExport.Format.VLLM: _make_vllm,
}


# ---------------------------------------------------------------------------------------------------------------
# Verifying them


def _prompt_ids(tokenizer) -> list[int]:
    if getattr(tokenizer, "chat_template", None):
        text = tokenizer.apply_chat_template(VERIFY_PROMPT, tokenize=False, add_generation_prompt=True)
    else:
        text = VERIFY_PROMPT[-1]["content"]
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def _greedy_transformers(model, tokenizer, ids: list[int], stop_ids: list[int]) -> list[int]:
    import torch

    with torch.no_grad():
        inputs = torch.tensor([ids], device=model.device)
        output = model.generate(input_ids=inputs, attention_mask=torch.ones_like(inputs), max_new_tokens=VERIFY_TOKENS,
                                do_sample=False, eos_token_id=stop_ids or None, pad_token_id=tokenizer.pad_token_id)
    return output[0, len(ids):].tolist()


def _greedy_onnx(model_path, ids: list[int], stop_ids: list[int]) -> list[int]:
    """Greedy decoding with onnxruntime, the whole sequence each step (the graph has no cache: fine for one check)."""
    import numpy
    import onnxruntime

    session = onnxruntime.InferenceSession(str(model_path), providers=["CPUExecutionProvider"])
    sequence, produced = list(ids), []
    for _ in range(VERIFY_TOKENS):
        inputs = numpy.array([sequence], dtype=numpy.int64)
        logits = session.run(["logits"], {"input_ids": inputs, "attention_mask": numpy.ones_like(inputs)})[0]
        token = int(logits[0, -1].argmax())
        produced.append(token)
        sequence.append(token)
        if token in stop_ids:
            break
    return produced


def _verify(artifact: ModelArtifact, format: str, path: str) -> dict:
    import torch

    from training.runner.templates import stop_token_ids
    from training.services.generation import model_load

    weights_dir, adapter_dir = _source_dirs(artifact)
    source, tokenizer = model_load(base_dir=weights_dir, adapter_dir=adapter_dir)
    ids = _prompt_ids(tokenizer)
    stop_ids = stop_token_ids(tokenizer, source.generation_config)
    if format == ModelExport.Format.MERGED_BF16:
        source = source.to(torch.bfloat16)
    source_tokens = _greedy_transformers(source, tokenizer, ids, stop_ids)
    if format == ModelExport.Format.ONNX:
        export_tokens = _greedy_onnx(model_directory(path) / "model.onnx", ids, stop_ids)
        runtime = f"onnxruntime {__import__('onnxruntime').__version__}"
    elif format == ModelExport.Format.MERGED_BF16:
        from transformers import AutoModelForCausalLM

        exported = AutoModelForCausalLM.from_pretrained(model_directory(path), dtype=torch.bfloat16).eval()
        export_tokens = _greedy_transformers(exported, tokenizer, ids, stop_ids)
        runtime = "transformers, bfloat16"
    else:
        # vLLM needs a GPU and is not installed here: the directories the command names are loaded the way vLLM
        # reads them (weights, then the adapter as LoRA) with transformers and peft.
        reloaded, _ = model_load(base_dir=weights_dir, adapter_dir=adapter_dir)
        export_tokens = _greedy_transformers(reloaded, tokenizer, ids, stop_ids)
        runtime = "transformers + peft (the directories the command names; vLLM itself is not run here)"
    return {"prompt": VERIFY_PROMPT[-1]["content"], "source_tokens": source_tokens, "export_tokens": export_tokens,
            "source_text": tokenizer.decode(source_tokens, skip_special_tokens=True),
            "export_text": tokenizer.decode(export_tokens, skip_special_tokens=True),
            "runtime": runtime, "same": source_tokens == export_tokens}

"""What every method's runner shares: reading the exported rows, the Trainer arguments, and saving the outcome."""

import json
from pathlib import Path

from training.runner.config import RunConfig
from training.runner.files import ADAPTER_DIR, CHECKPOINTS_DIR, MODEL_DIR, RESULT_FILE


def rows_read(path: Path) -> list[dict]:
    """The rows of a JSON-lines file; a missing file is an empty split."""
    if not path.exists():
        return []
    rows = []
    with open(path, encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as error:
                raise ValueError(f"{path}:{number}: not valid JSON ({error.msg})") from error
    return rows


def dataset_build(rows: list[dict], columns: tuple[str, ...]):
    """A datasets.Dataset with the given columns (those present in any row).

    Built from columns rather than `Dataset.from_list`, which takes its columns from the first row only and would
    drop "tools" when the first conversation has none.
    """
    from datasets import Dataset

    present = sorted({key for row in rows for key in row} & set(columns))
    return Dataset.from_dict({column: [row.get(column) for row in rows] for column in present})


def quiet_progress() -> None:
    """Progress bars fill the log with carriage returns; metrics.jsonl carries the progress."""
    import datasets
    import transformers

    datasets.disable_progress_bars()
    transformers.utils.logging.disable_progress_bar()


def base_model_check(config: RunConfig) -> None:
    # transformers reads a missing directory as a hub repo id and says so obscurely; say it plainly.
    if not (Path(config.base_model_path) / "config.json").is_file():
        raise FileNotFoundError(f"no config.json in {config.base_model_path}")


def run_chat_plan(config: RunConfig, tokenizer, recorder=None):
    """The run's training.runner.templates.ChatPlan; the traps it cannot fix go to `recorder` (a WarningsRecorder)."""
    from datetime import date

    from training.runner.templates import chat_plan, template_text

    if not template_text(tokenizer):
        raise ValueError(
            f"the tokenizer in {config.base_model_path} has no chat template, so conversations cannot be written"
        )
    plan = chat_plan(tokenizer, keep_system_prompt=config.keep_system_prompt, keep_reasoning=config.keep_reasoning,
                     day=date.fromisoformat(config.template_date) if config.template_date else None)
    if recorder is not None and "strips_reasoning" in plan.unfixed:
        recorder.add(
            "whetstone",
            "the chat template deletes the reasoning of every assistant turn and no training template "
            "that keeps it is known: the final turns are trained without their reasoning",
        )
    return plan


def trainer_arguments(config: RunConfig, out_dir: Path, *, has_validation: bool, on_gpu: bool, bf16: bool) -> dict:
    """The transformers.TrainingArguments fields every TRL config takes, as keyword arguments."""
    return {
        "output_dir": str(out_dir / CHECKPOINTS_DIR),
        "learning_rate": config.learning_rate,
        "num_train_epochs": config.num_train_epochs,
        "max_steps": config.max_steps,
        "per_device_train_batch_size": config.per_device_train_batch_size,
        "per_device_eval_batch_size": config.per_device_train_batch_size,
        "gradient_accumulation_steps": config.gradient_accumulation_steps,
        "logging_steps": config.logging_steps,
        "eval_strategy": "steps" if has_validation else "no",
        "eval_steps": config.eval_steps if has_validation else None,
        # Without save_steps, checkpoints only when cancelled (the callback asks for one); the model is saved at the
        # end.
        "save_strategy": "steps" if config.save_steps > 0 else "no",
        "save_steps": config.save_steps if config.save_steps > 0 else 500,
        "save_total_limit": 2,
        "seed": config.seed,
        "data_seed": config.seed,
        "bf16": bf16,
        "use_cpu": not on_gpu,
        # Checkpointing trades compute for memory; a small model on a CPU has memory to spare. Prefix tuning hands its
        # keys and values to the model as a KV cache, which recomputed layers would extend twice (peft issue #869).
        "gradient_checkpointing": on_gpu and config.adapter != "prefix_tuning",
        "report_to": "none",
        "disable_tqdm": True,
    }


def peak_memory() -> dict:
    """The run's peak memory: resident memory of this process and, on GPUs, what torch allocated at most on any of
    them; `peak_memory_bytes` is the GPU figure when there is one (what limits the run there), else the resident one.
    The scorecard's resource dimension reads it (releases.scoring)."""
    import resource
    import sys

    import torch

    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * (1 if sys.platform == "darwin" else 1024)
    gpu = (max(torch.cuda.max_memory_allocated(i) for i in range(torch.cuda.device_count()))
           if torch.cuda.is_available() else 0)
    return {"peak_rss_bytes": rss, "peak_gpu_bytes": gpu, "peak_memory_bytes": gpu or rss}


def outcome_save(*, trainer, tokenizer, callback, outcome, config: RunConfig, out_dir: Path) -> dict:
    """Save the trained adapter (or, for full fine-tuning, the whole model) with the tokenizer; write and return
    result.json."""
    kind = "full" if config.adapter == "full" else "adapter"
    artifact_dir = out_dir / (MODEL_DIR if kind == "full" else ADAPTER_DIR)
    trainer.save_model(str(artifact_dir))
    if trainer.is_world_process_zero():
        tokenizer.save_pretrained(str(artifact_dir))
    result = {
        "global_step": trainer.state.global_step,
        "cancelled": callback.cancelled,
        "train_loss": outcome.training_loss,
        "train_runtime": outcome.metrics.get("train_runtime"),
        "artifact_kind": kind,
        "artifact_dir": str(artifact_dir),
        "adapter_dir": str(artifact_dir),
        **peak_memory(),
    }
    if trainer.is_world_process_zero():
        (out_dir / RESULT_FILE).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return result

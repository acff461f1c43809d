"""Supervised fine-tuning: config → TRL dataset → SFTTrainer → adapter (or full model) on disk.

Inputs:  data_dir/train.jsonl (required) and data_dir/validation.jsonl (optional), one {"messages": [...]} per line
         (optionally with "tools"), exactly as datahub.export writes them.
Outputs: out_dir/adapter/        the trained adapter and the tokenizer (loads with peft's PeftModel), or
         out_dir/model/          for full fine-tuning, the whole model
         out_dir/checkpoints/    a resumable checkpoint when the run was cancelled
         out_dir/metrics.jsonl   the Trainer's logs, line by line, as they happen
         out_dir/result.json     {"global_step", "cancelled", "train_loss", "artifact_kind", "artifact_dir"}
"""

from pathlib import Path

from training.runner.common import (
    base_model_check,
    dataset_build,
    outcome_save,
    quiet_progress,
    rows_read,
    trainer_arguments,
)
from training.runner.config import RunConfig

COLUMNS = ("messages", "tools")


def main(config: RunConfig, data_dir: Path, out_dir: Path) -> dict:
    """Train `config`'s base model on data_dir's splits and write the result under out_dir; return the result.

    Precondition: data_dir/train.jsonl has at least one conversation.
    """
    from trl import SFTConfig, SFTTrainer

    from training.runner.batching import trainer_batching
    from training.runner.callbacks import PlatformCallback
    from training.runner.models import device_precision, model_prepare

    if config.method != "sft":
        raise ValueError(f"method {config.method!r} is not trained by the SFT runner")
    if config.packing and config.adapter == "prompt_tuning":
        raise ValueError("packing needs each conversation's own position ids, which prompt tuning ignores")
    quiet_progress()
    data_dir, out_dir = Path(data_dir), Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    base_model_check(config)
    train_rows = rows_read(data_dir / "train.jsonl")
    validation_rows = rows_read(data_dir / "validation.jsonl")
    if not train_rows:
        raise ValueError(f"{data_dir / 'train.jsonl'}: no training conversations")

    on_gpu, bf16 = device_precision()
    model, tokenizer, peft_config = model_prepare(config)
    has_validation = bool(validation_rows)
    args = SFTConfig(
        **trainer_arguments(config, out_dir, has_validation=has_validation, on_gpu=on_gpu, bf16=bf16),
        max_length=config.max_length,
        assistant_only_loss=config.assistant_only_loss,
        # Best-fit decreasing packing; TRL gives each packed conversation its own position ids (padding-free).
        packing=config.packing,
    )
    callback = PlatformCallback(out_dir)
    trainer = SFTTrainer(
        model=model,
        args=args,
        train_dataset=dataset_build(train_rows, COLUMNS),
        eval_dataset=dataset_build(validation_rows, COLUMNS) if has_validation else None,
        processing_class=tokenizer,
        peft_config=peft_config,
        callbacks=[callback] if config.stream_metrics else [],
    )
    # Batches without padding (training.runner.batching): the same tokens learned, none computed for nothing.
    # peft's prompt tuning drops position ids (and puts its virtual tokens before each row), so it keeps padded batches.
    trainer_batching(trainer, packing=config.packing, padding_free=config.padding_free and config.adapter != "prompt_tuning")
    outcome = trainer.train(resume_from_checkpoint=config.resume_from_checkpoint)
    # The Trainer evaluates at the last step only when it falls on eval_steps; the final eval_loss is always wanted.
    if has_validation and not callback.cancelled and callback.last_evaluated_step != trainer.state.global_step:
        trainer.evaluate()
    return outcome_save(trainer=trainer, tokenizer=tokenizer, callback=callback, outcome=outcome, config=config, out_dir=out_dir)

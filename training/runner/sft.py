"""Supervised fine-tuning with a LoRA adapter: config → TRL dataset → SFTTrainer → adapter on disk.

Inputs:  data_dir/train.jsonl (required) and data_dir/validation.jsonl (optional), one {"messages": [...]} per line
         (optionally with "tools"), exactly as datahub.export writes them.
Outputs: out_dir/adapter/        the trained LoRA adapter and the tokenizer (loads with peft's PeftModel)
         out_dir/checkpoints/    a resumable checkpoint when the run was cancelled
         out_dir/metrics.jsonl   the Trainer's logs, line by line, as they happen
         out_dir/result.json     {"global_step", "cancelled", "train_loss", "adapter_dir"}
"""

import json
from pathlib import Path

from training.runner.config import RunConfig
from training.runner.files import ADAPTER_DIR, CHECKPOINTS_DIR, RESULT_FILE


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


def dataset_build(rows: list[dict]):
    """A datasets.Dataset in TRL's conversational format.

    Built from columns rather than `Dataset.from_list`, which takes its columns from the first row only and would
    drop "tools" when the first conversation has none.
    """
    from datasets import Dataset

    columns = sorted({key for row in rows for key in row} & {"messages", "tools"})
    return Dataset.from_dict({column: [row.get(column) for row in rows] for column in columns})


def main(config: RunConfig, data_dir: Path, out_dir: Path) -> dict:
    """Train `config`'s base model on data_dir's splits and write the adapter under out_dir; return the result.

    Precondition: data_dir/train.jsonl has at least one conversation.
    """
    import datasets
    import torch
    import transformers
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    from training.runner.callbacks import PlatformCallback

    if config.method != "sft":
        raise ValueError(f"method {config.method!r} is not supported by this runner; use 'sft'")
    if config.adapter != "lora":
        raise ValueError(f"adapter {config.adapter!r} is not supported by this runner; use 'lora'")
    # Progress bars fill the log with carriage returns; metrics.jsonl carries the progress.
    datasets.disable_progress_bars()
    transformers.utils.logging.disable_progress_bar()
    data_dir, out_dir = Path(data_dir), Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)

    # transformers reads a missing directory as a hub repo id and says so obscurely; say it plainly.
    if not (Path(config.base_model_path) / "config.json").is_file():
        raise FileNotFoundError(f"no config.json in {config.base_model_path}")
    train_rows = rows_read(data_dir / "train.jsonl")
    validation_rows = rows_read(data_dir / "validation.jsonl")
    if not train_rows:
        raise ValueError(f"{data_dir / 'train.jsonl'}: no training conversations")

    on_gpu = torch.cuda.is_available()
    bf16 = on_gpu and torch.cuda.is_bf16_supported()
    tokenizer = AutoTokenizer.from_pretrained(config.base_model_path)
    model = AutoModelForCausalLM.from_pretrained(config.base_model_path, dtype=torch.bfloat16 if bf16 else torch.float32)

    has_validation = bool(validation_rows)
    args = SFTConfig(
        output_dir=str(out_dir / CHECKPOINTS_DIR),
        learning_rate=config.learning_rate,
        num_train_epochs=config.num_train_epochs,
        max_steps=config.max_steps,
        per_device_train_batch_size=config.per_device_train_batch_size,
        per_device_eval_batch_size=config.per_device_train_batch_size,
        gradient_accumulation_steps=config.gradient_accumulation_steps,
        max_length=config.max_length,
        assistant_only_loss=config.assistant_only_loss,
        logging_steps=config.logging_steps,
        eval_strategy="steps" if has_validation else "no",
        eval_steps=config.eval_steps if has_validation else None,
        # Checkpoints only when cancelled (the callback asks for one); the adapter is saved at the end.
        save_strategy="no",
        seed=config.seed,
        data_seed=config.seed,
        bf16=bf16,
        use_cpu=not on_gpu,
        # Checkpointing trades compute for memory; a small model on a CPU has memory to spare.
        gradient_checkpointing=on_gpu,
        report_to="none",
        disable_tqdm=True,
    )
    peft_config = LoraConfig(
        r=config.lora_r,
        lora_alpha=config.lora_alpha,
        lora_dropout=config.lora_dropout,
        target_modules="all-linear",
        task_type="CAUSAL_LM",
    )
    callback = PlatformCallback(out_dir)
    trainer = SFTTrainer(
        model=model,
        args=args,
        train_dataset=dataset_build(train_rows),
        eval_dataset=dataset_build(validation_rows) if has_validation else None,
        processing_class=tokenizer,
        peft_config=peft_config,
        callbacks=[callback],
    )
    outcome = trainer.train(resume_from_checkpoint=config.resume_from_checkpoint)
    # The Trainer evaluates at the last step only when it falls on eval_steps; the final eval_loss is always wanted.
    if has_validation and not callback.cancelled and callback.last_evaluated_step != trainer.state.global_step:
        trainer.evaluate()

    adapter_dir = out_dir / ADAPTER_DIR
    trainer.save_model(str(adapter_dir))
    if trainer.is_world_process_zero():
        tokenizer.save_pretrained(str(adapter_dir))
    result = {
        "global_step": trainer.state.global_step,
        "cancelled": callback.cancelled,
        "train_loss": outcome.training_loss,
        "adapter_dir": str(adapter_dir),
    }
    if trainer.is_world_process_zero():
        (out_dir / RESULT_FILE).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return result

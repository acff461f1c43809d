"""Supervised fine-tuning: config → TRL dataset → SFTTrainer → adapter (or full model) on disk.

Inputs:  data_dir/train.jsonl (required) and data_dir/validation.jsonl (optional), one {"messages": [...]} per line
         (optionally with "tools"), exactly as datahub.export writes them; {"prompt", "completion"} rows work too.
         Each row is tokenized by training.runner.encoding (the launch page's preview shows the same tokens) and handed
         to TRL as {"input_ids", "labels"}: by default only the assistant's tokens are learned.
Outputs: out_dir/adapter/        the trained adapter and the tokenizer (loads with peft's PeftModel), or
         out_dir/model/          for full fine-tuning, the whole model
         out_dir/checkpoints/    a resumable checkpoint when the run was cancelled
         out_dir/metrics.jsonl   the Trainer's logs, line by line, as they happen
         out_dir/warnings.jsonl  TRL's warnings about the data, and the runner's (training.runner.notices)
         out_dir/result.json     {"global_step", "cancelled", "train_loss", "artifact_kind", "artifact_dir"}
"""

from pathlib import Path

from training.runner.common import (
    base_model_check,
    outcome_save,
    quiet_progress,
    rows_read,
    run_chat_plan,
    trainer_arguments,
)
from training.runner.config import PROMPT_LEARNING_ADAPTERS, RunConfig
from training.runner.notices import warnings_recorded


def dataset_encode(tokenizer, rows: list[dict], plan, *, assistant_only_loss: bool, path: Path):
    """A datasets.Dataset of {"input_ids", "labels"}, one per row (training.runner.encoding). A row the chat template
    cannot write consistently fails the run, naming the row."""
    from datasets import Dataset

    from training.runner.encoding import TemplateMismatch, row_prepare, sft_encode

    columns: dict[str, list] = {"input_ids": [], "labels": []}
    for number, row in enumerate(rows, start=1):
        try:
            encoded = sft_encode(tokenizer, row_prepare(row, plan), plan, assistant_only_loss=assistant_only_loss)
        except TemplateMismatch as error:
            raise ValueError(f"{path}, row {number}: {error}") from error
        columns["input_ids"].append(encoded["input_ids"])
        columns["labels"].append(encoded["labels"])
    return Dataset.from_dict(columns)


def trainer_build(config: RunConfig, data_dir: Path, out_dir: Path, recorder=None):
    """(trainer, callback, tokenizer): everything ready to train, the datasets already prepared by TRL.

    Precondition: data_dir/train.jsonl has at least one conversation.
    """
    from trl import SFTConfig, SFTTrainer

    from training.runner.batching import trainer_batching
    from training.runner.callbacks import PlatformCallback
    from training.runner.models import device_precision, model_prepare

    if config.method != "sft":
        raise ValueError(f"method {config.method!r} is not trained by the SFT runner")
    if config.packing and config.adapter in PROMPT_LEARNING_ADAPTERS:
        raise ValueError(f"packing needs each conversation's own position ids, which {config.adapter} ignores")
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
    plan = run_chat_plan(config, tokenizer, recorder)
    train = dataset_encode(tokenizer, train_rows, plan, assistant_only_loss=config.assistant_only_loss,
                           path=data_dir / "train.jsonl")
    validation = dataset_encode(tokenizer, validation_rows, plan, assistant_only_loss=config.assistant_only_loss,
                                path=data_dir / "validation.jsonl") if validation_rows else None
    turn_end = tokenizer.convert_tokens_to_ids(plan.facts.turn_end) if plan.facts.turn_end else None
    if (
        recorder is not None
        and config.assistant_only_loss
        and turn_end is not None
        and turn_end not in train[0]["labels"]
    ):
        recorder.add("whetstone", f"the chat template leaves the end-of-turn token {plan.facts.turn_end!r} out of the "
                                  "assistant's learned tokens: the model may not learn to stop")
    args = SFTConfig(
        **trainer_arguments(config, out_dir, has_validation=validation is not None, on_gpu=on_gpu, bf16=bf16),
        max_length=config.max_length,
        # The labels already say what is learned (training.runner.encoding); TRL truncates, drops rows with nothing
        # left to learn and packs.
        assistant_only_loss=False,
        # Best-fit decreasing packing; TRL gives each packed conversation its own position ids (padding-free).
        packing=config.packing,
    )
    callback = PlatformCallback(out_dir)
    trainer = SFTTrainer(
        model=model,
        args=args,
        train_dataset=train,
        eval_dataset=validation,
        processing_class=tokenizer,
        peft_config=peft_config,
        callbacks=[callback] if config.stream_metrics else [],
    )
    # Batches without padding (training.runner.batching): the same tokens learned, none computed for nothing.
    # peft's prompt learning drops position ids (and puts its virtual tokens, or keys and values, before each row),
    # so it keeps padded batches.
    trainer_batching(
        trainer, packing=config.packing,
        padding_free=config.padding_free and config.adapter not in PROMPT_LEARNING_ADAPTERS,
    )
    return trainer, callback, tokenizer


def main(config: RunConfig, data_dir: Path, out_dir: Path) -> dict:
    """Train `config`'s base model on data_dir's splits and write the result under out_dir; return the result.

    Precondition: data_dir/train.jsonl has at least one conversation.
    """
    with warnings_recorded(out_dir) as recorder:
        trainer, callback, tokenizer = trainer_build(config, data_dir, out_dir, recorder)
        outcome = trainer.train(resume_from_checkpoint=config.resume_from_checkpoint)
        # The Trainer evaluates at the last step only when it falls on eval_steps; the final eval_loss is always wanted.
        if (
            trainer.eval_dataset is not None
            and not callback.cancelled
            and callback.last_evaluated_step != trainer.state.global_step
        ):
            trainer.evaluate()
        return outcome_save(trainer=trainer, tokenizer=tokenizer, callback=callback, outcome=outcome, config=config,
                            out_dir=Path(out_dir))

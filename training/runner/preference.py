"""Preference tuning: config → TRL dataset → DPOTrainer or KTOTrainer → adapter (or full model) on disk.

dpo  data_dir/*.jsonl rows {"prompt": [messages], "chosen": [message], "rejected": [message]}
kto  data_dir/*.jsonl rows {"prompt": [messages], "completion": [message], "label": true | false}
Both conversational, as datahub.export writes them. With an adapter, the reference model is the base with the
adapter switched off (no second copy in memory); with full fine-tuning TRL keeps a frozen copy. The outputs are
the SFT runner's (see training.runner.sft); metrics.jsonl also carries rewards/* and logps/*.
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

COLUMNS = {"dpo": ("prompt", "chosen", "rejected"), "kto": ("prompt", "completion", "label")}


def main(config: RunConfig, data_dir: Path, out_dir: Path) -> dict:
    """Train `config`'s base model on data_dir's preference (dpo) or like/dislike (kto) rows; return the result.

    Precondition: data_dir/train.jsonl has at least one row of the method's format; KTO needs a batch size of 2 or
    more (its KL term compares completions within a batch).
    """
    from trl import DPOConfig, DPOTrainer, KTOConfig, KTOTrainer

    from training.runner.callbacks import PlatformCallback
    from training.runner.models import device_precision, model_prepare

    if config.method not in COLUMNS:
        raise ValueError(f"method {config.method!r} is not trained by the preference runner")
    quiet_progress()
    data_dir, out_dir = Path(data_dir), Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    base_model_check(config)
    columns = COLUMNS[config.method]
    train_rows = rows_read(data_dir / "train.jsonl")
    validation_rows = rows_read(data_dir / "validation.jsonl")
    if not train_rows:
        raise ValueError(f"{data_dir / 'train.jsonl'}: no training rows")
    missing = [column for column in columns if column not in train_rows[0]]
    if missing:
        raise ValueError(f"{data_dir / 'train.jsonl'}:1: {config.method} rows need {', '.join(columns)}; missing {missing[0]}")

    on_gpu, bf16 = device_precision()
    model, tokenizer, peft_config = model_prepare(config)
    has_validation = bool(validation_rows)
    common = trainer_arguments(config, out_dir, has_validation=has_validation, on_gpu=on_gpu, bf16=bf16)
    if config.method == "dpo":
        args, trainer_class = DPOConfig(**common, beta=config.beta, max_length=config.max_length), DPOTrainer
    else:
        args, trainer_class = KTOConfig(**common, beta=config.beta, max_length=config.max_length), KTOTrainer
    callback = PlatformCallback(out_dir)
    trainer = trainer_class(
        model=model,
        args=args,
        train_dataset=dataset_build(train_rows, columns),
        eval_dataset=dataset_build(validation_rows, columns) if has_validation else None,
        processing_class=tokenizer,
        peft_config=peft_config,
        callbacks=[callback] if config.stream_metrics else [],
    )
    outcome = trainer.train(resume_from_checkpoint=config.resume_from_checkpoint)
    if has_validation and not callback.cancelled and callback.last_evaluated_step != trainer.state.global_step:
        trainer.evaluate()
    return outcome_save(trainer=trainer, tokenizer=tokenizer, callback=callback, outcome=outcome, config=config, out_dir=out_dir)

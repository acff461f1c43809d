"""Preference tuning: config → TRL dataset → DPOTrainer or KTOTrainer → adapter (or full model) on disk.

dpo  data_dir/*.jsonl rows {"prompt": [messages], "chosen": [message], "rejected": [message]}
kto  data_dir/*.jsonl rows {"prompt": [messages], "completion": [message], "label": true | false}
Both conversational, as datahub.export writes them. The rows get the chat plan's fixes (training.runner.encoding), TRL
tokenizes them with the plan's template, and the result is checked, row by row, against the token ids the launch page's
preview shows (dataset_check) before a step is taken. With an adapter, the reference model is the base with the adapter
switched off (no second copy in memory); with full fine-tuning TRL keeps a frozen copy. The outputs are the SFT runner's
(see training.runner.sft); metrics.jsonl also carries rewards/* and logps/*.
"""

from pathlib import Path

from training.runner.common import (
    base_model_check,
    dataset_build,
    outcome_save,
    quiet_progress,
    rows_read,
    run_chat_plan,
    trainer_arguments,
)
from training.runner.config import RunConfig
from training.runner.notices import warnings_recorded

COLUMNS = {"dpo": ("prompt", "chosen", "rejected"), "kto": ("prompt", "completion", "label")}


def dataset_check(dataset, tokenizer, rows: list[dict], plan, *, max_length: int, path: Path, recorder=None) -> None:
    """The trainer's prepared `dataset` holds, row for row, the token ids training.runner.encoding gives (the ones the
    launch page's preview shows); raises ValueError at the first row where it does not. TRL drops rows whose prompt
    alone fills max_length; so does the comparison. Rows whose prompt is not a prefix of prompt + answer are counted
    for `recorder`."""
    from training.runner.encoding import preference_encode

    expected, cut = [], 0
    for row in rows:
        encoded = preference_encode(tokenizer, row, plan)
        cut += bool(encoded.pop("prompt_cut"))
        if len(encoded["prompt_ids"]) < max_length:
            expected.append(encoded)
    if len(expected) != len(dataset):
        raise ValueError(f"{path}: the trainer kept {len(dataset)} rows where {len(expected)} were expected")
    for number, (wanted, prepared) in enumerate(zip(expected, dataset), start=1):
        differing = [key for key, ids in wanted.items() if list(prepared[key]) != ids]
        if differing:
            raise ValueError(
                f"{path}, row {number}: the trainer's {differing[0]} differ from the tokens the preview shows"
            )
    if cut and recorder is not None:
        recorder.add(
            "whetstone",
            f"{cut} of {len(rows)} rows in {path.name}: the prompt does not tokenise as the start of "
            "prompt + answer, so the end of the prompt is trained as part of the answers",
        )


def trainer_build(config: RunConfig, data_dir: Path, out_dir: Path, recorder=None):
    """(trainer, callback, tokenizer): everything ready to train, the datasets prepared by TRL and checked against
    training.runner.encoding (dataset_check).

    Precondition: data_dir/train.jsonl has at least one row of the method's format; KTO needs a batch size of 2 or
    more (its KL term compares completions within a batch).
    """
    from trl import DPOConfig, DPOTrainer, KTOConfig, KTOTrainer

    from training.runner.callbacks import PlatformCallback
    from training.runner.encoding import row_prepare
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
        raise ValueError(
            f"{data_dir / 'train.jsonl'}:1: {config.method} rows need {', '.join(columns)}; missing {missing[0]}"
        )

    on_gpu, bf16 = device_precision()
    model, tokenizer, peft_config = model_prepare(config)
    plan = run_chat_plan(config, tokenizer, recorder)
    # TRL tokenizes with the tokenizer's template: the plan's (TRL's training copy, ours, or the model's own), for the
    # construction only: the tokenizer saved beside the trained model keeps the model's own template.
    own_template, tokenizer.chat_template = tokenizer.chat_template, plan.chat_template
    train_rows = [row_prepare(row, plan) for row in train_rows]
    validation_rows = [row_prepare(row, plan) for row in validation_rows]
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
    tokenizer.chat_template = own_template
    dataset_check(trainer.train_dataset, tokenizer, train_rows, plan, max_length=config.max_length,
                  path=data_dir / "train.jsonl", recorder=recorder)
    if has_validation:
        dataset_check(trainer.eval_dataset, tokenizer, validation_rows, plan, max_length=config.max_length,
                      path=data_dir / "validation.jsonl")
    return trainer, callback, tokenizer


def main(config: RunConfig, data_dir: Path, out_dir: Path) -> dict:
    """Train `config`'s base model on data_dir's preference (dpo) or like/dislike (kto) rows; return the result."""
    with warnings_recorded(out_dir) as recorder:
        trainer, callback, tokenizer = trainer_build(config, data_dir, out_dir, recorder)
        outcome = trainer.train(resume_from_checkpoint=config.resume_from_checkpoint)
        if (
            trainer.eval_dataset is not None
            and not callback.cancelled
            and callback.last_evaluated_step != trainer.state.global_step
        ):
            trainer.evaluate()
        return outcome_save(trainer=trainer, tokenizer=tokenizer, callback=callback, outcome=outcome, config=config,
                            out_dir=Path(out_dir))

"""Reinforcement fine-tuning with graders: config → prompts with references → TRL's GRPOTrainer → adapter (or full
model) on disk.

data_dir/train.jsonl rows, either as datahub.export writes conversations, {"messages": [..., final assistant reply]}
(the prompt is every turn before the final reply, the reference is that reply), or {"prompt": [messages],
"reference": text}. For each prompt the trainer samples `num_generations` answers; every grader of
`config.reward_graders` (graders.grading, Django-free) scores each answer against the row's reference, and the answers
are pushed toward those above their group's mean. TRL logs reward, rewards/<grader>/mean and std, kl, entropy,
completions/mean_length and completions/clipped_ratio with the loss, and the platform's callback streams them to
metrics.jsonl. A grader's failures (a crash, a timeout in the sandbox) score 0; each distinct reason is written once
to warnings.jsonl. The validation split is not used: scoring it would mean generating for it at every evaluation.
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
from training.runner.config import RunConfig
from training.runner.notices import warnings_recorded

REASONS_RECORDED_MAX = 20


def prompt_rows(rows: list[dict], path: Path) -> list[dict]:
    """{"prompt": [messages], "reference": text} per row; raises ValueError naming the first row that has neither
    form, or whose conversation does not end with an assistant reply after a user turn."""
    prepared = []
    for number, row in enumerate(rows, start=1):
        if isinstance(row.get("prompt"), list) and isinstance(row.get("reference"), str):
            prepared.append({"prompt": row["prompt"], "reference": row["reference"]})
            continue
        messages = row.get("messages")
        if not isinstance(messages, list) or len(messages) < 2 or messages[-1].get("role") != "assistant" \
                or messages[-2].get("role") != "user":
            raise ValueError(f"{path}:{number}: GRPO rows need a conversation ending with a user turn and the "
                             "assistant's reference reply, or a prompt and a reference")
        prepared.append({"prompt": messages[:-1], "reference": messages[-1].get("content") or ""})
    return prepared


def completion_text(completion) -> str:
    """The text of one completion: TRL gives a conversational prompt's completion as [{"role", "content"}]."""
    if isinstance(completion, list):
        return "".join(message.get("content") or "" for message in completion if isinstance(message, dict))
    return str(completion)


def reward_function(definition: dict, recorder=None):
    """A TRL reward function for one grader: (prompts, completions, reference, ...) → one score per completion, named
    after the grader so TRL logs rewards/<name>/mean."""
    from graders.grading.scoring import grade_many, sample_of

    recorded: set[str] = set()

    def reward(prompts, completions, reference, **kwargs) -> list[float]:
        pairs = [(sample_of(completion_text(completion)), {"reference": answer, "prompt": prompt})
                 for prompt, completion, answer in zip(prompts, completions, reference)]
        grades = grade_many(definition, pairs)
        for grade in grades:
            if grade.reason and grade.reason not in recorded and len(recorded) < REASONS_RECORDED_MAX:
                recorded.add(grade.reason)
                if recorder is not None:
                    recorder.add("grader", f"{definition['name']}: {grade.reason} (scored 0)")
        return [grade.score for grade in grades]

    reward.__name__ = definition["name"]
    return reward


def trainer_build(config: RunConfig, data_dir: Path, out_dir: Path, recorder=None):
    """(trainer, callback, tokenizer, own_template): everything ready to train. Precondition: config.reward_graders
    holds at least one checked definition the runner can call (graders.grading.definitions.RUNNER_KINDS)."""
    from trl import GRPOConfig, GRPOTrainer

    from graders.grading.definitions import definition_check
    from training.runner.callbacks import PlatformCallback
    from training.runner.common import dataset_build
    from training.runner.encoding import row_prepare
    from training.runner.models import device_precision, model_prepare

    quiet_progress()
    data_dir, out_dir = Path(data_dir), Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    base_model_check(config)
    if not config.reward_graders:
        raise ValueError("a GRPO run needs at least one grader in reward_graders")
    definitions = [definition_check(definition) for definition in config.reward_graders]
    rows = prompt_rows(rows_read(data_dir / "train.jsonl"), data_dir / "train.jsonl")
    if not rows:
        raise ValueError(f"{data_dir / 'train.jsonl'}: no training rows")
    on_gpu, bf16 = device_precision()
    model, tokenizer, peft_config = model_prepare(config)
    plan = run_chat_plan(config, tokenizer, recorder)
    rows = [{**row_prepare({"prompt": row["prompt"]}, plan), "reference": row["reference"]} for row in rows]
    # The plan's template writes the prompts while training; the model's own is saved beside the result.
    own_template, tokenizer.chat_template = tokenizer.chat_template, plan.chat_template
    common = trainer_arguments(config, out_dir, has_validation=False, on_gpu=on_gpu, bf16=bf16)
    args = GRPOConfig(**common, num_generations=config.num_generations,
                      max_completion_length=config.max_completion_length, temperature=config.temperature,
                      beta=config.kl_beta, loss_type=config.loss_type)
    callback = PlatformCallback(out_dir)
    trainer = GRPOTrainer(
        model=model,
        reward_funcs=[reward_function(definition, recorder) for definition in definitions],
        args=args,
        train_dataset=dataset_build(rows, ("prompt", "reference")),
        processing_class=tokenizer,
        peft_config=peft_config,
        callbacks=[callback] if config.stream_metrics else [],
    )
    return trainer, callback, tokenizer, own_template


def main(config: RunConfig, data_dir: Path, out_dir: Path) -> dict:
    """Train `config`'s base model with GRPO on data_dir's prompts, rewarded by its graders; return the result."""
    with warnings_recorded(out_dir) as recorder:
        trainer, callback, tokenizer, own_template = trainer_build(config, data_dir, out_dir, recorder)
        outcome = trainer.train(resume_from_checkpoint=config.resume_from_checkpoint)
        tokenizer.chat_template = own_template
        return outcome_save(trainer=trainer, tokenizer=tokenizer, callback=callback, outcome=outcome, config=config,
                            out_dir=Path(out_dir))

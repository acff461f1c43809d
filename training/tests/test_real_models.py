"""Real chat templates, end to end: for the tiny model and a small random model of each real architecture in
../shared/data/tokenizers (Qwen2.5-Instruct, Mistral-7B-Instruct-v0.3, DeepSeek-R1-Distill-Qwen with its original and
its current template), what the template does, what the default SFT run learns, and that the launch page's preview
is what the trainers train, token for token, for SFT, DPO and KTO."""

import json

import pytest

from tests.shared_data import shared_data_absent
from training.runner.config import RunConfig
from training.runner.encoding import CUT, IGNORED, TRAINED
from training.tests.fixtures import CHAT_MODELS, REAL_MODELS, SHARED_TOKENIZERS

pytestmark = pytest.mark.slow

QWEN, MISTRAL, DEEPSEEK, DEEPSEEK_CURRENT = REAL_MODELS

# Two conversations: a system prompt, two turns whose final reply carries reasoning (once as "reasoning_content", once
# inline); and one short Chinese exchange without either.
CONVERSATIONS = [
    {"messages": [{"role": "system", "content": "Answer in one line."},
                  {"role": "user", "content": "What is 2+2?"},
                  {"role": "assistant", "content": "4.", "reasoning_content": "Two plus two is four."},
                  {"role": "user", "content": "And 3+3?"},
                  {"role": "assistant", "content": "6.", "reasoning_content": "Three plus three is six."}]},
    {"messages": [{"role": "user", "content": "你好"}, {"role": "assistant", "content": "你好！有什么可以帮您？"}]},
    {"messages": [{"role": "user", "content": "Why is the sky blue?"},
                  {"role": "assistant", "content": "<think>\nScattering.\n</think>\n\nRayleigh scattering."}]},
]

# What each template's assistant turn learns around a reply (the reply's text as trained: the final one with its
# reasoning inline). Qwen2.5 and DeepSeek's current template learn as TRL's marked training copies mark them.
LEARNED = {
    "tiny": "{reply}<|im_end|>",
    QWEN: "\n{reply}<|im_end|>\n",
    MISTRAL: " {reply}</s>",
    DEEPSEEK: "{reply}<｜end▁of▁sentence｜>",
    DEEPSEEK_CURRENT: "<｜Assistant｜>{reply}<｜end▁of▁sentence｜>",
}
FINAL_REPLIES = ["<think>\nThree plus three is six.\n</think>\n\n6.", "你好！有什么可以帮您？",
                 "<think>\nScattering.\n</think>\n\nRayleigh scattering."]


def write_split(directory, rows):
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "train.jsonl").write_text(
        "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8"
    )
    return directory


def quick_config(model_dir, **overrides) -> RunConfig:
    settings = {"base_model_path": str(model_dir), "max_steps": 1, "per_device_train_batch_size": 2,
                "gradient_accumulation_steps": 1, "lora_r": 4, "lora_alpha": 8, "logging_steps": 1, "max_length": 512}
    return RunConfig(**{**settings, **overrides})


def learned_runs(tokenizer, input_ids, labels) -> list[str]:
    """The learned stretches of one training row, each decoded on its own."""
    runs, current = [], []
    for token, label in zip(input_ids, labels):
        if label != IGNORED:
            current.append(token)
        elif current:
            runs.append(current)
            current = []
    if current:
        runs.append(current)
    return [tokenizer.decode(run, skip_special_tokens=False) for run in runs]


def test_every_folder_of_shared_tokenizers_is_covered():
    if not SHARED_TOKENIZERS.is_dir():
        shared_data_absent(SHARED_TOKENIZERS)
    assert sorted(path.name for path in SHARED_TOKENIZERS.iterdir() if (path / "config.json").is_file()) == sorted(
        REAL_MODELS
    )


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (
            "tiny",
            {
                "turn_end": "<|im_end|>",
                "drops_system_prompt": False,
                "strips_reasoning": False,
                "generation_prefill": "",
                "has_generation_markers": True,
                "trl_template": None,
            },
        ),
        (
            QWEN,
            {
                "turn_end": "<|im_end|>",
                "drops_system_prompt": False,
                "strips_reasoning": False,
                "generation_prefill": "",
                "has_generation_markers": False,
                "trl_template": "qwen2_5_training.jinja",
            },
        ),
        (
            MISTRAL,
            {
                "turn_end": "</s>",
                "drops_system_prompt": True,
                "strips_reasoning": False,
                "generation_prefill": "",
                "has_generation_markers": False,
                "trl_template": None,
            },
        ),
        (
            DEEPSEEK,
            {
                "turn_end": "<｜end▁of▁sentence｜>",
                "drops_system_prompt": False,
                "strips_reasoning": True,
                "generation_prefill": "",
                "has_generation_markers": False,
                "trl_template": None,
            },
        ),
        (
            DEEPSEEK_CURRENT,
            {
                "turn_end": "<｜end▁of▁sentence｜>",
                "drops_system_prompt": False,
                "strips_reasoning": True,
                "generation_prefill": "<think>\n",
                "has_generation_markers": False,
                "trl_template": "deepseek_r1_distill_training.jinja",
            },
        ),
    ],
)
def test_template_facts_of_each_real_template(chat_model_dirs, name, expected):
    from transformers import AutoTokenizer

    from training.runner.templates import template_facts

    facts = template_facts(AutoTokenizer.from_pretrained(chat_model_dirs(name))).as_dict()
    assert {key: facts[key] for key in expected} == expected
    assert (facts["writes_date"], facts["reasoning_field"]) == (False, False)


@pytest.mark.parametrize(("name", "source", "masks"), [
    ("tiny", "model", "markers"), (QWEN, "trl", "markers"), (MISTRAL, "model", "rendering"),
    (DEEPSEEK, "whetstone", "rendering"), (DEEPSEEK_CURRENT, "trl", "markers")])
def test_the_default_sft_run_learns_only_the_assistants_tokens(chat_model_dirs, tmp_path, name, source, masks):
    from training.runner.common import run_chat_plan
    from training.runner.sft import trainer_build

    data = write_split(tmp_path / "data", CONVERSATIONS)
    trainer, _, tokenizer = trainer_build(quick_config(chat_model_dirs(name)), data, tmp_path / "out")
    plan = run_chat_plan(quick_config(chat_model_dirs(name)), tokenizer)
    assert (plan.source, plan.masks) == (source, masks)

    learned = [learned_runs(tokenizer, row["input_ids"], row["labels"]) for row in trainer.train_dataset]
    shape = LEARNED[name]
    first_reply = "<think>\n</think>\n\n4." if name == DEEPSEEK_CURRENT else "4."  # earlier turns keep no reasoning
    final_replies = FINAL_REPLIES
    if name == DEEPSEEK_CURRENT:
        # The generation prompt opens the reasoning block: a reply without reasoning closes it at once.
        final_replies = [FINAL_REPLIES[0], "<think>\n</think>\n\n你好！有什么可以帮您？", FINAL_REPLIES[2]]
        first_reply = "4."
    expected = [[shape.format(reply=first_reply), shape.format(reply=final_replies[0])],
                [shape.format(reply=final_replies[1])], [shape.format(reply=final_replies[2])]]
    if name == MISTRAL:
        # SentencePiece decodes a run's first "▁" as nothing: the space before each reply is learned, not shown.
        expected = [[text.removeprefix(" ") for text in row] for row in expected]
    # Every learned token lies in one of those stretches: the replies and their ends of turn, nothing else.
    assert learned == expected


def test_mistral_trains_the_system_prompt_where_its_template_puts_it_when_answering(chat_model_dirs, tmp_path):
    from training.runner.sft import trainer_build

    data = write_split(tmp_path / "data", CONVERSATIONS[:1])
    trainer, _, tokenizer = trainer_build(quick_config(chat_model_dirs(MISTRAL)), data, tmp_path / "out")
    text = tokenizer.decode(trainer.train_dataset[0]["input_ids"], skip_special_tokens=False)
    prompt = tokenizer.apply_chat_template(
        CONVERSATIONS[0]["messages"][:-1], tokenize=False, add_generation_prompt=True
    )
    assert "Answer in one line.\n\nAnd 3+3?[/INST]" in prompt
    # The text trained is what the model reads when asked for the final reply, then the reply.
    assert text.startswith(prompt)


def test_without_the_fix_mistral_refuses_the_multi_turn_conversation_and_names_why(chat_model_dirs, tmp_path):
    from training.runner.sft import trainer_build

    data = write_split(tmp_path / "data", CONVERSATIONS[:1])
    with pytest.raises(
        ValueError,
        match=r"train.jsonl, row 1: the chat template writes the conversation up to assistant "
        r"turn 1 one way when the model is asked to answer",
    ):
        trainer_build(quick_config(chat_model_dirs(MISTRAL), keep_system_prompt=False), data, tmp_path / "out")


def test_without_assistant_only_loss_every_token_is_learned(chat_model_dirs, tmp_path):
    from training.runner.sft import trainer_build

    data = write_split(tmp_path / "data", CONVERSATIONS)
    trainer, _, _ = trainer_build(
        quick_config(chat_model_dirs(QWEN), assistant_only_loss=False), data, tmp_path / "out"
    )
    assert all(row["labels"] == row["input_ids"] for row in trainer.train_dataset)


@pytest.mark.parametrize("name", ["tiny", QWEN])
def test_marked_templates_learn_exactly_what_trls_own_assistant_only_loss_learns(chat_model_dirs, tmp_path, name):
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    from datasets import Dataset

    from training.runner.sft import trainer_build

    data = write_split(tmp_path / "data", CONVERSATIONS[1:])
    ours, _, _ = trainer_build(quick_config(chat_model_dirs(name)), data, tmp_path / "out")

    tokenizer = AutoTokenizer.from_pretrained(chat_model_dirs(name))
    trl = SFTTrainer(
        model=AutoModelForCausalLM.from_pretrained(chat_model_dirs(name)),
        processing_class=tokenizer,
        args=SFTConfig(
            output_dir=str(tmp_path / "trl"),
            assistant_only_loss=True,
            max_length=512,
            report_to="none",
            use_cpu=True,
            bf16=False,
        ),
        train_dataset=Dataset.from_list([{"messages": row["messages"]} for row in CONVERSATIONS[1:]]),
    )
    for mine, theirs in zip(ours.train_dataset, trl.train_dataset, strict=True):
        assert (mine["input_ids"], mine["labels"]) == (theirs["input_ids"], theirs["labels"])


# ---------------------------------------------------------------- the preview is what the trainers train


def _trainer_rows(trainer, method: str) -> list[dict]:
    keys = {"sft": ("input_ids", "labels"), "dpo": ("prompt_ids", "chosen_ids", "rejected_ids"),
            "kto": ("prompt_ids", "completion_ids")}[method]
    return [{key: list(row[key]) for key in keys} for row in trainer.train_dataset]


def _preview_rows(example: dict, method: str, max_length: int) -> dict:
    """The trainer's row, rebuilt from the preview's segments alone."""
    ids = [token for segment in example["segments"] for token in segment["ids"]]
    states = [segment["state"] for segment in example["segments"] for _ in segment["ids"]]
    assert [state == CUT for state in states] == [index >= max_length for index in range(len(ids))]
    if method == "sft":
        kept = [(token, state) for token, state in zip(ids, states) if state != CUT]
        return {
            "input_ids": [token for token, _ in kept],
            "labels": [token if state == TRAINED else IGNORED for token, state in kept],
        }
    answer = [token for token, state in zip(ids, states) if state != "masked"]
    prompt = ids[:len(ids) - len(answer)]
    assert all(state == "masked" for state in states[:len(prompt)])
    if method == "kto":
        return {"prompt_ids": prompt, "completion_ids": answer}
    rejected = [token for segment in example["rejected_segments"] for token in segment["ids"]]
    return {"prompt_ids": prompt, "chosen_ids": answer, "rejected_ids": rejected}


@pytest.mark.parametrize("method", ["sft", "dpo", "kto"])
@pytest.mark.parametrize("name", CHAT_MODELS)
def test_the_preview_is_what_the_trainer_trains_token_for_token(
    workspace, chat_model_dirs, sft_version, preference_version, kto_version, tmp_path, name, method
):
    from datahub.export import version_export_jsonl
    from training.runner import preference, sft
    from training.services.base_models import base_model_register
    from training.services.hyperparameters import hyperparameters_clean
    from training.services.preview import training_run_preview

    version = {"sft": sft_version, "dpo": preference_version, "kto": kto_version}[method]
    base_model = base_model_register(workspace=workspace, name=name, path=str(chat_model_dirs(name)))
    measured = training_run_preview(base_model=base_model, dataset_version=version, method=method,
                                    hyperparameters=hyperparameters_clean(values={}, base_model=base_model))
    # Cut at the median length, so some rows are cut and, for SFT, some left with nothing to learn (TRL drops them).
    max_length = measured["lengths"]["median"]
    preview = training_run_preview(
        base_model=base_model,
        dataset_version=version,
        method=method,
        examples=100,
        hyperparameters=hyperparameters_clean(values={"max_length": max_length}, base_model=base_model),
    )
    assert preview["mismatch"] is None and preview["prompt_cut"] is None
    assert any(example["cut_tokens"] for example in preview["examples"])

    data = tmp_path / "data"
    version_export_jsonl(version, split="train", path=data / "train.jsonl")
    runner = sft if method == "sft" else preference
    config = quick_config(chat_model_dirs(name), method=method, max_length=max_length)
    trainer, _, _ = runner.trainer_build(config, data, tmp_path / "out")

    kept = [example for example in preview["examples"] if not example["dropped"]]
    assert len(kept) == len(trainer.train_dataset) == len(preview["examples"]) - preview["dropped"]
    assert [_preview_rows(example, method, max_length) for example in kept] == _trainer_rows(trainer, method)
    if method == "dpo":
        # And it trains: DPO on each template takes its step on exactly these tokens.
        assert trainer.train().global_step == 1


def test_mistral_dpo_without_the_fix_is_warned_in_the_preview_and_on_the_run(
    workspace, real_model_dirs, preference_version, tmp_path
):
    import logging

    from datahub.export import version_export_jsonl
    from training.runner import preference
    from training.runner.files import WARNINGS_FILE
    from training.services.base_models import base_model_register
    from training.services.hyperparameters import hyperparameters_clean
    from training.services.preview import training_run_preview

    base_model = base_model_register(workspace=workspace, name="mistral", path=str(real_model_dirs(MISTRAL)))
    values = hyperparameters_clean(values={"keep_system_prompt": False}, base_model=base_model)
    preview = training_run_preview(
        base_model=base_model, dataset_version=preference_version, method="dpo", hyperparameters=values
    )
    # The template drops the system prompt once the answer follows: the prompt shrinks to <s>[INST] and the question
    # becomes part of both answers.
    assert preview["prompt_cut"] == {
        "count": 10,
        "text": "You are a helpful support assistant.\n\nI would like to return my order.[/INST]",
    }
    assert preview["examples"][0]["segments"][0] == {"text": "<s>[INST]", "state": "masked", "ids": [1, 3]}

    data = tmp_path / "data"
    version_export_jsonl(preference_version, split="train", path=data / "train.jsonl")
    logging.Logger.warning_once.cache_clear()  # TRL warns once per process; an earlier test may have had it
    out = tmp_path / "out"
    with preference.warnings_recorded(out) as recorder:
        preference.trainer_build(
            quick_config(real_model_dirs(MISTRAL), method="dpo", keep_system_prompt=False), data, out, recorder
        )
    warnings = [json.loads(line) for line in (out / WARNINGS_FILE).read_text(encoding="utf-8").splitlines()]
    assert [warning["source"] for warning in warnings] == ["trl", "whetstone"]
    assert warnings[0]["message"].startswith("The tokenized prompt is not a prefix of the tokenized prompt+completion")
    assert warnings[1]["message"] == (
        "10 of 10 rows in train.jsonl: the prompt does not tokenise as the start of prompt + answer, "
        "so the end of the prompt is trained as part of the answers"
    )

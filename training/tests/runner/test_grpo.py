"""GRPO trained for real on the tiny model on the CPU, rewarded by the graders (graders.grading), a few steps each."""

import json

import pytest

from training.runner import grpo
from training.runner.config import RunConfig
from training.tests.fixtures import support_conversations
from training.tests.runner.test_methods import write_rows
from training.tests.runner.test_sft import metric_lines

pytestmark = pytest.mark.slow

HAS_WORD = {"type": "string_check", "name": "has_word", "input": "{{sample.output_text}}",
            "reference": "{{item.reference}}", "operation": "ilike"}
CRASHES = {"type": "python", "name": "crashes", "source": "def grade(sample, item):\n    return 1 / 0\n"}
LENGTH = {"type": "python", "name": "short",
          "source": "def grade(sample, item):\n    return 1.0 if len(sample['output_text']) < 40 else 0.0\n"}


def grpo_config(model_dir, **overrides) -> RunConfig:
    settings = {"base_model_path": str(model_dir), "method": "grpo", "max_steps": 2, "learning_rate": 1e-3,
                "per_device_train_batch_size": 4, "gradient_accumulation_steps": 1, "num_generations": 4,
                "max_completion_length": 8, "logging_steps": 1, "lora_r": 4, "lora_alpha": 8,
                "reward_graders": [HAS_WORD, LENGTH, CRASHES]}
    settings.update(overrides)
    return RunConfig(**settings)


@pytest.fixture
def conversations_dir(tmp_path):
    """Exported SFT conversations: the prompt is the turns before the final reply, the reference that reply."""
    return write_rows(tmp_path / "grpo", [{"messages": row["messages"]} for row in support_conversations()[:4]])


def test_grpo_streams_each_graders_reward_kl_and_lengths_and_saves_an_adapter(tiny_model_dir, conversations_dir,
                                                                               tmp_path):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    out_dir = tmp_path / "out"
    result = grpo.main(grpo_config(tiny_model_dir, kl_beta=0.04), conversations_dir, out_dir)

    assert (result["global_step"], result["artifact_kind"], result["cancelled"]) == (2, "adapter", False)
    steps = [line for line in metric_lines(out_dir) if "reward" in line["values"]]
    assert [line["step"] for line in steps] == [1, 2]
    for line in steps:
        values = line["values"]
        assert {"rewards/has_word/mean", "rewards/short/mean", "rewards/crashes/mean", "kl",
                "completions/mean_length", "completions/clipped_ratio", "loss"} <= set(values)
        assert values["rewards/crashes/mean"] == 0.0
        assert 0.0 <= values["completions/clipped_ratio"] <= 1.0
        assert 1 <= values["completions/mean_length"] <= 8
    # The crashing grader's reason is written once, for a person to read.
    warnings = [json.loads(line) for line in (out_dir / "warnings.jsonl").read_text().splitlines()]
    crashes = [w for w in warnings if "crashes" in w["message"]]
    assert len(crashes) == 1
    assert "ZeroDivisionError: division by zero (line 2)" in crashes[0]["message"]
    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_model_dir), out_dir / "adapter")
    assert model is not None


def test_grpo_full_training_without_kl_and_prompt_reference_rows(tiny_model_dir, tmp_path):
    rows = [{"prompt": [{"role": "user", "content": "Where is my package?"}], "reference": "package"},
            {"prompt": [{"role": "user", "content": "How much is shipping?"}], "reference": "free"}]
    out_dir = tmp_path / "out"
    result = grpo.main(grpo_config(tiny_model_dir, adapter="full", kl_beta=0.0, loss_type="dr_grpo",
                                   reward_graders=[HAS_WORD]),
                       write_rows(tmp_path / "rows", rows), out_dir)
    assert result["artifact_kind"] == "full"
    assert (out_dir / "model" / "config.json").is_file()
    values = [line["values"] for line in metric_lines(out_dir) if "reward" in line["values"]]
    assert len(values) == 2 and all("kl" not in value for value in values)


def test_rows_without_a_reference_are_refused_by_line(tmp_path):
    rows = [{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]},
            {"messages": [{"role": "user", "content": "no reply"}]}]
    with pytest.raises(ValueError, match=r"train.jsonl:2: GRPO rows need a conversation ending"):
        grpo.prompt_rows(rows, tmp_path / "train.jsonl")
    assert grpo.prompt_rows(rows[:1], tmp_path / "train.jsonl") == [
        {"prompt": [{"role": "user", "content": "hi"}], "reference": "hello"}]

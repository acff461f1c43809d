"""Prefix tuning, P-tuning and GRPO on small random models of real architectures built around the shared tokenizers
(Qwen2.5 with grouped-query attention and its ChatML template, Mistral v0.3 with its own template): the learned keys
and values fit the model's heads, the templates' replies are what GRPO generates and grades, and each result loads
again and generates."""

import pytest

from training.runner import grpo, sft
from training.tests.fixtures import support_conversations
from training.tests.runner.test_grpo import grpo_config
from training.tests.runner.test_method_choices import _generate
from training.tests.runner.test_methods import write_rows
from training.tests.runner.test_sft import quick_config

pytestmark = pytest.mark.slow

ARCHITECTURES = ["qwen2.5-7b-instruct", "mistral-7b-instruct-v0.3"]


@pytest.mark.parametrize("name", ARCHITECTURES)
@pytest.mark.parametrize("adapter", ["prefix_tuning", "p_tuning"])
def test_prefix_and_p_tuning_train_and_generate_on_real_architectures(name, adapter, real_model_dirs, tmp_path):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model_dir = real_model_dirs(name)
    data = write_rows(tmp_path / "sft", [{"messages": row["messages"]} for row in support_conversations()[:6]])
    result = sft.main(quick_config(model_dir, adapter=adapter, max_steps=2, prompt_tuning_virtual_tokens=4), data,
                      tmp_path / "out")
    assert (result["global_step"], result["artifact_kind"]) == (2, "adapter")
    tuned = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(model_dir), tmp_path / "out" / "adapter")
    assert len(_generate(tuned, AutoTokenizer.from_pretrained(model_dir))) == 6


@pytest.mark.parametrize("name", ARCHITECTURES)
def test_grpo_trains_a_lora_adapter_on_real_architectures(name, real_model_dirs, tmp_path):
    # The prompt is the turns before the final reply; that reply is the graders' reference.
    data = write_rows(tmp_path / "grpo", [{"messages": row["messages"]} for row in support_conversations()[:4]])
    result = grpo.main(grpo_config(real_model_dirs(name), kl_beta=0.04), data, tmp_path / "out")
    assert result["artifact_kind"] == "adapter" and result["global_step"] >= 1
    assert (tmp_path / "out" / "adapter" / "adapter_config.json").is_file()

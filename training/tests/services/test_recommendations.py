"""Recommendations from the data and the model: they read the version's records and token lengths and the base
model, change when the data changes, give a reason for each setting and warn as the brief's tables say."""

import pytest

from training.memory import ModelShape
from training.services.recommendations import Facts, training_recommend, training_run_recommend
from training.tests.fixtures import _frozen_version, support_conversations


def _values(result) -> dict:
    return {item["name"]: item["value"] for item in result["items"]}


@pytest.fixture
def large_version(workspace):
    """3,000 distinct support conversations: 2,500 train, 500 validation."""
    rows = []
    for index in range(3000):
        row = support_conversations()[index % 12]
        question = {**row["messages"][1], "content": f"{row['messages'][1]['content']} (#{index})"}
        rows.append({**row, "messages": [row["messages"][0], question, row["messages"][2]]})
    return _frozen_version(workspace, "support large", rows, validation_every=6)


def test_a_small_version_gets_more_epochs_a_small_batch_and_a_warning(settings, tiny_base_model, sft_version):
    settings.TRAINING_DEVICE_MEMORY_GB = 24
    result = training_run_recommend(version=sft_version, base_model=tiny_base_model)

    assert (result["goal"], result["adapter"]) == ("knowledge", "lora")
    values = _values(result)
    # The p95 rounded up to a bucket edge: the smallest edge at or above it.
    edges = [64, 128, 256, 512]
    assert values.pop("max_length") == next(edge for edge in edges if edge >= result["facts"]["p95"])
    assert values == {"goal": "knowledge", "adapter": "lora", "lora_r": 16, "lora_alpha": 32, "learning_rate": 1e-4,
                      "num_train_epochs": 5.0, "per_device_train_batch_size": 8, "gradient_accumulation_steps": 1}
    reasons = {item["name"]: item["reason"] for item in result["items"]}
    assert reasons["adapter"] == "10 knowledge examples → LoRA r=16 on every linear layer"
    assert reasons["max_length"].startswith(f"95% of records are at most {result['facts']['p95']} tokens; 0 of 12 ")
    assert result["warnings"] == [
        "10 examples will not teach a model knowledge; the brief suggests 3,000–10,000 for knowledge"]


@pytest.mark.slow
def test_a_large_version_changes_the_epochs_and_the_batch_and_drops_the_warning(settings, tiny_base_model,
                                                                                large_version):
    settings.TRAINING_DEVICE_MEMORY_GB = 24
    result = training_run_recommend(version=large_version, base_model=tiny_base_model)

    assert result["facts"]["records"] == 2500
    values = _values(result)
    assert (values["num_train_epochs"], values["per_device_train_batch_size"],
            values["gradient_accumulation_steps"]) == (3.0, 8, 2)
    assert result["warnings"] == ["2500 examples will not teach a model knowledge; the brief suggests 3,000–10,000 for "
                                  "knowledge"]
    style = training_run_recommend(version=large_version, base_model=tiny_base_model, goal="style")
    assert (style["adapter"], style["warnings"]) == ("prefix_tuning", [])
    assert _values(style)["learning_rate"] == 5e-3


def test_reasoning_in_the_replies_asks_for_a_high_rank_and_warns_it_is_high_for_the_data(settings, tiny_base_model,
                                                                                        reasoning_version):
    settings.TRAINING_DEVICE_MEMORY_GB = 24
    result = training_run_recommend(version=reasoning_version, base_model=tiny_base_model, chosen={"max_length": 16})

    values = _values(result)
    assert (result["goal"], values["lora_r"], values["lora_alpha"], values["use_rslora"]) == ("reasoning", 64, 64, True)
    assert result["items"][0]["reason"] == "100% of the records carry the assistant's reasoning"
    assert result["warnings"][:2] == [
        "10 examples will not teach a model complex reasoning; the brief suggests 5,000–20,000 for complex reasoning",
        "rank 64 is high for 10 records: the adapter can memorise them; 8–16 is enough"]
    assert result["warnings"][2].startswith("max length 16 cuts more than 5% of the records")


LLAMA_8B = ModelShape(hidden=4096, kv_dim=1024, intermediate=14336, layers=32, vocab=128256)


def _facts(**overrides) -> Facts:
    values = {"records": 1200, "validation": 100, "reasoning_share": 0.0, "parameters": 8_030_000_000,
              "context": 8192, "shape": LLAMA_8B, "device_gib": 24.0,
              "lengths": {"total": 1300, "measured": 1300, "p50": 300, "p95": 900, "max": 3000,
                          "histogram": {"0–63": 0, "64–127": 0, "128–255": 100, "256–511": 800, "512–1023": 350,
                                        "1024–2047": 40, "2048–4095": 10, "4096–8191": 0, "≥8192": 0}}}
    return Facts(**(values | overrides))


def test_style_on_an_8b_model_is_prefix_tuning_with_the_p95_cut_counted():
    result = training_recommend(facts=_facts(), goal="style")
    reasons = {item["name"]: item["reason"] for item in result["items"]}
    assert reasons["adapter"] == ("1200 style examples → P-tuning v2 (prefix tuning), or LoRA r=8; the brief "
                                  "recommends it for style")
    assert reasons["max_length"] == "95% of records are at most 900 tokens; 50 of 1300 are longer and will be cut"
    assert result["hyperparameters"] == {"prompt_tuning_virtual_tokens": 20, "learning_rate": 5e-3,
                                         "num_train_epochs": 3.0, "per_device_train_batch_size": 8,
                                         "gradient_accumulation_steps": 2, "max_length": 1024}
    assert result["warnings"] == []


def test_a_model_too_large_for_lora_gets_qlora_and_a_smaller_batch_with_accumulation():
    result = training_recommend(facts=_facts(records=5000, device_gib=10.0), goal="knowledge")
    values = _values(result)
    assert (values["adapter"], values["per_device_train_batch_size"], values["gradient_accumulation_steps"]) == (
        "qlora", 4, 4)
    assert result["items"][1]["reason"] == ("LoRA on this 8.0B-parameter model does not fit 10 GiB; QLoRA keeps the "
                                            "base in 4 bits")
    assert result["warnings"] == []
    tight = training_recommend(facts=_facts(records=5000, device_gib=6.0), goal="knowledge")
    assert tight["warnings"] == ["even QLoRA with one conversation per step does not fit 6 GiB at 1024 tokens: use a "
                                 "smaller model or a larger device"]

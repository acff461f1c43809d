"""Every method and adapter the platform offers, trained for real on the tiny model on the CPU: a few steps each."""

import json
import math

import pytest

from training.runner import preference, sft
from training.tests.fixtures import support_conversations
from training.tests.runner.test_sft import metric_lines, quick_config

pytestmark = pytest.mark.slow


def write_rows(directory, rows_train, rows_validation=()):
    directory.mkdir()
    for name, rows in (("train", rows_train), ("validation", rows_validation)):
        if rows:
            (directory / f"{name}.jsonl").write_text(
                "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8"
            )
    return directory


def preference_rows() -> list[dict]:
    """Each support question with its right answer chosen and another question's answer rejected."""
    conversations = [row["messages"] for row in support_conversations()]
    rows = []
    for index, messages in enumerate(conversations):
        wrong = conversations[(index + 1) % len(conversations)][2]
        rows.append({"prompt": messages[:2], "chosen": [messages[2]], "rejected": [wrong]})
    return rows


def kto_rows() -> list[dict]:
    rows = []
    for row in preference_rows():
        rows.append({"prompt": row["prompt"], "completion": row["chosen"], "label": True})
        rows.append({"prompt": row["prompt"], "completion": row["rejected"], "label": False})
    return rows


def losses(out_dir) -> list[float]:
    return [line["values"]["loss"] for line in metric_lines(out_dir) if "loss" in line["values"]]


@pytest.fixture
def sft_dir(tmp_path):
    return write_rows(tmp_path / "sft", [{"messages": row["messages"]} for row in support_conversations()[:10]])


def test_sft_with_qlora_runs_4bit_nf4_on_the_cpu(tiny_model_dir, sft_dir, tmp_path):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    out_dir = tmp_path / "out"
    result = sft.main(quick_config(tiny_model_dir, adapter="qlora", max_steps=4), sft_dir, out_dir)

    assert (result["global_step"], result["artifact_kind"]) == (4, "adapter")
    assert losses(out_dir)[-1] < losses(out_dir)[0]
    tuned = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_model_dir), out_dir / "adapter")
    assert tuned.peft_config["default"].r == 8


def test_full_fine_tuning_saves_a_whole_model(tiny_model_dir, sft_dir, tmp_path):
    from transformers import AutoModelForCausalLM

    out_dir = tmp_path / "out"
    result = sft.main(quick_config(tiny_model_dir, adapter="full", max_steps=6, learning_rate=1e-3), sft_dir, out_dir)

    assert (result["artifact_kind"], result["artifact_dir"]) == ("full", str(out_dir / "model"))
    assert losses(out_dir)[-1] < losses(out_dir)[0]
    model = AutoModelForCausalLM.from_pretrained(out_dir / "model")
    assert sum(p.numel() for p in model.parameters()) == sum(
        p.numel() for p in AutoModelForCausalLM.from_pretrained(tiny_model_dir).parameters())


def test_prompt_tuning_learns_virtual_tokens(tiny_model_dir, sft_dir, tmp_path):
    from peft import PeftConfig

    out_dir = tmp_path / "out"
    result = sft.main(quick_config(tiny_model_dir, adapter="prompt_tuning", max_steps=6, learning_rate=3e-2,
                                   prompt_tuning_virtual_tokens=8), sft_dir, out_dir)

    assert result["artifact_kind"] == "adapter"
    # Two steps of 5 make an epoch over the 10 conversations; batches are grouped by length, so one step's loss
    # depends on which conversations it holds, an epoch's does not: the last epoch's loss is below the first's.
    first_epoch, last_epoch = sum(losses(out_dir)[:2]), sum(losses(out_dir)[-2:])
    assert last_epoch < first_epoch
    assert PeftConfig.from_pretrained(out_dir / "adapter").num_virtual_tokens == 8


def test_sft_with_packing_and_assistant_only_loss(tiny_model_dir, sft_dir, tmp_path):
    out_dir = tmp_path / "out"
    result = sft.main(
        quick_config(tiny_model_dir, packing=True, assistant_only_loss=True, max_steps=6), sft_dir, out_dir
    )
    assert result["global_step"] == 6
    assert all(math.isfinite(loss) for loss in losses(out_dir))
    assert losses(out_dir)[-1] < losses(out_dir)[0]


def test_dpo_with_lora_streams_rewards_and_accuracies(tiny_model_dir, tmp_path):
    data = write_rows(tmp_path / "dpo", preference_rows()[:10], preference_rows()[10:])
    out_dir = tmp_path / "out"
    result = preference.main(quick_config(tiny_model_dir, method="dpo", max_steps=6, learning_rate=5e-3), data, out_dir)

    assert (result["global_step"], result["artifact_kind"]) == (6, "adapter")
    lines = metric_lines(out_dir)
    train = [line["values"] for line in lines if "loss" in line["values"]]
    assert {"rewards/chosen", "rewards/rejected", "rewards/accuracies", "rewards/margins"} <= set(train[0])
    assert train[-1]["loss"] < train[0]["loss"]
    assert any("eval_loss" in line["values"] for line in lines)
    assert (out_dir / "adapter" / "adapter_config.json").is_file()


def test_kto_with_lora_on_likes_and_dislikes(tiny_model_dir, tmp_path):
    data = write_rows(tmp_path / "kto", kto_rows())
    out_dir = tmp_path / "out"
    # KTO's KL term is estimated across each batch, so its loss is noisy step to step: compare halves.
    result = preference.main(quick_config(tiny_model_dir, method="kto", max_steps=8, learning_rate=2e-2,
                                          per_device_train_batch_size=4), data, out_dir)

    assert result["global_step"] == 8
    train = [line["values"] for line in metric_lines(out_dir) if "loss" in line["values"]]
    assert {"rewards/chosen", "rewards/rejected", "kl"} <= set(train[0])
    assert all(math.isfinite(values["loss"]) for values in train)
    assert sum(values["loss"] for values in train[4:]) < sum(values["loss"] for values in train[:4])
    assert (out_dir / "adapter" / "adapter_config.json").is_file()


def test_preference_runner_names_a_row_of_the_wrong_format(tiny_model_dir, sft_dir, tmp_path):
    with pytest.raises(ValueError, match="dpo rows need prompt, chosen, rejected; missing prompt"):
        preference.main(quick_config(tiny_model_dir, method="dpo"), sft_dir, tmp_path / "out")


@pytest.mark.skipif(
    "not __import__('torch').cuda.is_available()", reason="CUDA QLoRA (bf16 compute on the GPU) needs a GPU"
)
def test_qlora_on_a_gpu_computes_in_bf16(tiny_model_dir, sft_dir, tmp_path):
    import torch

    from training.runner.models import model_prepare

    model, _, peft_config = model_prepare(quick_config(tiny_model_dir, adapter="qlora"))
    assert model.config.quantization_config.bnb_4bit_compute_dtype == (
        torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float32
    )
    assert next(model.parameters()).is_cuda
    result = sft.main(quick_config(tiny_model_dir, adapter="qlora", max_steps=2), sft_dir, tmp_path / "out")
    assert result["global_step"] == 2

"""The runner on the tiny model, on the CPU, for real: a few steps, files that load again."""

import json
import math
import os

import pytest

from training.runner.__main__ import run as runner_cli
from training.runner.callbacks import CANCEL_FILE
from training.runner.config import RunConfig
from training.runner.sft import main
from training.tests.fixtures import support_conversations

pytestmark = pytest.mark.slow


@pytest.fixture
def data_dir(tmp_path):
    """Ten train and two validation conversations in TRL's format."""
    rows = [{"messages": row["messages"]} for row in support_conversations()]
    directory = tmp_path / "data"
    directory.mkdir()
    (directory / "train.jsonl").write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows[:10]), encoding="utf-8"
    )
    (directory / "validation.jsonl").write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows[10:]), encoding="utf-8"
    )
    return directory


def quick_config(model_dir, **overrides) -> RunConfig:
    settings = {
        "base_model_path": str(model_dir),
        "max_steps": 8,
        "learning_rate": 5e-3,
        "per_device_train_batch_size": 5,
        "gradient_accumulation_steps": 1,
        "lora_r": 8,
        "lora_alpha": 16,
        "lora_dropout": 0.0,
        "logging_steps": 1,
        "eval_steps": 4,
        "max_length": 128,
    }
    return RunConfig(**{**settings, **overrides})


def metric_lines(out_dir) -> list[dict]:
    return [json.loads(line) for line in (out_dir / "metrics.jsonl").read_text().splitlines()]


def test_sft_trains_lowers_the_loss_and_saves_an_adapter_that_loads(tiny_model_dir, data_dir, tmp_path):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    out_dir = tmp_path / "out"
    result = main(quick_config(tiny_model_dir), data_dir, out_dir)

    assert result["global_step"] == 8
    assert result["cancelled"] is False
    lines = metric_lines(out_dir)
    losses = [line["values"]["loss"] for line in lines if "loss" in line["values"]]
    assert [line["step"] for line in lines if "loss" in line["values"]] == [1, 2, 3, 4, 5, 6, 7, 8]
    assert all(math.isfinite(loss) for loss in losses)
    assert losses[-1] < losses[0]
    # Validation every 4 steps: steps 4 and 8; the last one is not repeated.
    assert [line["step"] for line in lines if "eval_loss" in line["values"]] == [4, 8]
    assert json.loads((out_dir / "progress.json").read_text()) == {"step": 8, "max_steps": 8, "epoch": 4.0}

    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    tuned = PeftModel.from_pretrained(base, out_dir / "adapter")
    assert tuned.peft_config["default"].r == 8
    # "all-linear": every projection of attention and MLP, never the output head.
    assert {name.rsplit(".", 1)[-1] for name in tuned.peft_config["default"].target_modules} == {
        "down_proj", "gate_proj", "k_proj", "o_proj", "q_proj", "up_proj", "v_proj"}
    saved = json.loads((out_dir / "result.json").read_text())
    assert saved["global_step"] == 8
    # The peak memory the scorecard's resource dimension reads: on the CPU the process's peak resident memory, which
    # holds at least the model loaded (more than 1 MB) and stays below what the machine has.
    assert saved["peak_gpu_bytes"] == 0 and saved["peak_memory_bytes"] == saved["peak_rss_bytes"]
    assert 1024**2 < saved["peak_memory_bytes"] < os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def test_cancel_file_stops_at_the_next_step_with_a_checkpoint_and_an_adapter(tiny_model_dir, data_dir, tmp_path):
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    (out_dir / CANCEL_FILE).touch()

    result = main(quick_config(tiny_model_dir, max_steps=50), data_dir, out_dir)

    assert result["global_step"] == 1
    assert result["cancelled"] is True
    assert (out_dir / "checkpoints" / "checkpoint-1" / "adapter_config.json").is_file()
    assert (out_dir / "checkpoints" / "checkpoint-1" / "trainer_state.json").is_file()
    assert (out_dir / "adapter" / "adapter_model.safetensors").is_file()


def test_a_cancelled_run_resumes_from_its_checkpoint(tiny_model_dir, data_dir, tmp_path):
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    (out_dir / CANCEL_FILE).touch()
    main(quick_config(tiny_model_dir, max_steps=3), data_dir, out_dir)
    (out_dir / CANCEL_FILE).unlink()

    resumed = main(
        quick_config(tiny_model_dir, max_steps=3, resume_from_checkpoint=str(out_dir / "checkpoints" / "checkpoint-1")),
        data_dir,
        tmp_path / "resumed",
    )

    assert resumed["global_step"] == 3
    assert resumed["cancelled"] is False


def test_cli_failure_exits_1_and_names_the_reason(tmp_path, data_dir):
    config = tmp_path / "config.json"
    quick_config(tmp_path / "no-such-model").to_json(config)

    code = runner_cli(["--config", str(config), "--data", str(data_dir), "--out", str(tmp_path / "out")])

    assert code == 1
    reason = json.loads((tmp_path / "out" / "error.json").read_text())
    assert reason == {"error": f"FileNotFoundError: no config.json in {tmp_path / 'no-such-model'}"}


def test_cli_refuses_an_empty_training_split(tmp_path, tiny_model_dir):
    config = tmp_path / "config.json"
    quick_config(tiny_model_dir).to_json(config)
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "train.jsonl").write_text("")

    assert runner_cli(["--config", str(config), "--data", str(tmp_path / "data"), "--out", str(tmp_path / "out")]) == 1
    assert json.loads((tmp_path / "out" / "error.json").read_text()) == {
        "error": f"ValueError: {tmp_path / 'data' / 'train.jsonl'}: no training conversations"}

"""SFT batching: packed rows kept as rows, and every batching learning from the same tokens with the same loss."""

import json

import pytest
import torch

from training.runner.batching import (
    PackedRowsCollator,
    PaddingFreeRowsCollator,
    flash_attention,
    rows_best_fit,
    trainer_batching,
)
from training.runner.config import RunConfig
from training.runner.sft import main
from training.tests.fixtures import support_conversations
from training.tests.runner.test_sft import metric_lines, quick_config


def test_packed_rows_stay_rows_with_positions_restarting_per_conversation():
    collator = PackedRowsCollator(pad_token_id=0)
    batch = collator([
        {"input_ids": [11, 12, 13, 21, 22], "seq_lengths": [3, 2]},
        {"input_ids": [31, 32, 33], "seq_lengths": [3]},
    ])

    assert set(batch) == {"input_ids", "labels", "position_ids"}
    assert batch["input_ids"].tolist() == [[11, 12, 13, 21, 22], [31, 32, 33, 0, 0]]
    assert batch["position_ids"].tolist() == [[0, 1, 2, 0, 1], [0, 1, 2, 0, 1]]
    # The first token of each conversation is no target of the one before it; padding is never learned.
    assert batch["labels"].tolist() == [[-100, 12, 13, -100, 22], [-100, 32, 33, -100, -100]]


def test_rows_best_fit_fills_the_fullest_row_that_still_fits():
    assert rows_best_fit([5, 2, 3, 4, 1], capacity=5) == [[0], [3, 4], [2, 1]]
    assert rows_best_fit([3], capacity=3) == [[0]]


def test_padding_free_rows_hold_the_batch_without_padding():
    collator = PaddingFreeRowsCollator(pad_token_id=0)
    batch = collator([
        {"input_ids": [11, 12]},
        {"input_ids": [21, 22, 23, 24], "labels": [-100, -100, 23, 24]},
        {"input_ids": [31, 32]},
    ])

    # Rows as wide as the longest conversation: [21..24] alone, then [11, 12] and [31, 32] together.
    assert batch["input_ids"].tolist() == [[21, 22, 23, 24], [11, 12, 31, 32]]
    assert batch["position_ids"].tolist() == [[0, 1, 2, 3], [0, 1, 0, 1]]
    assert batch["labels"].tolist() == [[-100, -100, 23, 24], [-100, 12, -100, 32]]


def _summed_loss(model, batches) -> tuple[float, int]:
    total, count = 0.0, 0
    with torch.no_grad():
        for batch in batches:
            labels = batch.pop("labels")
            logits = model(**{key: value for key, value in batch.items() if torch.is_tensor(value)}).logits
            targets = labels[:, 1:]
            total += torch.nn.functional.cross_entropy(
                logits[:, :-1].flatten(0, 1), targets.flatten(), ignore_index=-100, reduction="sum"
            ).item()
            count += int((targets != -100).sum())
    return total, count


@pytest.mark.slow
def test_padded_flattened_and_packed_row_batches_give_the_same_loss_over_the_same_tokens(tiny_model_dir, tmp_path):
    """Batches change what is computed, never what is learned: the untrained model's summed loss over the learned
    tokens is the same for TRL's padded batches, TRL's flattened padding-free packing and Whetstone's packed rows."""
    from trl import SFTConfig, SFTTrainer

    from training.runner.common import dataset_build
    from training.runner.models import model_prepare

    rows = [{"messages": row["messages"]} for row in support_conversations()]
    model, tokenizer, _ = model_prepare(RunConfig(base_model_path=str(tiny_model_dir)))
    model.eval()
    results = {}
    for name, packing in (("padded", False), ("flattened", True), ("rows", True), ("padding_free", False)):
        args = SFTConfig(output_dir=str(tmp_path / name), max_length=64, packing=packing, per_device_train_batch_size=3,
                         report_to="none", use_cpu=True)
        trainer = SFTTrainer(
            model=model, args=args, train_dataset=dataset_build(rows, ("messages",)), processing_class=tokenizer
        )
        if name == "rows":
            assert trainer_batching(trainer, packing=True, padding_free=True) == "packed_rows"
            assert isinstance(trainer.data_collator, PackedRowsCollator)
        if name == "padding_free":
            assert trainer_batching(trainer, packing=False, padding_free=True) == "padding_free_rows"
        batches = list(trainer.get_train_dataloader())
        if name in ("rows", "padding_free"):
            assert all("attention_mask" not in batch and batch["input_ids"].dim() == 2 for batch in batches)
            assert max(batch["input_ids"].size(0) for batch in batches) > 1
        results[name] = _summed_loss(model, batches)

    padded, count = results["padded"]
    assert {name: tokens for name, (_loss, tokens) in results.items()} == dict.fromkeys(results, count)
    for name in ("flattened", "rows", "padding_free"):
        assert results[name][0] == pytest.approx(padded, rel=1e-5), name


@pytest.mark.slow
def test_padding_free_training_takes_the_same_steps_with_the_same_losses_as_padded(tiny_model_dir, tmp_path):
    """The default layout changes nothing but the compute: same batches, same steps, the same loss at every step."""
    rows = [{"messages": row["messages"]} for row in support_conversations()]
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    (data_dir / "train.jsonl").write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows),
                                          encoding="utf-8")
    losses = {}
    for padding_free in (False, True):
        out_dir = tmp_path / f"out-{padding_free}"
        result = main(
            quick_config(tiny_model_dir, max_steps=4, per_device_train_batch_size=4, padding_free=padding_free),
            data_dir,
            out_dir,
        )
        assert result["global_step"] == 4
        losses[padding_free] = [line["values"]["loss"] for line in metric_lines(out_dir) if "loss" in line["values"]]
    assert len(losses[True]) == 4
    assert losses[True] == pytest.approx(losses[False], rel=1e-4)


def test_packed_rows_are_used_only_off_flash_attention(tiny_model_dir):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    assert flash_attention(model) is False
    model.config._attn_implementation = "flash_attention_2"
    assert flash_attention(model) is True

"""OpenAI's "weight": 0 on an assistant turn: the trainer reads that turn and learns none of its tokens, with and
without assistant-only loss, on the tiny model's template and on real ones (a marked template and one found by
rendering), and the launch page's preview shows exactly the trainer's labels."""

import pytest

from training.runner.encoding import IGNORED, row_prepare, sft_encode
from training.tests.fixtures import REAL_MODELS, TINY_TEXTS, _frozen_version
from training.tests.test_real_models import LEARNED, _preview_rows, _trainer_rows, quick_config

pytestmark = pytest.mark.slow

QWEN, MISTRAL = REAL_MODELS[0], REAL_MODELS[1]
FIRST, SECOND = TINY_TEXTS[2], TINY_TEXTS[4]


def conversation(*, first_weight=None, second_weight=None, system="You are a helpful support assistant.") -> list[dict]:
    messages = [{"role": "system", "content": system},
                {"role": "user", "content": TINY_TEXTS[1]}, {"role": "assistant", "content": FIRST},
                {"role": "user", "content": TINY_TEXTS[3]}, {"role": "assistant", "content": SECOND}]
    if first_weight is not None:
        messages[2]["weight"] = first_weight
    if second_weight is not None:
        messages[4]["weight"] = second_weight
    return messages


def encode(model_dir, messages, *, assistant_only_loss: bool):
    from transformers import AutoTokenizer

    from training.runner.templates import chat_plan

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    plan = chat_plan(tokenizer)
    return tokenizer, sft_encode(tokenizer, row_prepare({"messages": messages}, plan), plan,
                                 assistant_only_loss=assistant_only_loss)


def turn_text(name: str, reply: str) -> str:
    # SentencePiece decodes a stretch's first "▁" as nothing (see test_real_models).
    text = LEARNED[name].format(reply=reply)
    return text.removeprefix(" ") if name == MISTRAL else text


@pytest.mark.parametrize("assistant_only_loss", [True, False])
@pytest.mark.parametrize("name", ["tiny", QWEN, MISTRAL])
def test_the_turn_of_weight_0_and_nothing_else_is_left_unlearned(chat_model_dirs, name, assistant_only_loss):
    tokenizer, plain = encode(chat_model_dirs(name), conversation(), assistant_only_loss=assistant_only_loss)
    _, weighted = encode(chat_model_dirs(name), conversation(first_weight=0), assistant_only_loss=assistant_only_loss)
    _, weight_1 = encode(chat_model_dirs(name), conversation(first_weight=1, second_weight=1),
                         assistant_only_loss=assistant_only_loss)

    ids = plain["input_ids"]
    assert weighted["input_ids"] == ids and weight_1 == plain  # the same text; weight 1 is the default
    pairs = enumerate(zip(plain["labels"], weighted["labels"], strict=True))
    changed = [index for index, (before, after) in pairs if before != after]
    # One stretch of tokens, learned without the weight and not with it: exactly the first turn as the template writes
    # it.
    assert changed == list(range(changed[0], changed[-1] + 1))
    assert [plain["labels"][i] for i in changed] == [ids[i] for i in changed]
    assert [weighted["labels"][i] for i in changed] == [IGNORED] * len(changed)
    assert tokenizer.decode([ids[i] for i in changed], skip_special_tokens=False) == turn_text(name, FIRST)
    if assistant_only_loss:
        # Nothing learned before the second turn any more: the first learned token is the second turn's.
        first_learned = next(i for i, label in enumerate(weighted["labels"]) if label != IGNORED)
        learned = [token for token in weighted["labels"][first_learned:] if token != IGNORED]
        assert tokenizer.decode(learned, skip_special_tokens=False) == turn_text(name, SECOND)


def test_weight_0_on_the_final_reply_learns_only_the_earlier_one(chat_model_dirs):
    tokenizer, encoded = encode(chat_model_dirs("tiny"), conversation(second_weight=0), assistant_only_loss=True)
    learned = [token for token in encoded["labels"] if token != IGNORED]
    assert tokenizer.decode(learned, skip_special_tokens=False) == turn_text("tiny", FIRST)


@pytest.mark.parametrize("assistant_only_loss", [True, False])
@pytest.mark.parametrize("name", ["tiny", MISTRAL])
def test_the_preview_is_what_the_trainer_trains_with_weights(
    workspace, chat_model_dirs, tmp_path, name, assistant_only_loss
):
    from datahub.export import version_export_jsonl
    from training.runner import sft
    from training.services.base_models import base_model_register
    from training.services.hyperparameters import hyperparameters_clean
    from training.services.preview import training_run_preview

    # Six conversations: the first turn of weight 0 in three, the second in one, none in two.
    weights = [(0, None), (None, None), (0, 1), (None, 0), (0, None), (1, 1)]
    rows = [
        {
            "kind": "sft",
            "messages": conversation(first_weight=first, second_weight=second, system=f"You are agent {i}."),
        }
        for i, (first, second) in enumerate(weights)
    ]
    version = _frozen_version(workspace, "weighted", rows, validation_every=100)
    assert [m.get("weight") for m in version.entries.order_by("record_id")[0].record.messages] == [
        None,
        None,
        0,
        None,
        None,
    ]
    base_model = base_model_register(workspace=workspace, name=name, path=str(chat_model_dirs(name)))
    values = {"max_length": 512, "assistant_only_loss": assistant_only_loss}
    preview = training_run_preview(base_model=base_model, dataset_version=version, method="sft", examples=100,
                                   hyperparameters=hyperparameters_clean(values=values, base_model=base_model))
    assert preview["mismatch"] is None and preview["dropped"] == 0 and len(preview["examples"]) == 6
    # A turn of weight 0 is shown read, not learned: the learned text of three examples lacks the first reply, of one
    # the second (the examples come in the preview's own order).
    learned = [
        "".join(s["text"] for s in example["segments"] if s["state"] == "trained") for example in preview["examples"]
    ]
    assert [FIRST in text for text in learned].count(False) == 3
    assert [SECOND in text for text in learned].count(False) == 1
    assert all(FIRST in "".join(s["text"] for s in example["segments"]) for example in preview["examples"])

    data = tmp_path / "data"
    version_export_jsonl(version, split="train", path=data / "train.jsonl")
    config = quick_config(chat_model_dirs(name), max_length=512, assistant_only_loss=assistant_only_loss)
    trainer, _, _ = sft.trainer_build(config, data, tmp_path / "out")
    assert [_preview_rows(example, "sft", 512) for example in preview["examples"]] == _trainer_rows(trainer, "sft")

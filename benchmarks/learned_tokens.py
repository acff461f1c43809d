"""Which tokens an SFT run learns: the share of learned tokens that are the assistant's, for Whetstone's default
(assistant-only loss) against full-sequence training (the former default), on real data with a real chat template.

    .venv/bin/python benchmarks/learned_tokens.py [--n N] [--data FILE]

Model: a small random Qwen2 with Qwen2.5-Instruct's real tokenizer and ChatML template (../shared/data/tokenizers/
qwen2.5-7b-instruct, built by training.tiny_model.real_architecture_build); its template writes a default system prompt
("You are Qwen, created by Alibaba Cloud…") into every conversation that has none. Data: the first N records of
LLaMA-Factory's alpaca_zh_demo.json (../shared/data/sft/..., read in place), converted as an import converts them
(datahub.formats, Alpaca). Each run's training rows come from the real runner (training.runner.sft.trainer_build, TRL's
SFTTrainer with its dataset prepared, RunConfig defaults, max_length 1024); no step is trained.

Two measures of "the assistant's", over the learned tokens (labels not -100):
  assistant_share       tokens of a reply's text or of the <|im_end|> that ends it (what the model writes when it
                        answers)
  assistant_turn_share  tokens of the assistant's turn after its role header "<|im_start|>assistant": the reply, the
                        line breaks the template writes around it and its <|im_end|> (what TRL's marked training copy of
                        the template marks as the assistant's)
Prints progress on stderr and ONE JSON line last on stdout.
"""

import argparse
import json
import sys
import tempfile
from pathlib import Path

from harness import ROOT, say_as

DEFAULT_DATA = ROOT.parent / "shared" / "data" / "sft" / "hiyouga__LLaMA-Factory" / "alpaca_zh_demo.json"
TOKENIZER = ROOT.parent / "shared" / "data" / "tokenizers" / "qwen2.5-7b-instruct"
HEADER, TURN_END = "<|im_start|>assistant\n", "<|im_end|>"
say = say_as("learned_tokens")


def conversations(path: Path, n: int) -> list[dict]:
    from datahub.formats import row_canonical

    with open(path, encoding="utf-8") as source:
        records = json.load(source)[:n]
    return [
        {"messages": row_canonical(record, format="alpaca", line=line)["messages"]}
        for line, record in enumerate(records, 1)
    ]


def assistant_spans(text: str, messages: list[dict]) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """(reply spans, turn spans) of the assistant's turns in a ChatML text, in characters."""
    replies, turns, position = [], [], 0
    for message in messages:
        if message["role"] != "assistant":
            continue
        start = text.index(HEADER + message["content"], position) + len(HEADER)
        end = start + len(message["content"]) + len(TURN_END)
        replies.append((start, end))
        turns.append((start - 1, end + 1))  # the "\n" after the role header, and the one after <|im_end|>
        position = end
    return replies, turns


def shares(trainer, tokenizer, rows: list[dict]) -> dict:
    learned = reply = turn = 0
    for row, prepared in zip(rows, trainer.train_dataset, strict=True):
        text = tokenizer.apply_chat_template(row["messages"], tokenize=False)
        encoded = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
        if encoded["input_ids"][:len(prepared["input_ids"])] != prepared["input_ids"]:
            raise AssertionError("the trainer's tokens are not the template's text")
        replies, turns = assistant_spans(text, row["messages"])
        for (start, end), label in zip(encoded["offset_mapping"], prepared["labels"]):
            if label == -100:
                continue
            learned += 1
            reply += any(a <= start and end <= b for a, b in replies)
            turn += any(a <= start and end <= b for a, b in turns)
    return {
        "learned_tokens": learned,
        "assistant_share": round(reply / learned, 4),
        "assistant_turn_share": round(turn / learned, 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=1000, help="Alpaca records (alpaca_zh_demo.json has 1,000)")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    options = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from transformers import AutoTokenizer

    from training.runner.config import RunConfig
    from training.runner.sft import trainer_build
    from training.tiny_model import real_architecture_build

    rows = conversations(options.data, options.n)
    results = {}
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        model_dir = real_architecture_build(tokenizer_dir=TOKENIZER, out_dir=work / "model")
        data = work / "data"
        data.mkdir()
        (data / "train.jsonl").write_text(
            "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8"
        )
        tokenizer = AutoTokenizer.from_pretrained(model_dir)
        for name, overrides in (("default", {}), ("baseline", {"assistant_only_loss": False})):
            say(f"{name}: preparing {len(rows)} conversations")
            trainer, _, _ = trainer_build(
                RunConfig(base_model_path=str(model_dir), max_steps=1, **overrides), data, work / name
            )
            results[name] = shares(trainer, tokenizer, rows)
            say(f"{name}: {results[name]}")
    default, baseline = results["default"], results["baseline"]
    print(json.dumps({
        "benchmark": "learned_tokens", "n": len(rows), **default,
        "baseline": "full-sequence training (assistant_only_loss off, the former default)",
        "baseline_learned_tokens": baseline["learned_tokens"], "baseline_assistant_share": baseline["assistant_share"],
        "baseline_assistant_turn_share": baseline["assistant_turn_share"],
        "ratio": round(default["assistant_turn_share"] / baseline["assistant_turn_share"], 3), "target": 1.0,
    }))


if __name__ == "__main__":
    main()

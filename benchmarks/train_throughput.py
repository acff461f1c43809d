"""SFT throughput: Whetstone's SFT batching against TRL's padded default, and what live metric streaming costs.

    .venv/bin/python benchmarks/train_throughput.py [--n N] [--repeats R] [--data FILE]

Model: a random Llama of the tiny chat model's family, 4 layers, hidden 256, MLP 1024, 4 heads, with a 4,000-token
BPE vocabulary trained here on the data's own text (nothing downloaded). Big enough that a step is matrix work, not
Python overhead (about 6M weights; a step of 8 conversations takes seconds), small enough to run on a shared CPU.
Data: the first N conversations of LLaMA-Factory's alpaca_en_demo.json (read in place, ../shared/data/sft/...), real
instructions whose lengths vary from a few dozen to over 500 tokens: random batches of 8 padded to their longest are
about half padding. Cut at max_length 512. One epoch each, through the real runner (training.runner.sft.main), LoRA r16:

  baseline   TRL's default: random batches of 8, each padded to its longest conversation
  default    Whetstone's default (padding_free): the very same batches of 8, laid out without padding, best-fit
             decreasing into rows as wide as the batch's longest conversation, each conversation with its own position
             ids (training.runner.batching.PaddingFreeRowsCollator): same steps, same loss at every step
  packed     Whetstone's packing option: the dataset packed into rows of max_length (TRL's best-fit decreasing), a row
             per batch row (training.runner.batching.PackedRowsCollator). Batch size chosen so it takes about the same
             real tokens per optimizer step as the baseline.
  Why not TRL's own padding-free collator: it flattens the batch into ONE row, which off flash attention (sdpa on a
  CPU) makes attention quadratic in the whole batch; that is why packing measured only 1.03x before.
  tokens/s   real (non-padding) tokens trained per second of train_runtime: the same token count for every run.
  loss       the mean training loss over the epoch (Trainer's train_loss): different batches, close values; and
  same_tokens_loss  the untrained model's mean loss over every learned token, computed through each batching's
             collator: equal when every batching learns from the same tokens with the same targets.

Torch runs on ONE thread: the machine is shared, and one thread keeps a run's speed its own work. The runs are repeated
R times, interleaved, and the fastest of each counts (other work on the machine only ever slows a run down), so the
ratios within one invocation are fair even under load; absolute tokens/s are not. `cpu_ratio` / `packed_cpu_ratio`
compare the CPU seconds of the runner's thread instead (loading and data preparation included, so conservative): on a
crowded machine they move far less than wall time does.

Streaming overhead: the default run with the platform's live links (PlatformCallback writing metrics.jsonl every step,
and in this process a thread doing what the job does every second: read the new lines, insert MetricPoints into
PostgreSQL, beat the heartbeat) against the same run with them off. `streaming_overhead` is the links' own cost per step
(timed alone, see streaming_cost_per_step) over the quiet run's seconds per step; the whole-run difference is printed
too, as `streaming_overhead_end_to_end`, but on a busy machine its noise is larger than the effect.

Uses its own database `whet_bench_train_throughput` (dropped and made anew). Prints progress on stderr and ONE JSON
line last on stdout: tokens_per_s, baseline_tokens_per_s, ratio, target, loss, baseline_loss, streaming_overhead
(tokens_per_s, ratio and loss are the default's, the run any SFT gets; packed_* are the packing option's; and
same_tokens_loss and the runs' details).
"""

import argparse
import json
import random
import sys
import tempfile
import threading
import time
from pathlib import Path

from harness import ROOT, database_recreate, django_start, say_as

DB_NAME = "whet_bench_train_throughput"
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "sft" / "hiyouga__LLaMA-Factory" / "alpaca_en_demo.json"
MAX_LENGTH = 512
PADDED_BATCH = 8
# The padded default, Whetstone's packed run with its live links, and the packed run without them.
TARGET_RATIO = 1.5
TARGET_STREAMING = 0.03
say = say_as("train_throughput")


def conversations(path: Path, n: int) -> list[dict]:
    """The first n Alpaca records of `path` as {"messages": [...]} conversations (instruction + input, then output)."""
    with open(path, encoding="utf-8") as source:
        records = json.load(source)[:n]
    return [{"messages": [
        {"role": "user", "content": record["instruction"] + (f"\n{record['input']}" if record.get("input") else "")},
        {"role": "assistant", "content": record["output"]},
    ]} for record in records]


def model_build(model_dir: Path, rows: list[dict]) -> Path:
    """The tiny chat model's family and template, with a 4,000-token vocabulary trained on the data and wider layers."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    from training.tiny_model import tiny_model_build

    texts = [message["content"] for row in rows for message in row["messages"]]
    tiny_model_build(out_dir=model_dir, texts=texts, vocab_size=4000)
    config = AutoConfig.from_pretrained(model_dir)
    config.hidden_size, config.intermediate_size, config.num_hidden_layers = 256, 1024, 4
    config.head_dim = config.hidden_size // config.num_attention_heads
    torch.manual_seed(0)
    AutoModelForCausalLM.from_config(config).save_pretrained(model_dir)
    return model_dir


def real_tokens(model_dir: Path, rows: list[dict]) -> tuple[int, float]:
    """(tokens the trainer sees, fraction of a random padded batch that is padding) for one epoch in a random order."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    lengths = [
        min(
            MAX_LENGTH,
            len(tokenizer.apply_chat_template(row["messages"], tokenize=True, return_dict=True)["input_ids"]),
        )
        for row in rows
    ]
    random.Random(0).shuffle(lengths)
    padded = sum(
        max(lengths[i : i + PADDED_BATCH]) * len(lengths[i : i + PADDED_BATCH])
        for i in range(0, len(lengths), PADDED_BATCH)
    )
    return sum(lengths), 1 - sum(lengths) / padded


def run_config(model_dir: Path, *, packing: bool, padding_free: bool, batch: int, stream: bool):
    from training.runner.config import RunConfig

    return RunConfig(base_model_path=str(model_dir), num_train_epochs=1, per_device_train_batch_size=batch,
                     gradient_accumulation_steps=1, learning_rate=1e-3, lora_r=16, lora_alpha=32, lora_dropout=0.0,
                     max_length=MAX_LENGTH, logging_steps=1, packing=packing, padding_free=padding_free,
                     stream_metrics=stream, seed=7)


def same_tokens_loss(model_dir: Path, data_dir: Path, out_dir: Path, **variant) -> tuple[float, int]:
    """(mean loss, learned tokens) of the untrained model over one epoch of batches built by this variant's collator.

    Sums the per-token cross-entropy itself (the Trainer's loss is a mean per batch), so batchings that learn from the
    same tokens with the same targets give the same figure whatever their batches look like.
    """
    import torch
    from trl import SFTConfig, SFTTrainer

    from training.runner.batching import trainer_batching
    from training.runner.common import dataset_build, rows_read
    from training.runner.models import model_prepare

    config = run_config(model_dir, stream=False, **variant)
    model, tokenizer, peft_config = model_prepare(config)
    args = SFTConfig(
        output_dir=str(out_dir),
        max_length=MAX_LENGTH,
        packing=config.packing,
        report_to="none",
        use_cpu=True,
        per_device_train_batch_size=config.per_device_train_batch_size,
    )
    trainer = SFTTrainer(
        model=model,
        args=args,
        train_dataset=dataset_build(rows_read(data_dir / "train.jsonl"), ("messages",)),
        processing_class=tokenizer,
    )
    trainer_batching(trainer, packing=config.packing, padding_free=config.padding_free)
    total, count = 0.0, 0
    trainer.model.eval()
    with torch.no_grad():
        for batch in trainer.get_train_dataloader():
            labels = batch.pop("labels")
            logits = trainer.model(**{key: value for key, value in batch.items() if torch.is_tensor(value)}).logits
            targets = labels[:, 1:]
            losses = torch.nn.functional.cross_entropy(logits[:, :-1].flatten(0, 1).float(), targets.flatten(),
                                                       ignore_index=-100, reduction="sum")
            total += losses.item()
            count += int((targets != -100).sum())
    return total / count, count


class IngestLoop(threading.Thread):
    """The job's side of streaming, every second: new metric lines into the database, and the heartbeat."""

    def __init__(self, run, out_dir: Path):
        super().__init__(daemon=True)
        self.run_row, self.out_dir, self.done = run, out_dir, threading.Event()
        self.ingested = 0

    def run(self):
        from django.db import connection

        from training.runner.files import METRICS_FILE
        from training.services.execution import MetricsTail, metric_points_ingest
        from training.services.runs import training_run_heartbeat

        tail = MetricsTail(self.out_dir / METRICS_FILE)
        try:
            while True:
                stop = self.done.wait(1.0)
                self.ingested += metric_points_ingest(run=self.run_row, rows=tail.new_lines())
                training_run_heartbeat(run=self.run_row, progress=None)
                if stop:
                    return
        finally:
            connection.close()


def train(model_dir: Path, data_dir: Path, out_dir: Path, *, stream: bool, run=None, **variant) -> dict:
    from training.runner.sft import main

    config = run_config(model_dir, stream=stream, **variant)
    loop = IngestLoop(run, out_dir) if stream and run is not None else None
    if loop:
        out_dir.mkdir(parents=True, exist_ok=True)
        loop.start()
    started = time.thread_time()
    try:
        result = main(config, data_dir, out_dir)
        # Torch computes on this thread alone (one thread, no data-loader workers): its CPU time is the run's own work,
        # which other programs on a shared machine do not stretch the way they stretch wall time.
        result["cpu_seconds"] = time.thread_time() - started
    finally:
        if loop:
            loop.done.set()
            loop.join()
    return result


def streaming_cost_per_step(run, out_dir: Path, *, calls: int = 500) -> float:
    """Seconds the live links add to one optimizer step, measured on their own (a shared machine's noise swamps a
    few-percent difference between two whole runs): the callback's work at every step (a metrics line, progress.json,
    the CANCEL check) and one poll of the job (read new lines, insert them, beat the heartbeat), which happens once a
    second, charged here in full to every step as if steps took a second or less."""
    from transformers import TrainerControl, TrainerState, TrainingArguments

    from training.runner.callbacks import PlatformCallback
    from training.runner.files import METRICS_FILE
    from training.services.execution import MetricsTail, metric_points_ingest
    from training.services.runs import training_run_heartbeat

    out_dir.mkdir(parents=True, exist_ok=True)
    callback, control = PlatformCallback(out_dir), TrainerControl()
    args = TrainingArguments(output_dir=str(out_dir), report_to="none", use_cpu=True)
    state = TrainerState(max_steps=calls, epoch=0.0)
    logs = {
        "loss": 5.9,
        "grad_norm": 1.0,
        "learning_rate": 1e-3,
        "entropy": 6.3,
        "mean_token_accuracy": 0.2,
        "num_tokens": 1e4,
    }
    started = time.perf_counter()
    for step in range(1, calls + 1):
        state.global_step = step
        callback.on_step_end(args, state, control)
        callback.on_log(args, state, control, logs=logs)
    per_step = (time.perf_counter() - started) / calls
    tail = MetricsTail(out_dir / METRICS_FILE)
    started = time.perf_counter()
    polls = 20
    for index in range(polls):
        rows = tail.new_lines() if index == 0 else [{"step": index, "values": logs}]
        metric_points_ingest(run=run, rows=rows[:1])
        training_run_heartbeat(run=run, progress=None)
    per_poll = (time.perf_counter() - started) / polls
    return per_step + per_poll


def platform_run(model_dir: Path, rows: list[dict]):
    """A real queued run row for the ingest loop to write against: workspace, base model, frozen version."""
    from accounts.services import workspace_create
    from datahub.models import DatasetVersion, Record
    from datahub.services.datasets import dataset_create
    from datahub.services.records import records_bulk_create
    from datahub.services.versions import dataset_version_create
    from training.services.base_models import base_model_register
    from training.services.runs import training_run_create

    workspace = workspace_create(name="bench")
    base_model = base_model_register(workspace=workspace, name="tiny-chat", path=str(model_dir))
    dataset = dataset_create(workspace=workspace, name="support")
    records_bulk_create(dataset=dataset, rows=[{"kind": "sft", **row} for row in rows[:20]])
    ids = Record.objects.filter(dataset=dataset).values_list("pk", flat=True)
    version = dataset_version_create(
        dataset=dataset, entries=[(pk, "train", []) for pk in ids], operation=DatasetVersion.Operation.FREEZE
    )
    return training_run_create(workspace=workspace, name="streaming", base_model=base_model, dataset_version=version)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=160, help="training conversations (default 160)")
    parser.add_argument(
        "--repeats", type=int, default=2, help="runs of each variant, interleaved; the fastest counts (default 2)"
    )
    parser.add_argument(
        "--data", type=Path, default=DEFAULT_DATA, help="an Alpaca JSON file (default: alpaca_en_demo.json)"
    )
    options = parser.parse_args()
    if not options.data.is_file():
        sys.exit(f"no data file {options.data}; pass --data with an Alpaca JSON file")

    import torch

    torch.set_num_threads(1)
    work = Path(tempfile.mkdtemp(prefix="train-throughput-"))
    say(f"database {DB_NAME}, work directory {work}")
    django_start(database_recreate(DB_NAME), migrate=True, storage=work / "storage", quiet_tokenizers=True)
    (work / "storage").mkdir(exist_ok=True)
    rows = conversations(options.data, options.n)
    model_dir = model_build(work / "model", rows)
    data_dir = work / "data"
    data_dir.mkdir()
    (data_dir / "train.jsonl").write_text(
        "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8"
    )
    tokens, padding = real_tokens(model_dir, rows)
    # About the same real tokens per optimizer step as the padded batch: comparable learning, comparable loss.
    packed_batch = max(1, round(PADDED_BATCH * tokens / len(rows) / MAX_LENGTH))
    say(
        f"{len(rows)} conversations, {tokens} real tokens, {padding:.0%} of a random padded batch is padding; packed "
        f"batch {packed_batch}"
    )

    variants = {
        "baseline": ({"packing": False, "padding_free": False, "batch": PADDED_BATCH}, False),
        "default": ({"packing": False, "padding_free": True, "batch": PADDED_BATCH}, True),
        "quiet": ({"packing": False, "padding_free": True, "batch": PADDED_BATCH}, False),
        "packed": ({"packing": True, "padding_free": True, "batch": packed_batch}, False),
    }
    same_loss = {}
    for name in ("baseline", "default", "packed"):
        same_loss[name] = same_tokens_loss(model_dir, data_dir, work / f"loss-{name}", **variants[name][0])
        say(
            f"untrained loss over the learned tokens, {name} batches: {same_loss[name][0]:.6f} over "
            f"{same_loss[name][1]} tokens"
        )

    run = platform_run(model_dir, rows)
    results = {name: [] for name in variants}
    for repeat in range(options.repeats):
        for name, (variant, stream) in variants.items():
            say(f"{name} ({repeat + 1}/{options.repeats}): {variant}, streaming {stream}")
            result = train(model_dir, data_dir, work / f"{name}-{repeat}", stream=stream, run=run, **variant)
            say(
                f"  {result['train_runtime']:.1f} s ({result['cpu_seconds']:.1f} CPU s with loading), loss "
                f"{result['train_loss']:.4f}, "
                f"{result['global_step']} steps"
            )
            results[name].append(result)

    from training.models import MetricPoint

    fastest = {name: min(runs, key=lambda result: result["train_runtime"]) for name, runs in results.items()}
    for name, runs in results.items():
        fastest[name] = {**fastest[name], "cpu_seconds": min(result["cpu_seconds"] for result in runs)}
    baseline, default, packed, quiet = (fastest[name] for name in ("baseline", "default", "packed", "quiet"))
    tokens_per_s = tokens / default["train_runtime"]
    baseline_tokens_per_s = tokens / baseline["train_runtime"]
    packed_tokens_per_s = tokens / packed["train_runtime"]
    end_to_end = default["train_runtime"] / quiet["train_runtime"] - 1
    step_seconds = quiet["train_runtime"] / quiet["global_step"]
    overhead = streaming_cost_per_step(run, work / "streaming-cost") / step_seconds
    print(json.dumps({
        "benchmark": "train_throughput",
        "n": len(rows),
        "tokens_per_s": round(tokens_per_s, 1),
        "baseline_tokens_per_s": round(baseline_tokens_per_s, 1),
        "ratio": round(tokens_per_s / baseline_tokens_per_s, 3),
        "target": TARGET_RATIO,
        "loss": round(default["train_loss"], 4),
        "baseline_loss": round(baseline["train_loss"], 4),
        "packed_tokens_per_s": round(packed_tokens_per_s, 1),
        "packed_ratio": round(packed_tokens_per_s / baseline_tokens_per_s, 3),
        "packed_loss": round(packed["train_loss"], 4),
        "same_tokens_loss": {name: round(loss, 6) for name, (loss, _count) in same_loss.items()},
        "same_tokens": {name: count for name, (_loss, count) in same_loss.items()},
        "cpu_ratio": round(baseline["cpu_seconds"] / default["cpu_seconds"], 3),
        "packed_cpu_ratio": round(baseline["cpu_seconds"] / packed["cpu_seconds"], 3),
        "streaming_overhead": round(overhead, 5),
        "streaming_target": TARGET_STREAMING,
        "streaming_overhead_end_to_end": round(end_to_end, 3),
        "real_tokens": tokens,
        "padding_fraction": round(padding, 3),
        "steps": default["global_step"],
        "baseline_steps": baseline["global_step"],
        "packed_steps": packed["global_step"],
        "torch_threads": 1,
        "model": "llama 4x256 (mlp 1024, vocab 4000)",
        "metric_points_ingested": MetricPoint.objects.filter(run=run).count(),
    }))


if __name__ == "__main__":
    main()

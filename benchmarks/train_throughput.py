"""SFT throughput: Whetstone's packed run against TRL's padded default, and what live metric streaming costs.

    .venv/bin/python benchmarks/train_throughput.py [--n N] [--repeats R]

On a small random Llama (the tiny chat model's tokenizer and template, built here, nothing downloaded, widened to
hidden 256 so that, as in any real model, the linear layers and not attention over max_length dominate the cost)
and N synthetic support conversations whose lengths vary widely (so a padded batch is about half padding), one epoch
each, through the real runner (training.runner.sft.main):

  baseline   TRL's default: every batch padded to its longest conversation
  packed     Whetstone's packing option: conversations packed into max_length rows, no padding (best-fit decreasing,
             each keeps its own position ids). The batch size is chosen so both take about the same number of real
             tokens per optimizer step, so their losses are comparable.
  tokens/s   real (non-padding) tokens trained per second of train_runtime: the same token count for both runs.
  loss       the mean training loss over the epoch (Trainer's train_loss).

Streaming overhead: the packed run with the platform's live links (PlatformCallback writing metrics.jsonl every step,
and in this process a thread doing what the job does every second: read the new lines, insert MetricPoints into
PostgreSQL, beat the heartbeat) against the same run with them off. All three runs are repeated R times, interleaved,
and the fastest of each counts (a shared machine only ever slows a run down). `streaming_overhead` is the links' own
cost per step (timed alone, see streaming_cost_per_step) over the quiet run's seconds per step; the whole-run
difference is printed too, as `streaming_overhead_end_to_end`, but on a busy machine its noise is larger than the effect.

Uses its own database `whet_bench_train_throughput` (dropped and made anew). Prints progress on stderr and ONE JSON
line last on stdout: tokens_per_s, baseline_tokens_per_s, ratio, target, loss, baseline_loss, streaming_overhead
(+ streaming_target and the runs' details).
"""

import argparse
import json
import os
import random
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DB_NAME = "whet_bench_train_throughput"
ADMIN_URL = os.environ.get("BENCH_POSTGRES_URL", "postgres://root@127.0.0.1:5432/postgres")
MAX_LENGTH = 512
PADDED_BATCH = 8
# The padded default, Whetstone's packed run with its live links, and the packed run without them.
TARGET_RATIO = 1.5
TARGET_STREAMING = 0.03


def say(message: str) -> None:
    print(f"[train_throughput] {message}", file=sys.stderr, flush=True)


def database_recreate() -> str:
    import psycopg

    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{DB_NAME}"')
    return f"{ADMIN_URL.rsplit('/', 1)[0]}/{DB_NAME}"


def django_start(database_url: str, storage: Path) -> None:
    os.environ["DATABASE_URL"] = database_url
    os.environ["WHETSTONE_STORAGE"] = str(storage)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def conversations(n: int, seed: int = 0) -> list[dict]:
    """Support conversations of 1 to 14 sentences per reply: lengths spread from ~40 to ~450 tokens."""
    from training.tiny_model import BUILTIN_TEXTS

    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        question = rng.choice(BUILTIN_TEXTS)
        answer = " ".join(rng.choice(BUILTIN_TEXTS) for _ in range(rng.choice([1, 1, 2, 2, 3, 4, 6, 9, 14])))
        rows.append({"messages": [{"role": "system", "content": "You are a helpful support assistant."},
                                  {"role": "user", "content": question}, {"role": "assistant", "content": answer}]})
    return rows


def model_widen(model_dir: Path, *, hidden: int = 256, intermediate: int = 1024) -> None:
    """Rewrite the tiny model's weights as a wider random model of the same family, tokenizer and template unchanged."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    config = AutoConfig.from_pretrained(model_dir)
    config.hidden_size, config.intermediate_size = hidden, intermediate
    config.head_dim = hidden // config.num_attention_heads
    torch.manual_seed(0)
    AutoModelForCausalLM.from_config(config).save_pretrained(model_dir)


def real_tokens(model_dir: Path, rows: list[dict]) -> tuple[int, float]:
    """(tokens the trainer sees, fraction of a padded batch that is padding) for one epoch in the data's order."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    lengths = [min(MAX_LENGTH, len(tokenizer.apply_chat_template(row["messages"], tokenize=True, return_dict=True)["input_ids"]))
               for row in rows]
    padded = sum(max(lengths[i:i + PADDED_BATCH]) * len(lengths[i:i + PADDED_BATCH]) for i in range(0, len(lengths), PADDED_BATCH))
    return sum(lengths), 1 - sum(lengths) / padded


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


def train(model_dir: Path, data_dir: Path, out_dir: Path, *, packing: bool, batch: int, stream: bool, run=None) -> dict:
    from training.runner.config import RunConfig
    from training.runner.sft import main

    config = RunConfig(base_model_path=str(model_dir), num_train_epochs=1, per_device_train_batch_size=batch,
                       gradient_accumulation_steps=1, learning_rate=1e-3, lora_r=16, lora_alpha=32, lora_dropout=0.0,
                       max_length=MAX_LENGTH, logging_steps=1, packing=packing, stream_metrics=stream, seed=7)
    loop = IngestLoop(run, out_dir) if stream and run is not None else None
    if loop:
        out_dir.mkdir(parents=True, exist_ok=True)
        loop.start()
    try:
        result = main(config, data_dir, out_dir)
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
    logs = {"loss": 5.9, "grad_norm": 1.0, "learning_rate": 1e-3, "entropy": 6.3, "mean_token_accuracy": 0.2, "num_tokens": 1e4}
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
    version = dataset_version_create(dataset=dataset, entries=[(pk, "train", []) for pk in ids], operation=DatasetVersion.Operation.FREEZE)
    return training_run_create(workspace=workspace, name="streaming", base_model=base_model, dataset_version=version)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=160, help="training conversations (default 160)")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each variant, interleaved; the fastest counts (default 3)")
    options = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="train-throughput-"))
    say(f"database {DB_NAME}, work directory {work}")
    django_start(database_recreate(), work / "storage")
    (work / "storage").mkdir(exist_ok=True)
    from training.tiny_model import BUILTIN_TEXTS, tiny_model_build

    model_dir = tiny_model_build(out_dir=work / "tiny-model", texts=BUILTIN_TEXTS * 3, vocab_size=600)
    model_widen(model_dir)
    rows = conversations(options.n)
    data_dir = work / "data"
    data_dir.mkdir()
    (data_dir / "train.jsonl").write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")
    tokens, padding = real_tokens(model_dir, rows)
    # About the same real tokens per optimizer step as the padded batch: comparable learning, comparable loss.
    packed_batch = max(1, round(PADDED_BATCH * tokens / len(rows) / MAX_LENGTH))
    say(f"{len(rows)} conversations, {tokens} real tokens, {padding:.0%} of a padded batch is padding; packed batch {packed_batch}")

    # Interleaved and repeated, the fastest of each counting: other work on the machine only ever slows a run down.
    run = platform_run(model_dir, rows)
    variants = {"baseline": (False, PADDED_BATCH, False), "packed": (True, packed_batch, True), "quiet": (True, packed_batch, False)}
    results = {name: [] for name in variants}
    for repeat in range(options.repeats):
        for name, (packing, batch, stream) in variants.items():
            say(f"{name} ({repeat + 1}/{options.repeats}): packing {packing}, batch {batch}, streaming {stream}")
            result = train(model_dir, data_dir, work / f"{name}-{repeat}", packing=packing, batch=batch, stream=stream, run=run)
            say(f"  {result['train_runtime']:.1f} s, loss {result['train_loss']:.4f}, {result['global_step']} steps")
            results[name].append(result)

    from training.models import MetricPoint

    baseline = min(results["baseline"], key=lambda result: result["train_runtime"])
    packed = min(results["packed"], key=lambda result: result["train_runtime"])
    fastest_quiet = min(results["quiet"], key=lambda result: result["train_runtime"])
    tokens_per_s = tokens / packed["train_runtime"]
    baseline_tokens_per_s = tokens / baseline["train_runtime"]
    end_to_end = packed["train_runtime"] / fastest_quiet["train_runtime"] - 1
    step_seconds = fastest_quiet["train_runtime"] / fastest_quiet["global_step"]
    overhead = streaming_cost_per_step(run, work / "streaming-cost") / step_seconds
    print(json.dumps({
        "tokens_per_s": round(tokens_per_s, 1),
        "baseline_tokens_per_s": round(baseline_tokens_per_s, 1),
        "ratio": round(tokens_per_s / baseline_tokens_per_s, 3),
        "target": TARGET_RATIO,
        "loss": round(packed["train_loss"], 4),
        "baseline_loss": round(baseline["train_loss"], 4),
        "streaming_overhead": round(overhead, 5),
        "streaming_target": TARGET_STREAMING,
        "streaming_overhead_end_to_end": round(end_to_end, 3),
        "conversations": len(rows),
        "real_tokens": tokens,
        "padding_fraction": round(padding, 3),
        "steps": packed["global_step"],
        "baseline_steps": baseline["global_step"],
        "metric_points_ingested": MetricPoint.objects.filter(run=run).count(),
    }))


if __name__ == "__main__":
    main()

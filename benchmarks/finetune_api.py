"""Wall time of a supervised fine-tuning job through the OpenAI API, end to end, on the tiny model on the CPU.

    .venv/bin/python benchmarks/finetune_api.py [--n ROWS] [--port P]

Builds a throwaway database `whet_bench_finetune_api` (dropped and made anew on each run), writes the tiny chat model
to a temporary directory and registers it, then starts `manage.py serve_models` (the whole site, /v1/ included) and
`manage.py db_worker` in subprocesses on 127.0.0.1. With the official `openai` package it uploads an N-row training
file (default 24), creates a job with every hyperparameter "auto", polls until it succeeds and asks the fine-tuned
model one question: that is `api_s`. As the baseline it then trains the same data version with the same resolved
settings as a plain training run (training_run_create, the same worker), from launch to succeeded: `direct_s`.

Prints progress on stderr and ONE JSON line last on stdout: api_s (with its parts upload_s, queued_to_done_s, chat_s),
direct_s, steps, and ratio = direct_s / api_s (what the API layer costs; 1.0 means nothing).
"""

import argparse
import io
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from harness import ROOT, database_recreate, django_start, free_port, say_as

DB_NAME = "whet_bench_finetune_api"
say = say_as("finetune_api")


def _serve(port: int, *, database_url: str, env: dict, log_path: Path) -> subprocess.Popen:
    """`manage.py serve_models` (the whole site) in its own process, once it answers. Like harness.manage_serve, with
    a longer wait: the server imports torch, which on a busy shared machine takes more than a minute."""
    import httpx

    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                str(ROOT / "manage.py"),
                "serve_models",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--torch-threads",
                "1",
            ],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=log,
            env={**os.environ, **env, "DATABASE_URL": database_url},
        )
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(
                f"serve_models exited with code {process.returncode}:\n{log_path.read_text(errors='replace')[-2000:]}"
            )
        try:
            httpx.get(f"http://127.0.0.1:{port}/v1/models", timeout=2)
            return process
        except httpx.HTTPError:
            time.sleep(0.5)
    process.terminate()
    raise SystemExit("serve_models did not answer within 600 s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=24, help="training examples (default 24)")
    parser.add_argument("--port", type=int, default=0, help="server port (default: any free one)")
    args = parser.parse_args()

    scratch = Path(tempfile.mkdtemp(prefix="finetune-api-"))
    storage = scratch / "storage"
    storage.mkdir()
    os.environ["WHETSTONE_MODEL_ROOTS"] = str(scratch)
    database_url = database_recreate(DB_NAME)
    say("migrating")
    django_start(database_url, migrate=True, storage=storage, quiet_tokenizers=True)

    import openai

    from accounts.models import Role
    from accounts.services import api_token_for, membership_set, user_create, workspace_create
    from training.models import TrainingRun
    from training.services.base_models import base_model_register
    from training.services.runs import training_run_create
    from training.tiny_model import BUILTIN_TEXTS, tiny_model_build

    sys.path.insert(0, str(ROOT))
    from finetuning.tests.fixtures import support_rows, training_lines

    say("building the tiny model")
    model_dir = tiny_model_build(out_dir=scratch / "tiny", texts=BUILTIN_TEXTS * 3, vocab_size=600)
    workspace = workspace_create(name="Bench")
    user = user_create(username="bench", password="bench-pw")
    membership_set(workspace=workspace, user=user, role=Role.ML_ENGINEER)
    base_model_register(workspace=workspace, name="tiny-chat", path=str(model_dir))

    port = args.port or free_port()
    env = {"WHETSTONE_STORAGE": str(storage), "WHETSTONE_MODEL_ROOTS": str(scratch), "TOKENIZERS_PARALLELISM": "false"}
    say(f"starting serve_models on 127.0.0.1:{port} and a worker")
    server = _serve(port, database_url=database_url, env=env, log_path=scratch / "server.log")
    with open(scratch / "worker.log", "wb") as log:
        worker = subprocess.Popen([sys.executable, str(ROOT / "manage.py"), "db_worker", "--queue-name", "*",
                                   "--interval", "0.2", "--no-startup-delay", "--no-reload"], cwd=ROOT, stdout=log,
                                  stderr=subprocess.STDOUT, env={**os.environ, **env, "DATABASE_URL": database_url})
    try:
        client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key=api_token_for(user=user), max_retries=0,
                               timeout=300)
        api_started = time.perf_counter()
        file = client.files.create(
            file=("train.jsonl", io.BytesIO(training_lines(support_rows(args.n)))), purpose="fine-tune"
        )
        uploaded = time.perf_counter()
        job = client.fine_tuning.jobs.create(model="tiny-chat", training_file=file.id)
        while job.status not in ("succeeded", "failed", "cancelled"):
            time.sleep(0.25)
            job = client.fine_tuning.jobs.retrieve(job.id)
        done = time.perf_counter()
        if job.status != "succeeded":
            raise SystemExit(f"the job ended {job.status}: {job.error}\n{(scratch / 'worker.log').read_text()[-2000:]}")
        client.chat.completions.create(model=job.fine_tuned_model, messages=[{"role": "user", "content": "Hello"}],
                                       max_tokens=8)
        api_s = time.perf_counter() - api_started
        chat_s = time.perf_counter() - done
        say(
            f"API job {job.id}: {api_s:.1f} s (n_epochs {job.hyperparameters.n_epochs}, batch "
            f"{job.hyperparameters.batch_size})"
        )

        from finetuning.models import FineTuningJob

        made = FineTuningJob.objects.select_related("run").get(public_id=job.id)
        steps = made.run.metric_points.order_by("-step").values_list("step", flat=True).first()
        started = time.perf_counter()
        run = training_run_create(workspace=workspace, name="direct", base_model=made.base_model,
                                  dataset_version=made.dataset_version, method=made.run.method,
                                  hyperparameters=made.run.hyperparameters, created_by=user)
        while TrainingRun.objects.get(pk=run.pk).status not in ("succeeded", "failed", "cancelled"):
            time.sleep(0.25)
        direct_s = time.perf_counter() - started
        say(f"direct run: {direct_s:.1f} s")
        client.close()
    finally:
        worker.terminate()
        server.terminate()
        worker.wait(30)
        server.wait(30)
    print(json.dumps({"benchmark": "finetune_api", "n": args.n, "api_s": round(api_s, 2),
                      "upload_s": round(uploaded - api_started, 2), "chat_s": round(chat_s, 2),
                      "queued_to_done_s": round(done - uploaded, 2), "steps": steps, "direct_s": round(direct_s, 2),
                      "baseline": "the same run launched with training_run_create", "ratio": round(direct_s / api_s, 3),
                      "target": None}))


if __name__ == "__main__":
    main()

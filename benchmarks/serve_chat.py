"""Whetstone's OpenAI-compatible server under load, batched and serialized, with the tiny model on the CPU, and the
client's cache speed-up.

    .venv/bin/python benchmarks/serve_chat.py [--n N] [--max-tokens T] [--port P] [--torch-threads T]
                                              [--batch-window-ms MS]

Builds a throwaway database `whet_bench_serve_chat` on the local PostgreSQL (dropped and made anew on each run),
writes the tiny chat model to a temporary directory and registers it, then starts two `manage.py serve_models` in
subprocesses on 127.0.0.1 (one torch thread each by default): one batching (the default) and one with --no-batching
(one request at a time behind a lock, the server as it was). It sends N chat completions (distinct questions,
temperature 0, up to 64 tokens each by default: with far fewer, most of a request's time is the work around
generation, authentication, queries and the chat template, which batching cannot share) with 1 and with 8
concurrent clients to the batching server and with 8 to the serialized one, one measurement at a time, and runs
one batch of N requests through llm.client.chat_complete_many twice against the batching server: the second run is
served from the response cache.

Prints progress on stderr and ONE JSON line last on stdout:
requests_per_s, p50_ms, p95_ms (each {"1": ..., "8": ...} by concurrent clients, batching server), serialized (the
same for 8 clients on the serialized server), concurrent_ratio (batched over serialized requests/s with 8 clients;
target 3), same_outputs (every greedy reply the same on both servers, whatever the batch it decoded in) and
cache_speedup (first batch's wall time over the repeated batch's).
"""

import argparse
import json
import os
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from harness import database_recreate, django_start, free_port, manage_serve, percentile, say_as

DB_NAME = "whet_bench_serve_chat"
say = say_as("serve_chat")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=32, help="requests per measurement (default 32)")
    parser.add_argument("--max-tokens", type=int, default=64, help="max_tokens of each completion (default 64)")
    parser.add_argument("--port", type=int, default=0, help="server port (default: any free one)")
    parser.add_argument("--torch-threads", type=int, default=1,
                        help="serve_models --torch-threads (default 1: the tiny model gains nothing from more)")
    parser.add_argument("--batch-window-ms", type=float, default=5,
                        help="serve_models --batch-window-ms of the batching server (default 5)")
    args = parser.parse_args()

    scratch_directory = tempfile.TemporaryDirectory(prefix="serve-chat-")
    # The tiny model is written there, so registering it needs the folder to be a model root (as an operator sets it).
    os.environ["WHETSTONE_MODEL_ROOTS"] = scratch_directory.name
    database_url = database_recreate(DB_NAME)
    say("migrating")
    django_start(database_url, migrate=True, quiet_tokenizers=True)

    import httpx

    from accounts.models import Role
    from accounts.services import api_token_for, membership_set, user_create, workspace_create
    from llm.client import chat_complete_many
    from llm.services.endpoints import model_endpoint_create
    from training.server.registry import base_model_id
    from training.services.base_models import base_model_register
    from training.tiny_model import BUILTIN_TEXTS, tiny_model_build

    with scratch_directory as scratch:
        say("building the tiny model")
        model_dir = tiny_model_build(out_dir=Path(scratch) / "tiny", texts=BUILTIN_TEXTS * 3, vocab_size=600)
        workspace = workspace_create(name="Bench")
        user = user_create(username="bench", password="bench-pw")
        membership_set(workspace=workspace, user=user, role=Role.ML_ENGINEER)
        token = api_token_for(user=user)
        base_model = base_model_register(workspace=workspace, name="tiny-chat", path=str(model_dir))
        model = base_model_id(base_model)

        port = args.port or free_port()
        serial_port = free_port()
        servers = []
        variants = (("batching", port, ["--batch-window-ms", str(args.batch_window_ms)]),
                    ("serialized", serial_port, ["--no-batching"]))
        for label, at, options in variants:
            say(f"starting serve_models ({label}) on 127.0.0.1:{at}")
            servers.append(manage_serve(
                ["serve_models", "--host", "127.0.0.1", "--port", str(at), "--torch-threads", str(args.torch_threads),
                 *options],
                database_url=database_url,
                log_path=Path(scratch) / f"server-{label}.log",
                ready_url=f"http://127.0.0.1:{at}/v1/models",
                name=f"serve_models ({label})",
            ))
        try:
            base_url = f"http://127.0.0.1:{port}/v1"
            headers = {"Authorization": f"Bearer {token}"}
            questions = [BUILTIN_TEXTS[i % len(BUILTIN_TEXTS)] + f" ({i})" for i in range(args.n)]

            def ask(http: httpx.Client, url: str, question: str) -> tuple[float, str]:
                started = time.perf_counter()
                response = http.post(f"{url}/chat/completions", headers=headers, json={
                    "model": model, "messages": [{"role": "user", "content": question}], "max_tokens": args.max_tokens,
                    "temperature": 0})
                response.raise_for_status()
                return (time.perf_counter() - started) * 1000, response.json()["choices"][0]["message"]["content"]

            def measure(url: str, clients: int) -> tuple[float, float, float, list[str]]:
                with httpx.Client(timeout=120, limits=httpx.Limits(max_connections=clients)) as http, \
                        ThreadPoolExecutor(max_workers=clients) as pool:
                    started = time.perf_counter()
                    answers = list(pool.map(lambda question: ask(http, url, question), questions))
                    wall = time.perf_counter() - started
                latencies = [latency for latency, _ in answers]
                return (round(len(questions) / wall, 2), round(statistics.median(latencies), 1),
                        round(percentile(latencies, 0.95), 1), [text for _, text in answers])

            serial_url = f"http://127.0.0.1:{serial_port}/v1"
            with httpx.Client(timeout=120) as http:
                for url in (base_url, serial_url):
                    ask(http, url, "warm up: load the model")
            rates, p50, p95, replies = {}, {}, {}, {}
            for clients in (1, 8):
                rates[str(clients)], p50[str(clients)], p95[str(clients)], replies[clients] = measure(base_url, clients)
                say(f"batching, {clients} client(s): {rates[str(clients)]} requests/s, p50 {p50[str(clients)]} ms, "
                    f"p95 {p95[str(clients)]} ms")
            serial_rate, serial_p50, serial_p95, serial_replies = measure(serial_url, 8)
            say(f"serialized, 8 clients: {serial_rate} requests/s, p50 {serial_p50} ms, p95 {serial_p95} ms")
            same_outputs = replies[1] == replies[8] == serial_replies

            from django.conf import settings

            # The server is a loopback address: allowed here as an operator would (WHETSTONE_OUTBOUND_PRIVATE_ALLOWED).
            settings.OUTBOUND_PRIVATE_ALLOWED = [*settings.OUTBOUND_PRIVATE_ALLOWED, f"127.0.0.1:{port}"]
            endpoint = model_endpoint_create(workspace=workspace, name="local", base_url=base_url, model=model,
                                             api_key=token, concurrency=8)
            batch = [{"messages": [{"role": "user", "content": f"batch {question}"}], "max_tokens": args.max_tokens}
                     for question in questions]
            started = time.perf_counter()
            first = chat_complete_many(endpoint=endpoint, requests=batch, purpose="benchmark")
            cold = time.perf_counter() - started
            started = time.perf_counter()
            again = chat_complete_many(endpoint=endpoint, requests=batch, purpose="benchmark")
            warm = time.perf_counter() - started
            assert [r.texts for r in first] == [r.texts for r in again] and all(r.cached for r in again)
            say(f"batch of {len(batch)}: {cold * 1000:.0f} ms calling the model, {warm * 1000:.1f} ms from the cache")
        finally:
            for server in servers:
                server.terminate()
                server.wait(timeout=30)

    ratio = round(rates["8"] / serial_rate, 2)
    print(json.dumps({"benchmark": "serve_chat", "n": args.n, "requests_per_s": rates, "p50_ms": p50, "p95_ms": p95,
                      "serialized": {"requests_per_s": {"8": serial_rate}, "p50_ms": {"8": serial_p50},
                                     "p95_ms": {"8": serial_p95}},
                      "baseline": "the same server with --no-batching (one request at a time), 8 clients",
                      "concurrent_ratio": ratio, "ratio": ratio,
                      "target": 3, "same_outputs": same_outputs, "cache_speedup": round(cold / warm, 1),
                      "max_tokens": args.max_tokens, "clients": [1, 8], "torch_threads": args.torch_threads}))


if __name__ == "__main__":
    main()

"""Whetstone's OpenAI-compatible server under load, with the tiny model on the CPU, and the client's cache speed-up.

    .venv/bin/python benchmarks/serve_chat.py [--n N] [--max-tokens T] [--port P] [--torch-threads T]

Builds a throwaway database `whet_bench_serve_chat` on the local PostgreSQL (dropped and made anew on each run),
writes the tiny chat model to a temporary directory and registers it, then starts `manage.py serve_models` in a
subprocess on 127.0.0.1 (one torch thread by default). It then sends N chat completions (distinct questions,
temperature 0) with 1 and with 8 concurrent clients over plain HTTP, and runs one batch of N requests through
llm.client.chat_complete_many twice: the second run is served from the response cache.

Prints progress on stderr and ONE JSON line last on stdout:
requests_per_s, p50_ms, p95_ms (each {"1": ..., "8": ...} by concurrent clients) and cache_speedup (first batch's wall
time over the repeated batch's).
"""

import argparse
import json
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
    parser.add_argument("--max-tokens", type=int, default=16, help="max_tokens of each completion (default 16)")
    parser.add_argument("--port", type=int, default=0, help="server port (default: any free one)")
    parser.add_argument("--torch-threads", type=int, default=1,
                        help="serve_models --torch-threads (default 1: the tiny model gains nothing from more)")
    args = parser.parse_args()

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

    with tempfile.TemporaryDirectory(prefix="serve-chat-") as scratch:
        say("building the tiny model")
        model_dir = tiny_model_build(out_dir=Path(scratch) / "tiny", texts=BUILTIN_TEXTS * 3, vocab_size=600)
        workspace = workspace_create(name="Bench")
        user = user_create(username="bench", password="bench-pw")
        membership_set(workspace=workspace, user=user, role=Role.ML_ENGINEER)
        token = api_token_for(user=user)
        base_model = base_model_register(workspace=workspace, name="tiny-chat", path=str(model_dir))
        model = base_model_id(base_model)

        port = args.port or free_port()
        say(f"starting serve_models on 127.0.0.1:{port}")
        server = manage_serve(
            ["serve_models", "--host", "127.0.0.1", "--port", str(port), "--torch-threads", str(args.torch_threads)],
            database_url=database_url,
            log_path=Path(scratch) / "server.log",
            ready_url=f"http://127.0.0.1:{port}/v1/models",
            name="serve_models",
        )
        try:
            base_url = f"http://127.0.0.1:{port}/v1"
            headers = {"Authorization": f"Bearer {token}"}
            questions = [BUILTIN_TEXTS[i % len(BUILTIN_TEXTS)] + f" ({i})" for i in range(args.n)]

            def ask(http: httpx.Client, question: str) -> float:
                started = time.perf_counter()
                response = http.post(f"{base_url}/chat/completions", headers=headers, json={
                    "model": model, "messages": [{"role": "user", "content": question}], "max_tokens": args.max_tokens,
                    "temperature": 0})
                response.raise_for_status()
                return (time.perf_counter() - started) * 1000

            with httpx.Client(timeout=120) as http:
                ask(http, "warm up: load the model")
            rates, p50, p95 = {}, {}, {}
            for clients in (1, 8):
                with httpx.Client(timeout=120, limits=httpx.Limits(max_connections=clients)) as http, \
                        ThreadPoolExecutor(max_workers=clients) as pool:
                    started = time.perf_counter()
                    latencies = list(pool.map(lambda question: ask(http, question), questions))
                    wall = time.perf_counter() - started
                rates[str(clients)] = round(len(questions) / wall, 2)
                p50[str(clients)] = round(statistics.median(latencies), 1)
                p95[str(clients)] = round(percentile(latencies, 0.95), 1)
                say(f"{clients} client(s): {rates[str(clients)]} requests/s, p50 {p50[str(clients)]} ms, "
                    f"p95 {p95[str(clients)]} ms")

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
            server.terminate()
            server.wait(timeout=30)

    print(json.dumps({"requests_per_s": rates, "p50_ms": p50, "p95_ms": p95, "cache_speedup": round(cold / warm, 1),
                      "n": args.n, "max_tokens": args.max_tokens, "clients": [1, 8],
                      "torch_threads": args.torch_threads}))


if __name__ == "__main__":
    main()

"""Production feedback ingest under load: 8 concurrent senders POST batches over real HTTP to a real server process.

    .venv/bin/python benchmarks/feedback_ingest.py [--n N] [--batch B] [--senders S] [--servers K] [--port P]

Builds a throwaway database `whet_bench_feedback_ingest` on the local PostgreSQL (dropped and made anew on each run),
creates a feedback source with an ingest token (PII scrub on, as in production; no rate limit), and starts K server
processes (`manage.py runserver --noreload`, DEBUG off, threaded) on 127.0.0.1; sender i talks to server i mod K.
Each sender POSTs its share of N events in batches of B (bodies encoded before the clock starts, so the figure is the
server's), then re-sends its first batch, as a client retrying after a timeout would: every event of it must come back
"duplicate". The mix: likes, dislikes, 3-way choices and edits, one event in ten with an e-mail address or phone number.

Prints progress on stderr and ONE JSON line last on stdout: events_per_s (sustained: N over the wall time from the
first request to the last answer), p95_ms / p50_ms per batch, and the count check against the database: `lost`
(events sent and acknowledged but not stored) and `doubled` (events stored more than once, or retries not reported
as duplicates), both must be 0.
"""

import argparse
import json
import tempfile
import threading
import time
from pathlib import Path

from harness import database_recreate, django_start, free_port, manage_serve, percentile, say_as

DB_NAME = "whet_bench_feedback_ingest"
TARGET_EVENTS_PER_S = 5000
say = say_as("feedback_ingest")


def server_start(port: int, database_url: str, log_path: Path):
    """`runserver`, threaded, with DEBUG off as in production (with it on, Django would log every query in memory)."""
    return manage_serve(["runserver", f"127.0.0.1:{port}", "--noreload"], database_url=database_url, log_path=log_path,
                        ready_url=f"http://127.0.0.1:{port}/api/v1/feedback/events", name="the server",
                        env={"DEBUG": "0", "SECRET_KEY": "benchmark-only-secret-key", "ALLOWED_HOSTS": "127.0.0.1"})


def event(i: int) -> dict:
    """One realistic event: a support question, the answer(s), the model and prompt version."""
    question = f"Hello, my order #{i} arrived damaged and I would like a refund or a replacement, what should I do?"
    if i % 10 == 0:
        question += f" You can reach me at user{i}@example.com or 1381234{i % 10000:04d}."
    answer = ("I am sorry to hear that. Please open Orders, choose the damaged item and press 'Request refund'; "
              f"a replacement ships within two days once the courier collects the parcel (case {i}).")
    base = {"idempotency_key": f"bench-{i}", "occurred_at": "2026-11-20T10:00:00+08:00",
            "messages": [{"role": "system", "content": "You are the shop's support assistant."},
                         {"role": "user", "content": question}],
            "app_id": "shop-web", "session_id": f"session-{i // 5}", "user_id": f"user-{i % 977}"}
    kind = ("like", "dislike", "like", "choice", "edit")[i % 5]
    if kind == "choice":
        responses = [{"text": f"{answer} [{c}]", "model": model, "prompt_version": "v3"}
                     for c, model in enumerate(("base", "tuned-1", "tuned-2"))]
        return {**base, "kind": "choice", "responses": responses, "chosen_index": i % 3}
    single = [{"text": answer, "model": ("base", "tuned-1")[i % 2], "prompt_version": ("v2", "v3")[i % 2]}]
    if kind == "edit":
        return {**base, "kind": "edit", "responses": single, "edited_text": answer + " Thank you for your patience."}
    return {**base, "kind": kind, "responses": single}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200_000, help="events in all (default 200000)")
    parser.add_argument("--batch", type=int, default=1000, help="events per request (default 1000, at most 5000)")
    parser.add_argument("--senders", type=int, default=8, help="concurrent senders (default 8)")
    parser.add_argument("--servers", type=int, default=1, help="server processes (default 1)")
    args = parser.parse_args()
    if not 1 <= args.batch <= 5000 or args.n < args.batch * args.senders:
        raise SystemExit("--batch must be 1..5000 and --n at least batch x senders")

    database_url = database_recreate(DB_NAME)
    say("migrating")
    django_start(database_url, migrate=True)
    import logging

    import httpx
    from django.db import connection

    logging.getLogger("httpx").setLevel(logging.WARNING)  # one INFO line per request would drown the progress
    from accounts.services import workspace_create
    from feedback.services import feedback_source_create, feedback_token_create

    workspace = workspace_create(name="Bench")
    source = feedback_source_create(workspace=workspace, name="Shop", rate_limit_per_minute=0)
    _, key = feedback_token_create(source=source)
    connection.close()

    say(f"encoding {args.n} events in batches of {args.batch}")
    batches = [json.dumps({"events": [event(i) for i in range(start, min(start + args.batch, args.n))]}).encode()
               for start in range(0, args.n, args.batch)]
    shares = [batches[s::args.senders] for s in range(args.senders)]

    with tempfile.TemporaryDirectory(prefix="feedback-ingest-") as scratch:
        ports = [free_port() for _ in range(args.servers)]
        say(f"starting {args.servers} server process(es) on 127.0.0.1:{','.join(map(str, ports))}")
        servers = [server_start(port, database_url, Path(scratch) / f"server-{port}.log") for port in ports]
        latencies: list[float] = []
        acknowledged = [0]
        failures: list[str] = []
        retry_not_duplicate = [0]
        lock = threading.Lock()
        headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}

        def send(index: int) -> None:
            url = f"http://127.0.0.1:{ports[index % len(ports)]}/api/v1/feedback/events"
            with httpx.Client(timeout=120) as http:
                for body in shares[index]:
                    started = time.perf_counter()
                    response = http.post(url, content=body, headers=headers)
                    elapsed = (time.perf_counter() - started) * 1000
                    with lock:
                        if response.status_code != 200:
                            failures.append(f"{response.status_code}: {response.text[:200]}")
                            continue
                        latencies.append(elapsed)
                        acknowledged[0] += response.json()["accepted"]
                if shares[index]:  # a retry of the first batch: nothing may be stored twice
                    answer = http.post(url, content=shares[index][0], headers=headers).json()
                    with lock:
                        retry_not_duplicate[0] += answer["accepted"]

        try:
            threads = [threading.Thread(target=send, args=(s,)) for s in range(args.senders)]
            started = time.perf_counter()
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            wall = time.perf_counter() - started
        finally:
            for server in servers:
                server.terminate()
                server.wait(timeout=30)
    if failures:
        say(f"{len(failures)} batches failed, first: {failures[0]}")

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*), count(DISTINCT idempotency_key) FROM feedback_feedbackevent WHERE source_id = %s",
            [source.pk],
        )
        stored, distinct = cursor.fetchone()
    events_per_s = args.n / wall
    lost = args.n - distinct
    doubled = (stored - distinct) + retry_not_duplicate[0] + max(0, acknowledged[0] - args.n)
    say(f"{args.n} events in {wall:.1f} s by {args.senders} senders: {events_per_s:,.0f} events/s, "
        f"p95 {percentile(latencies, 0.95):.0f} ms per batch; stored {stored}, lost {lost}, doubled {doubled}")
    print(
        json.dumps(
            {
                "benchmark": "feedback_ingest",
                "n": args.n,
                "batch": args.batch,
                "senders": args.senders,
                "servers": args.servers,
                "events_per_s": round(events_per_s, 1),
                "p50_ms": round(percentile(latencies, 0.5), 1),
                "p95_ms": round(percentile(latencies, 0.95), 1),
                "lost": lost,
                "doubled": doubled,
                "failed_batches": len(failures),
                "target": TARGET_EVENTS_PER_S,
            }
        )
    )


if __name__ == "__main__":
    main()

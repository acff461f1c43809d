"""What every benchmark here needs around the thing it measures: a throwaway database, Django, a server to talk to.

Imported as `from harness import ...`: the scripts run as `.venv/bin/python benchmarks/<name>.py`, which puts this
folder first on sys.path (and the spawned workers of annotation_queue inherit it). Imports of Django, psycopg and httpx
stay inside the functions, so a script that needs none of them (eval_stats, dedupe_quality) does not pay for them.
"""

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ADMIN_URL = os.environ.get("BENCH_POSTGRES_URL", "postgres://root@127.0.0.1:5432/postgres")


def say_as(name: str) -> Callable[[str], None]:
    """Progress goes to stderr, tagged with the benchmark, so stdout keeps only the JSON line a caller parses."""

    def say(message: str) -> None:
        print(f"[{name}] {message}", file=sys.stderr, flush=True)

    return say


def database_recreate(name: str) -> str:
    """A database of the benchmark's own, made anew: a run never measures what the last one left behind, and never
    touches the development database. Returns its URL."""
    import psycopg

    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    return f"{ADMIN_URL.rsplit('/', 1)[0]}/{name}"


def django_start(
    database_url: str, *, migrate: bool = False, storage: Path | None = None, quiet_tokenizers: bool = False
) -> None:
    """Django set up in this process against `database_url`, offline (no model may be fetched mid-measurement).

    migrate: off where the caller is a worker joining a database its parent already built.
    storage: WHETSTONE_STORAGE, for a benchmark whose files must not land in the real storage.
    quiet_tokenizers: TOKENIZERS_PARALLELISM off (unless set), for one that forks after a fast tokenizer ran: the
    tokenizers library would otherwise warn about it in the middle of the progress.
    """
    os.environ["DATABASE_URL"] = database_url
    if storage is not None:
        os.environ["WHETSTONE_STORAGE"] = str(storage)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if quiet_tokenizers:
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    if migrate:
        from django.core.management import call_command

        call_command("migrate", verbosity=0)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def percentile(values: list[float], fraction: float) -> float:
    """Nearest rank, no interpolation: the figure is a latency one request really had. 0.0 when nothing was measured,
    so a run whose requests all failed still prints its JSON line (with the failures counted)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def manage_serve(arguments: list[str], *, database_url: str, log_path: Path, ready_url: str, name: str,
                 env: dict[str, str] | None = None) -> subprocess.Popen:
    """`manage.py <arguments>` as a server in its own process, returned once `ready_url` answers (any status).

    A separate process, so the server's CPU and GIL are not the client's. Its stderr goes to `log_path` and its tail
    into the error if it dies: a server that fails to start otherwise shows only as a timeout. `name` says which
    server in those errors.
    """
    env = {**os.environ, "DATABASE_URL": database_url, "DJANGO_SETTINGS_MODULE": "config.settings", **(env or {})}
    with open(log_path, "wb") as log:
        process = subprocess.Popen([sys.executable, str(ROOT / "manage.py"), *arguments], cwd=ROOT, env=env,
                                   stdout=subprocess.DEVNULL, stderr=log)
    import httpx

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(
                f"{name} exited with code {process.returncode}:\n{log_path.read_text(errors='replace')[-2000:]}"
            )
        try:
            httpx.get(ready_url, timeout=1)
            return process
        except httpx.HTTPError:
            time.sleep(0.2)
    process.terminate()
    raise SystemExit(f"{name} did not answer within 60 s")

"""Streamed TRL JSONL export of a frozen version: records per second through the same generator the download uses.

    .venv/bin/python benchmarks/export_version.py [--n N]

Builds a throwaway database `whet_bench_export_version` on the local PostgreSQL (dropped and made anew on each run),
imports N distinct rows through the real import service (a mix: 80% conversations, 10% preference pairs, 10% KTO
is not possible in one file, so N conversations plus N/10 preference pairs in a second import), freezes a version,
then streams the whole version through datahub.downloads (the blocks the HTTP response sends) and discards them.
Prints progress on stderr and ONE JSON line last on stdout: records_per_s, n, mb.
"""

import argparse
import json
import tempfile
import time
from pathlib import Path

from harness import database_recreate, django_start, say_as

DB_NAME = "whet_bench_export_version"
say = say_as("export_version")


def files_write(folder: Path, n: int) -> list[Path]:
    chats, pairs = folder / "chats.jsonl", folder / "pairs.jsonl"
    with open(chats, "w", encoding="utf-8") as out:
        for i in range(n):
            out.write(
                json.dumps(
                    {
                        "messages": [
                            {"role": "system", "content": "You are a support agent."},
                            {"role": "user", "content": f"Where is my parcel {i}?"},
                            {"role": "assistant", "content": f"Parcel {i} left the depot this morning."},
                        ]
                    }
                )
                + "\n"
            )
    with open(pairs, "w", encoding="utf-8") as out:
        for i in range(max(1, n // 10)):
            out.write(json.dumps({"prompt": f"Refund order {i}?", "chosen": f"Refund for order {i} is on its way.",
                                  "rejected": "No."}) + "\n")
    return [chats, pairs]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--n", type=int, default=200_000, help="conversations to export, plus n/10 preference pairs (default 200,000)"
    )
    args = parser.parse_args()
    django_start(database_recreate(DB_NAME), migrate=True)
    from accounts.models import Workspace
    from datahub.downloads import version_jsonl_response
    from datahub.services.datasets import dataset_create
    from datahub.services.imports import import_job_create, import_job_run
    from datahub.services.versions import dataset_version_freeze

    dataset = dataset_create(workspace=Workspace.objects.create(name="bench"), name="export")
    with tempfile.TemporaryDirectory() as folder:
        for path in files_write(Path(folder), args.n):
            job = import_job_run(
                job=import_job_create(dataset=dataset, path=path, file_name=path.name, run_in_background=False)
            )
            assert job.status == "succeeded", job.error
            say(f"imported {job.created_count} rows from {path.name}")
    version = dataset_version_freeze(dataset=dataset, seed=0)
    total = sum(version.counts.values())
    say(f"froze v{version.number}: {total} records")
    started = time.perf_counter()
    size = 0
    for block in version_jsonl_response(version, None).streaming_content:
        size += len(block)
    elapsed = time.perf_counter() - started
    say(f"streamed {size / 1e6:.0f} MB in {elapsed:.1f} s")
    print(json.dumps({"records_per_s": round(total / elapsed), "n": total, "mb": round(size / 1e6)}))


if __name__ == "__main__":
    main()

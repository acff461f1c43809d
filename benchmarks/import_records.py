"""Import throughput: the streaming COPY path against a plain ORM bulk_create path, in the same run.

    .venv/bin/python benchmarks/import_records.py [--n N] [--baseline-n N]

Builds a throwaway database `whet_bench_import_records` on the local PostgreSQL (dropped and made anew on each run)
and writes an N-row JSONL file of distinct Alpaca rows. Then:
- the COPY path: the real service, import_job_create + import_job_run (stream, validate, COPY into staging in
  committed chunks, one INSERT … SELECT into Record);
- the baseline: the same rows read and validated the same way, inserted with Record.objects.bulk_create in
  batches of 1000 (what the import did before staging and COPY).
Both count parsing and validation, so the ratio is of whole imports. Peak RSS is the process's peak after the COPY
path, before the baseline runs. Prints progress on stderr and ONE JSON line last on stdout:
records_per_s, baseline_records_per_s, ratio, target (the ratio the issue asks for), peak_rss_mb, n.
"""

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DB_NAME = "whet_bench_import_records"
ADMIN_URL = os.environ.get("BENCH_POSTGRES_URL", "postgres://root@127.0.0.1:5432/postgres")
TARGET_RATIO = 5


def say(message: str) -> None:
    print(f"[import_records] {message}", file=sys.stderr, flush=True)


def database_recreate() -> str:
    import psycopg

    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{DB_NAME}"')
    return f"{ADMIN_URL.rsplit('/', 1)[0]}/{DB_NAME}"


def django_start(database_url: str) -> None:
    os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def rows_write(path: Path, n: int) -> None:
    """N distinct Alpaca rows, written line by line so the generator holds nothing."""
    with open(path, "w", encoding="utf-8") as out:
        for i in range(n):
            out.write(json.dumps({"instruction": f"How do I return order {i}?", "input": "",
                                  "output": f"Open your orders, choose order {i} and press Return. A label is e-mailed to you."}) + "\n")


def copy_path(dataset, path: Path) -> float:
    from datahub.services.imports import import_job_create, import_job_run

    started = time.perf_counter()
    job = import_job_create(dataset=dataset, path=path, file_name=path.name, run_in_background=False)
    job = import_job_run(job=job, on_progress=lambda done, total: say(f"copy path: {done}/{total}") if done % 200_000 == 0 else None)
    elapsed = time.perf_counter() - started
    assert job.status == "succeeded", job.error
    return job.created_count / elapsed


def baseline_path(dataset, path: Path, n: int) -> float:
    from django.db import transaction

    from datahub.formats import file_rows, row_canonical, row_format
    from datahub.models import Record
    from datahub.services.records import record_build

    started = time.perf_counter()
    created, batch, kind = 0, [], None
    with transaction.atomic():
        for count, (line, row) in enumerate(file_rows(path).rows, start=1):
            if count > n:
                break
            kind = kind or row_format(row, line=line)
            batch.append(record_build(dataset=dataset, clean=row_canonical(row, format=kind, line=line), raw=row, line_number=line))
            if len(batch) == 5000:
                Record.objects.bulk_create(batch, batch_size=1000)
                created += len(batch)
                batch = []
                if created % 200_000 == 0:
                    say(f"baseline: {created}/{n}")
        Record.objects.bulk_create(batch, batch_size=1000)
        created += len(batch)
    return created / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200_000, help="rows in the file (default 200,000)")
    parser.add_argument("--baseline-n", type=int, help="rows for the bulk_create baseline (default: --n)")
    args = parser.parse_args()
    django_start(database_recreate())
    from accounts.models import Workspace
    from datahub.services.datasets import dataset_create

    workspace = Workspace.objects.create(name="bench")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "rows.jsonl"
        rows_write(path, args.n)
        say(f"wrote {args.n} rows ({path.stat().st_size / 1e6:.0f} MB)")
        rate = copy_path(dataset_create(workspace=workspace, name="copy"), path)
        peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        say(f"copy path: {rate:,.0f} records/s, peak RSS {peak_rss_mb:.0f} MB")
        baseline = baseline_path(dataset_create(workspace=workspace, name="baseline"), path, args.baseline_n or args.n)
        say(f"baseline: {baseline:,.0f} records/s")
    print(json.dumps({"records_per_s": round(rate), "baseline_records_per_s": round(baseline), "ratio": round(rate / baseline, 2),
                      "target": TARGET_RATIO, "peak_rss_mb": round(peak_rss_mb), "n": args.n}))


if __name__ == "__main__":
    main()

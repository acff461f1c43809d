"""Import throughput: the streaming COPY path against a plain ORM bulk_create path, in the same run.

    .venv/bin/python benchmarks/import_records.py [--n N] [--baseline-n N]

Builds a throwaway database `whet_bench_import_records` on the local PostgreSQL (dropped and made anew on each run)
and writes an N-row JSONL file of distinct Alpaca rows. Then:
- the COPY path: the real service, import_job_create + import_job_run (stream, validate and hash in a parser process,
  stage each chunk's record lines in a file with the chunk's committed resume point, COPY each chunk into Record on a
  second connection whose transaction commits with the job's success, then the deferred full-text indexing);
- the baseline: the same rows read and validated the same way, inserted with Record.objects.bulk_create in
  batches of 1000 in one transaction (a plain ORM import; the search trigger indexes each batch as it goes).
Both count parsing and validation, so the ratio is of whole imports. records_per_s is until the job succeeded (its
records committed and visible, searchable by substring); searchable_records_per_s also counts the full-text indexing
that import_job_run does right after (search_index_s). Peak RSS is the process's peak after the COPY path, before the
baseline runs (parser_peak_rss_mb: the parser process's); load_average is the machine's 1-minute load when the run ended
(the machine is shared, so compare ratios within one run). Prints progress on stderr and ONE JSON line last on stdout.
"""

import argparse
import json
import os
import resource
import tempfile
import time
from pathlib import Path

from harness import database_recreate, django_start, say_as

DB_NAME = "whet_bench_import_records"
say = say_as("import_records")
TARGET_RATIO = 5


def rows_write(path: Path, n: int) -> None:
    """N distinct Alpaca rows, written line by line so the generator holds nothing."""
    with open(path, "w", encoding="utf-8") as out:
        for i in range(n):
            out.write(
                json.dumps(
                    {
                        "instruction": f"How do I return order {i}?",
                        "input": "",
                        "output": f"Open your orders, choose order {i} and press Return. A label is e-mailed to you.",
                    }
                )
                + "\n"
            )


def copy_path(dataset, path: Path) -> dict:
    """The real service. Two figures: until the job succeeded (records committed and visible; the search index is
    built right after, see datahub.services.import_staging), and until import_job_run returned (records searchable)."""
    from datahub.services.imports import import_job_create, import_job_run

    started_wall, started = time.time(), time.perf_counter()
    job = import_job_create(dataset=dataset, path=path, file_name=path.name, run_in_background=False)
    job = import_job_run(
        job=job, on_progress=lambda done, total: say(f"copy path: {done}/{total}") if done % 200_000 == 0 else None
    )
    elapsed = time.perf_counter() - started
    assert job.status == "succeeded", job.error
    visible = job.finished_at.timestamp() - started_wall
    return {"records_per_s": job.created_count / visible, "searchable_records_per_s": job.created_count / elapsed,
            "search_index_s": elapsed - visible}


def baseline_path(dataset, path: Path, n: int) -> float:
    from django.db import transaction

    from datahub.files import file_rows
    from datahub.formats import row_canonical, row_format
    from datahub.models import Record
    from datahub.services.records import record_build

    started = time.perf_counter()
    created, batch, kind = 0, [], None
    with transaction.atomic():
        for count, (line, row) in enumerate(file_rows(path).rows, start=1):
            if count > n:
                break
            kind = kind or row_format(row, line=line)
            batch.append(
                record_build(
                    dataset=dataset, clean=row_canonical(row, format=kind, line=line), raw=row, line_number=line
                )
            )
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
    django_start(database_recreate(DB_NAME), migrate=True)
    from accounts.models import Workspace
    from datahub.services.datasets import dataset_create

    workspace = Workspace.objects.create(name="bench")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "rows.jsonl"
        rows_write(path, args.n)
        say(f"wrote {args.n} rows ({path.stat().st_size / 1e6:.0f} MB)")
        figures = copy_path(dataset_create(workspace=workspace, name="copy"), path)
        rate = figures["records_per_s"]
        peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        parser_peak_rss_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        say(
            f"copy path: {rate:,.0f} records/s committed, {figures['searchable_records_per_s']:,.0f} records/s "
            "searchable "
            f"(index {figures['search_index_s']:.1f} s), peak RSS {peak_rss_mb:.0f} MB (parser process "
            f"{parser_peak_rss_mb:.0f} MB)"
        )
        baseline = baseline_path(dataset_create(workspace=workspace, name="baseline"), path, args.baseline_n or args.n)
        say(f"baseline: {baseline:,.0f} records/s")
    print(
        json.dumps(
            {
                "records_per_s": round(rate),
                "baseline_records_per_s": round(baseline),
                "ratio": round(rate / baseline, 2),
                "target": TARGET_RATIO,
                "searchable_records_per_s": round(figures["searchable_records_per_s"]),
                "searchable_ratio": round(figures["searchable_records_per_s"] / baseline, 2),
                "search_index_s": round(figures["search_index_s"], 1),
                "peak_rss_mb": round(peak_rss_mb),
                "parser_peak_rss_mb": round(parser_peak_rss_mb),
                "n": args.n,
                "load_average": round(os.getloadavg()[0], 1),
            }
        )
    )


if __name__ == "__main__":
    main()

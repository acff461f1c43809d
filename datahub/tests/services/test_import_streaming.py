"""Streaming imports: staged chunks, COPY on PostgreSQL, skip_invalid with an error report, resuming a dead job."""

import json
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from common.errors import ApplicationError
from datahub.models import ImportJob, ImportRowError, Record
from datahub.selectors import import_job_errors
from datahub.services.imports import import_job_create, import_job_is_stale, import_job_resume, import_job_run
from datahub.tests.fixtures import alpaca_rows, staged_records, staging_left


class WorkerDied(BaseException):
    """Stands in for the worker process being killed: nothing in the service catches it."""


def test_skip_invalid_keeps_good_rows_and_reports_bad_ones(dataset, write_file, import_path):
    rows = (
        alpaca_rows(3)
        + [{"instruction": "no answer"}]
        + alpaca_rows(2, start=10)
        + [{"instruction": "q", "output": "x" * 400}]
    )
    path = write_file("mixed.jsonl", "".join(json.dumps(r) + "\n" for r in rows) + "{broken\n")
    job = import_job_create(dataset=dataset, path=path, file_name=path.name, skip_invalid=True, max_record_chars=300,
                            run_in_background=False)
    job = import_job_run(job=job)
    assert (job.status, job.created_count, job.invalid_count, job.processed, job.total) == ("succeeded", 5, 3, 8, 8)
    assert [(e.line, e.field, e.reason) for e in import_job_errors(job=job)] == [
        (4, "output", "field 'output' is missing"),
        (7, "", f"record is {job_record_size()} characters; the limit is 300"),
        (8, "", "malformed JSON: Expecting property name enclosed in double quotes (column 2)"),
    ]
    assert Record.objects.filter(dataset=dataset).count() == 5
    assert not staging_left(job)


def job_record_size() -> int:


    from datahub.canonical import canonical_checked, canonical_json

    _, parts = canonical_checked(
        {"kind": "sft", "messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "x" * 400}]},
        max_chars=10**6,
    )
    return len(canonical_json(parts))


def test_all_or_nothing_leaves_no_staged_rows(dataset, write_file, import_path, settings):
    settings.DATAHUB_IMPORT_CHUNK_ROWS = 2
    job = import_path(dataset, write_file("bad.jsonl", alpaca_rows(5) + [{"instruction": "x"}]))
    assert (job.status, job.error_where, job.resume_row) == ("failed", "line 6", 4)
    assert (Record.objects.count(), staging_left(job), ImportRowError.objects.count()) == (0, False, 0)


def test_a_dead_worker_leaves_a_stale_job_that_resumes_without_duplicates(dataset, write_file, settings):
    settings.DATAHUB_IMPORT_CHUNK_ROWS = 3
    path = write_file("big.jsonl", alpaca_rows(10) + alpaca_rows(2))
    job = import_job_create(dataset=dataset, path=path, file_name=path.name, run_in_background=False)

    def die_after_two_chunks(processed, total):
        if processed == 6:
            raise WorkerDied

    with pytest.raises(WorkerDied):
        import_job_run(job=job, on_progress=die_after_two_chunks)
    job.refresh_from_db()
    assert (job.status, job.resume_row, staged_records(job), Record.objects.count()) == ("running", 6, 6, 0)
    assert not import_job_is_stale(job)
    with pytest.raises(ApplicationError) as caught:
        import_job_resume(job=job, run_in_background=False)
    assert caught.value.where == "status"
    later = timezone.now() + timedelta(hours=1)
    assert import_job_is_stale(job, now=later)
    job = import_job_resume(job=job, run_in_background=False, now=later)
    assert job.status == "queued"
    seen = []
    job = import_job_run(job=job, on_progress=lambda processed, total: seen.append(processed))
    assert seen[0] == 6  # the restart starts after the committed rows
    assert (job.status, job.created_count, job.duplicate_count, job.processed) == ("succeeded", 10, 2, 12)
    assert Record.objects.filter(dataset=dataset).count() == 10
    assert sorted(Record.objects.values_list("line_number", flat=True)) == list(range(1, 11))
    assert not staging_left(job)


def test_resume_refuses_finished_jobs(dataset, write_file, import_path):
    job = import_path(dataset, write_file("a.jsonl", alpaca_rows(2)))
    with pytest.raises(ApplicationError) as caught:
        import_job_resume(job=job, run_in_background=False, now=timezone.now() + timedelta(days=1))
    assert (
        caught.value.message
        == f"import job {job.pk} is succeeded and still moving; only a stalled running import resumes"
    )


@pytest.mark.postgres
def test_postgres_stages_through_copy(dataset, write_file, import_path, django_assert_max_num_queries):
    if connection.vendor != "postgresql":
        pytest.skip("COPY is PostgreSQL's")
    statements = []

    def record(execute, sql, params, many, context):
        statements.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(record):
        job = import_path(dataset, write_file("a.jsonl", alpaca_rows(50)))
    assert (job.status, job.created_count) == ("succeeded", 50)
    assert not any("INSERT INTO \"datahub_stagedrecord\"" in sql for sql in statements)
    assert Record.objects.filter(dataset=dataset).count() == 50


def test_column_map_and_container_are_kept_on_the_job(dataset, write_file, import_path):
    path = write_file("qa.txt", "question\tanswer\nWhat?\tThat.\n")
    job = import_job_create(dataset=dataset, path=path, file_name=path.name, container="tsv",
                            column_map={"instruction": "question", "output": "answer"}, run_in_background=False)
    job = import_job_run(job=job)
    assert (job.status, job.detected_container, job.detected_format, job.encoding) == (
        "succeeded",
        "tsv",
        "alpaca",
        "utf-8",
    )
    assert Record.objects.get(dataset=dataset).messages == [
        {"role": "user", "content": "What?"},
        {"role": "assistant", "content": "That."},
    ]


@pytest.mark.parametrize("values,where", [
    ({"container": "xlsx"}, "container"),
    ({"column_map": {"instruction": 3}}, "column_map"),
    ({"max_record_chars": 5}, "max_record_chars"),
])
def test_import_job_create_checks_the_new_options(dataset, write_file, values, where):
    with pytest.raises(ApplicationError) as caught:
        import_job_create(
            dataset=dataset,
            path=write_file("a.jsonl", alpaca_rows(1)),
            file_name="a.jsonl",
            run_in_background=False,
            **values,
        )
    assert caught.value.where == where
    assert ImportJob.objects.count() == 0


@pytest.mark.parametrize("container", ["jsonl", "json"])
def test_a_lone_surrogate_is_bad_input_with_its_line(dataset, write_file, container):
    good = json.dumps({"instruction": "Where is my parcel?", "output": "It left today."})
    lone = '{"instruction": "broken \\ud800 half", "output": "ok"}'
    text = f"{good}\n{lone}\n" if container == "jsonl" else f"[{good},\n{lone}]\n"
    path = write_file(f"surrogate.{container}", text)
    job = import_job_run(
        job=import_job_create(dataset=dataset, path=path, file_name=path.name, run_in_background=False)
    )
    assert (job.status, job.error_where) == ("failed", "line 2")
    assert (
        job.error
        == "the text holds a lone UTF-16 surrogate (a \\ud800-\\udfff escape without its pair); fix or remove it"
    )
    assert Record.objects.count() == 0
    tolerant = import_job_run(job=import_job_create(dataset=dataset, path=path, file_name=path.name, skip_invalid=True,
                                                    run_in_background=False))
    assert (tolerant.status, tolerant.created_count, tolerant.invalid_count) == ("succeeded", 1, 1)

import json
from pathlib import Path

import pytest
from django.conf import settings

from common.errors import ApplicationError
from common.models import HistoryEvent
from datahub.models import ImportJob, Record
from datahub.services.imports import import_job_create, import_job_run
from datahub.tests.fixtures import alpaca_rows

ALPACA_EN = "sft/hiyouga__LLaMA-Factory/alpaca_en_demo.json"
KTO_EN = "preference/hiyouga__LLaMA-Factory/kto_en_demo.json"


def history_verbs(job) -> list[str]:
    events = HistoryEvent.objects.filter(target_type="datahub.importjob", target_id=job.pk).order_by("pk")
    return list(events.values_list("verb", flat=True))


def test_import_alpaca_en_demo(shared_data, dataset, source, users, import_path):
    path = shared_data(ALPACA_EN)
    original = json.loads(path.read_text(encoding="utf-8"))
    distinct = len({(row["instruction"], row["input"], row["output"]) for row in original})
    job = import_path(dataset, path, source=source, created_by=users["ml_engineer"])
    assert (job.status, job.detected_format, job.total, job.processed) == ("succeeded", "alpaca", 999, 999)
    assert (job.created_count, job.duplicate_count) == (distinct, 999 - distinct)
    assert (job.error, job.error_where) == ("", "")
    assert Record.objects.filter(dataset=dataset).count() == distinct
    first = Record.objects.filter(dataset=dataset).order_by("pk").first()
    assert (first.raw, first.line_number, first.source, first.import_job, first.origin) == (
        original[0],
        2,
        source,
        job,
        "import",
    )
    assert first.messages == [{"role": "user", "content": original[0]["instruction"]},
                              {"role": "assistant", "content": original[0]["output"]}]
    assert history_verbs(job) == ["created", "started", "succeeded"]
    assert HistoryEvent.objects.get(target_type="datahub.importjob", target_id=job.pk, verb="succeeded").after == {
        "created": distinct, "duplicates": 999 - distinct, "invalid": 0, "format": "alpaca"}


def test_import_kto_en_demo(shared_data, dataset, import_path):
    job = import_path(dataset, shared_data(KTO_EN))
    assert (job.status, job.detected_format, job.created_count, job.duplicate_count) == ("succeeded", "kto", 300, 0)
    assert set(Record.objects.filter(dataset=dataset).values_list("kind", flat=True)) == {"kto"}


def test_failed_import_writes_nothing_and_says_where(dataset, write_file, import_path):
    path = write_file("broken.jsonl", alpaca_rows(3) + [{"instruction": "no answer"}] + alpaca_rows(2, start=10))
    job = import_path(dataset, path)
    assert (job.status, job.error, job.error_where) == ("failed", "field 'output' is missing", "line 4")
    assert (job.created_count, job.duplicate_count) == (0, 0)
    assert job.finished_at is not None
    assert Record.objects.count() == 0
    assert history_verbs(job) == ["created", "started", "failed"]


def test_wrong_file_type_fails_the_job(dataset, write_file, import_path):
    job = import_path(dataset, write_file("notes.txt", "just some words\n"))
    assert (job.status, job.error_where) == ("failed", "line 1")
    assert job.error.startswith("the file is not JSON, JSONL, CSV or TSV: it starts with 'j'")
    assert Record.objects.count() == 0


def test_explicit_format_that_does_not_fit(dataset, write_file, import_path):
    job = import_path(dataset, write_file("a.jsonl", alpaca_rows(2)), format="messages")
    assert (job.status, job.error, job.error_where) == ("failed", "field 'messages' is missing", "line 1")


def test_duplicates_inside_a_file_and_across_imports_are_skipped(dataset, write_file, import_path):
    first = import_path(dataset, write_file("a.jsonl", alpaca_rows(5) + alpaca_rows(2)))
    assert (first.created_count, first.duplicate_count) == (5, 2)
    second = import_path(dataset, write_file("b.jsonl", alpaca_rows(8)))
    assert (second.created_count, second.duplicate_count) == (3, 5)
    assert Record.objects.filter(dataset=dataset).count() == 8
    assert sorted(Record.objects.filter(import_job=second).values_list("line_number", flat=True)) == [6, 7, 8]


def test_progress_is_saved_while_the_job_runs(dataset, write_file, import_path, settings):
    settings.DATAHUB_IMPORT_CHUNK_ROWS = 2
    seen = []

    def observe(processed, total):
        job = ImportJob.objects.get(dataset=dataset)
        seen.append((processed, total, job.processed, job.total, job.status))

    import_path(dataset, write_file("a.jsonl", alpaca_rows(5)), on_progress=observe)
    assert seen == [(0, 5, 0, 5, "running"), (2, 5, 2, 5, "running"), (4, 5, 4, 5, "running"), (5, 5, 5, 5, "running"),
                    (5, 5, 5, 5, "succeeded")]


@pytest.mark.django_db(transaction=True)
def test_import_runs_in_the_background_after_commit(dataset, write_file, users, run_jobs):
    # A real commit: the job is enqueued by transaction.on_commit, and the real worker runs it.
    path = write_file("a.jsonl", alpaca_rows(4))
    job = import_job_create(dataset=dataset, path=path, file_name="a.jsonl", created_by=users["ml_engineer"])
    job.refresh_from_db()
    assert job.status == "queued"
    stored = Path(settings.STORAGE_ROOT) / job.file_path
    assert stored.read_bytes() == path.read_bytes()
    assert job.file_path.startswith(
        f"workspaces/{dataset.workspace_id}/imports/dataset-{dataset.pk}/"
    ) and job.file_path.endswith("/a.jsonl")
    run_jobs()
    job.refresh_from_db()
    assert (job.status, job.created_count, job.processed, job.total) == ("succeeded", 4, 4, 4)


def test_running_a_job_twice_imports_once(dataset, write_file, import_path):
    job = import_path(dataset, write_file("a.jsonl", alpaca_rows(3)))
    again = import_job_run(job=job)
    assert (again.status, again.created_count) == ("succeeded", 3)
    assert Record.objects.count() == 3
    assert history_verbs(job) == ["created", "started", "succeeded"]


def test_uploaded_file_is_stored(dataset):
    from django.core.files.uploadedfile import SimpleUploadedFile

    upload = SimpleUploadedFile("../../etc/chat data.jsonl", b'{"instruction": "a", "output": "b"}\n')
    job = import_job_create(dataset=dataset, uploaded_file=upload, file_name=upload.name, run_in_background=False)
    assert job.file_name == "chat data.jsonl"
    assert job.file_path.endswith("/chat_data.jsonl")
    assert (Path(settings.STORAGE_ROOT) / job.file_path).read_bytes() == b'{"instruction": "a", "output": "b"}\n'


@pytest.mark.parametrize(
    "values,where,message",
    [
        (
            {"format": "csv"},
            "format",
            "unknown format 'csv'; choose one of auto, alpaca, sharegpt, firefly, messages, prompt_completion, preference, kto",
        ),
        ({"path": "/nonexistent/file.jsonl"}, "file", "no file at /nonexistent/file.jsonl"),
    ],
)
def test_import_job_create_rejects_bad_input(dataset, values, where, message):
    arguments = {"path": "/nonexistent/file.jsonl", "format": "auto", **values}
    with pytest.raises(ApplicationError) as caught:
        import_job_create(dataset=dataset, file_name="file.jsonl", **arguments)
    assert (caught.value.where, caught.value.message) == (where, message)
    assert ImportJob.objects.count() == 0


def test_source_of_another_workspace_is_refused(dataset, other_workspace, write_file):
    from datahub.services.datasets import source_create

    foreign = source_create(workspace=other_workspace, name="Theirs")
    with pytest.raises(ApplicationError) as caught:
        import_job_create(
            dataset=dataset, path=write_file("a.jsonl", alpaca_rows(1)), file_name="a.jsonl", source=foreign
        )
    assert (caught.value.where, caught.value.message) == ("source", "source 'Theirs' belongs to another workspace")
    assert ImportJob.objects.count() == 0


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_imports_into_one_dataset_count_duplicates_exactly(dataset, write_file):
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connection, connections

    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: row locks between two connections")
    jobs = [
        import_job_create(
            dataset=dataset,
            path=write_file(f"{n}.jsonl", alpaca_rows(300, start=100 * n)),
            file_name=f"{n}.jsonl",
            run_in_background=False,
        )
        for n in range(2)
    ]

    def run(job):
        try:
            return import_job_run(job=job)
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=2) as pool:
        done = list(pool.map(run, jobs))
    # Rows 100..299 are in both files: whichever import locks the dataset second finds them there already.
    assert [job.status for job in done] == ["succeeded", "succeeded"]
    assert sum(job.created_count for job in done) == 400
    assert sum(job.duplicate_count for job in done) == 200
    assert Record.objects.filter(dataset=dataset).count() == 400

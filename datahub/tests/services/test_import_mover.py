"""The PostgreSQL fast path: each staged chunk moved into Record on a second connection whose transaction commits
only with the job's success, full-text indexing deferred to right after, and an unlogged staging table.

These run outside a test transaction (the mover's connection must see committed rows), as the worker does.
"""

import json
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from common.models import HistoryEvent
from datahub.models import ImportJob, Record, RecordSearch
from datahub.selectors import record_search
from datahub.services.import_staging import StagedFile, ThreadMover, mover_class, search_index_pending
from datahub.services.imports import import_job_create, import_job_resume, import_job_run
from datahub.services.records import records_bulk_create
from datahub.tests.fixtures import alpaca_rows, staged_records, staging_left

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def postgres_only():
    if connection.vendor != "postgresql":
        pytest.skip("the moving thread and the search table are PostgreSQL's")


class WorkerDied(BaseException):
    """Stands in for the worker process being killed: nothing in the service catches it."""


def job_for(dataset, path, **options) -> ImportJob:
    return import_job_create(dataset=dataset, path=path, file_name=path.name, run_in_background=False, **options)


def test_chunks_move_in_file_order_and_duplicates_are_dropped(dataset, write_file, settings):
    settings.DATAHUB_IMPORT_CHUNK_ROWS = 3
    records_bulk_create(
        dataset=dataset,
        rows=[
            {
                "kind": "sft",
                "messages": [{"role": "user", "content": "What is 4 + 4?"}, {"role": "assistant", "content": "8"}],
            }
        ],
    )
    job = job_for(dataset, write_file("a.jsonl", alpaca_rows(10) + alpaca_rows(2)))
    assert mover_class() is ThreadMover
    job = import_job_run(job=job)
    assert (job.status, job.created_count, job.duplicate_count, job.processed, job.search_pending) == (
        "succeeded",
        9,
        3,
        12,
        False,
    )
    imported = list(Record.objects.filter(import_job=job).order_by("pk").values_list("line_number", flat=True))
    assert imported == [1, 2, 3, 4, 6, 7, 8, 9, 10]
    assert not staging_left(job)
    # Deferred indexing ran before import_job_run returned: every record is in the search table.
    assert RecordSearch.objects.filter(record__dataset=dataset).count() == 10
    assert [r.line_number for r in record_search(dataset=dataset, q="7 +")] == [8]


def test_a_bad_row_after_moved_chunks_leaves_nothing(dataset, write_file, settings):
    settings.DATAHUB_IMPORT_CHUNK_ROWS = 3
    job = import_job_run(job=job_for(dataset, write_file("bad.jsonl", alpaca_rows(7) + [{"instruction": "no answer"}])))
    assert (job.status, job.error_where, job.resume_row) == ("failed", "line 8", 6)
    assert (Record.objects.count(), staging_left(job), RecordSearch.objects.count()) == (0, False, 0)


def test_a_dead_worker_rolls_back_the_move_and_the_resumed_job_finishes_once(dataset, write_file, settings):
    settings.DATAHUB_IMPORT_CHUNK_ROWS = 3
    job = job_for(dataset, write_file("big.jsonl", alpaca_rows(10) + alpaca_rows(2)))

    def die_after_two_chunks(processed, total):
        if processed == 6:
            raise WorkerDied

    with pytest.raises(WorkerDied):
        import_job_run(job=job, on_progress=die_after_two_chunks)
    job.refresh_from_db()
    # The first chunk had been moved, uncommitted: it is still staged and not in the dataset.
    assert (job.status, job.resume_row, staged_records(job), Record.objects.count()) == ("running", 6, 6, 0)
    # The worker also got to write part of a third chunk before it died, without committing it.
    with open(StagedFile(job).path, "ab") as staged:
        staged.write(b"half a chunk")
    job = import_job_resume(job=job, run_in_background=False, now=timezone.now() + timedelta(hours=1))
    seen = []
    job = import_job_run(job=job, on_progress=lambda processed, total: seen.append(processed))
    assert seen[0] == 6
    assert (job.status, job.created_count, job.duplicate_count) == ("succeeded", 10, 2)
    assert list(Record.objects.filter(dataset=dataset).order_by("pk").values_list("line_number", flat=True)) == list(
        range(1, 11)
    )
    assert not staging_left(job)


@pytest.mark.parametrize("loss", ["gone", "damaged"])
def test_staged_records_lost_with_the_machine_restart_the_file(dataset, write_file, settings, loss):
    settings.DATAHUB_IMPORT_CHUNK_ROWS = 3
    rows = alpaca_rows(4) + [{"instruction": "no answer"}] + alpaca_rows(3, start=4)
    job = job_for(dataset, write_file("a.jsonl", rows), skip_invalid=True)

    def die_after_two_chunks(processed, total):
        if processed == 6:
            raise WorkerDied

    with pytest.raises(WorkerDied):
        import_job_run(job=job, on_progress=die_after_two_chunks)
    # What a machine that went down before writing out its page cache leaves: no file, or a file of the right length
    # with other bytes in it.
    path = StagedFile(ImportJob.objects.get(pk=job.pk)).path
    if loss == "gone":
        path.unlink()
    else:
        path.write_bytes(bytes(len(path.read_bytes())))
    job = import_job_resume(job=job, run_in_background=False, now=timezone.now() + timedelta(hours=1))
    job = import_job_run(job=job)
    assert (job.status, job.created_count, job.invalid_count, job.row_errors.count()) == ("succeeded", 7, 1, 1)
    assert list(Record.objects.order_by("pk").values_list("line_number", flat=True)) == [1, 2, 3, 4, 6, 7, 8]
    assert HistoryEvent.objects.filter(target_id=job.pk, target_type="datahub.importjob", verb="restarted").count() == 1


def test_records_waiting_for_the_index_are_found_by_substring(dataset, write_file):
    job = import_job_run(job=job_for(dataset, write_file("a.jsonl", [
        {"instruction": "Where is my parcel?", "output": "It left the depot."},
        {"instruction": "Can I pay by card?", "output": "Yes, any card."},
    ])))
    # As if the worker had stopped between committing the records and indexing them.
    RecordSearch.objects.all().delete()
    ImportJob.objects.filter(pk=job.pk).update(search_pending=True)
    found = [r.messages[0]["content"] for r in record_search(dataset=dataset, q="depot parcel")]
    assert found == ["Where is my parcel?"]
    assert list(record_search(dataset=dataset, q="depot card")) == []
    assert search_index_pending(dataset_id=dataset.pk) == 2
    assert ImportJob.objects.get(pk=job.pk).search_pending is False
    assert [r.messages[0]["content"] for r in record_search(dataset=dataset, q="card")] == ["Can I pay by card?"]


def test_records_made_elsewhere_are_indexed_as_they_are_inserted(dataset):
    records_bulk_create(
        dataset=dataset,
        rows=[
            {
                "kind": "sft",
                "messages": [
                    {"role": "user", "content": "Reset my password"},
                    {"role": "assistant", "content": "Use the link."},
                ],
            }
        ],
    )
    assert RecordSearch.objects.count() == 1
    assert [r.messages[0]["content"] for r in record_search(dataset=dataset, q="password")] == ["Reset my password"]
    # Keys are not words: every record has a role and a content.
    assert list(record_search(dataset=dataset, q="content")) == []


def test_json_array_imports_through_the_mover(dataset, write_file, settings):
    settings.DATAHUB_IMPORT_CHUNK_ROWS = 2
    job = import_job_run(job=job_for(dataset, write_file("a.json", json.dumps(alpaca_rows(5), indent=2))))
    assert (job.status, job.created_count, job.detected_container) == ("succeeded", 5, "json")


def test_the_parser_process_stages_exactly_what_the_reader_would(dataset, workspace, write_file, settings, monkeypatch):
    from datahub.services.datasets import dataset_create
    from datahub.services.import_rows import ChunkParser

    settings.DATAHUB_IMPORT_CHUNK_ROWS = 3
    rows = (
        alpaca_rows(8)
        + [{"instruction": "no answer"}, {"instruction": "中文 \\ tab\there", "output": "好"}]
        + alpaca_rows(3)
    )
    content = (
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
        + "{broken\n\n"
        + json.dumps(alpaca_rows(2, start=50)[1])
    )
    path = write_file("mixed.jsonl", content)
    chunks = []
    next_chunk = ChunkParser.next
    monkeypatch.setattr(ChunkParser, "next", lambda self: chunks.append(1) or next_chunk(self))
    parsed = import_job_run(job=job_for(dataset, path, skip_invalid=True))
    settings.DATAHUB_IMPORT_PARSER_PROCESS = False
    other = dataset_create(workspace=workspace, name="read in process")
    read = import_job_run(job=job_for(other, path, skip_invalid=True))
    assert len(chunks) == 5  # rows 4 to 15 came from the parser process, then its empty last chunk

    def outcome(job, dataset):
        records = [(r.line_number, r.messages, r.raw, r.content_hash, r.prompt_hash)
                   for r in Record.objects.filter(dataset=dataset).order_by("pk")]
        errors = [(e.line, e.field, e.reason) for e in job.row_errors.order_by("line")]
        return (job.status, job.created_count, job.duplicate_count, job.invalid_count, job.processed), records, errors

    assert outcome(parsed, dataset) == outcome(read, other)
    assert outcome(parsed, dataset)[0] == ("succeeded", 10, 3, 2, 15)
    assert outcome(parsed, dataset)[2] == [
        (9, "output", "field 'output' is missing"),
        (14, "", "malformed JSON: Expecting property name enclosed in double quotes (column 2)"),
    ]


def test_a_bad_row_in_a_parsed_chunk_fails_the_job_at_its_line(dataset, write_file, settings):
    settings.DATAHUB_IMPORT_CHUNK_ROWS = 3
    job = import_job_run(
        job=job_for(dataset, write_file("bad.jsonl", alpaca_rows(10) + [{"output": "x"}] + alpaca_rows(3, start=20)))
    )
    assert (job.status, job.error_where, job.error, job.resume_row) == (
        "failed",
        "line 11",
        "field 'instruction' is missing",
        9,
    )
    assert (Record.objects.count(), staging_left(job)) == (0, False)


def test_a_large_job_is_indexed_in_id_ranges_on_connections_of_their_own(dataset, write_file, monkeypatch):
    from datahub.services import import_staging

    monkeypatch.setattr(import_staging, "_SEARCH_RANGE_MIN", 4)
    monkeypatch.setattr(import_staging.os, "cpu_count", lambda: 3)
    job = job_for(dataset, write_file("a.jsonl", alpaca_rows(13)))
    ranges = []
    index_range = import_staging._search_index_range
    monkeypatch.setattr(import_staging, "_search_index_range",
                        lambda job_id, ids, **kw: ranges.append(ids) or index_range(job_id, ids, **kw))
    job = import_job_run(job=job)
    ids = sorted(Record.objects.filter(import_job=job).values_list("pk", flat=True))
    assert sorted(ranges) == [(ids[0], ids[0] + 4), (ids[0] + 5, ids[0] + 9), (ids[0] + 10, ids[-1])]
    assert (job.search_pending, ImportJob.objects.get(pk=job.pk).search_pending) == (False, False)
    assert sorted(RecordSearch.objects.values_list("record_id", flat=True)) == ids
    assert [r.line_number for r in record_search(dataset=dataset, q="24")] == [13]  # 12 + 12, in the last range


@pytest.mark.parametrize("relative", ["preference/anthropics__hh-rlhf/harmless-base/test.jsonl",
                                      "sft/hiyouga__LLaMA-Factory/v1_sft_demo.jsonl"])
def test_a_real_file_imports_the_same_by_every_path(relative, workspace, shared_data, settings):
    """The parser process and a ThreadMover, the reader alone and a ThreadMover, and a FinalMover inside a transaction
    leave the same records: the COPY lines carry real text (escapes, tabs, Chinese) through unchanged."""
    from django.db import transaction

    from datahub.services.datasets import dataset_create

    path = shared_data(relative)
    settings.DATAHUB_IMPORT_CHUNK_ROWS = 150

    def imported(name: str, **setting) -> list[tuple]:
        for key, value in setting.items():
            setattr(settings, key, value)
        dataset = dataset_create(workspace=workspace, name=name)
        job = import_job_run(job=job_for(dataset, path))
        assert (job.status, job.error) == ("succeeded", "")
        return [
            (
                r.line_number,
                r.kind,
                r.messages,
                r.chosen,
                r.rejected,
                r.tools,
                r.label,
                r.raw,
                r.content_hash,
                r.prompt_hash,
            )
            for r in Record.objects.filter(dataset=dataset).order_by("pk")
        ]

    parsed = imported("parser process")
    read = imported("reader", DATAHUB_IMPORT_PARSER_PROCESS=False)
    with transaction.atomic():
        final = imported("final mover")
    assert len(parsed) > 300
    assert parsed == read == final == _canonical_records(path)


def _canonical_records(path) -> list[tuple]:
    """What the file's records are, worked out in Python alone (no COPY): the first copy of each content."""
    from datahub.canonical import content_hash, prompt_hash
    from datahub.files import file_rows
    from datahub.formats import row_canonical, row_format

    records, seen, kind = [], set(), None
    for line, row in file_rows(path).rows:
        kind = kind or row_format(row, line=line)
        clean = row_canonical(row, format=kind, line=line)
        if content_hash(clean) not in seen:
            seen.add(content_hash(clean))
            records.append(
                (
                    line,
                    clean["kind"],
                    clean["messages"],
                    clean.get("chosen"),
                    clean.get("rejected"),
                    clean.get("tools"),
                    clean.get("label"),
                    row,
                    content_hash(clean),
                    prompt_hash(clean),
                )
            )
    return records

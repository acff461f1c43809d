"""Copying staged chunks into Record (RecordCopier, through a ThreadMover): a plain COPY while no content repeats, the
chunk filtered and copied again when the unique index refuses it, the first copy kept. Outside a test transaction, as
the worker runs: the mover's own connection must see committed rows."""

import pytest
from django.db import connection

from datahub.canonical import canonical_checked
from datahub.models import ImportJob, Record
from datahub.services.import_rows import RowRules, record_line, record_line_start, row_hashes
from datahub.services.import_staging import RecordCopier, StagedFile, ThreadMover
from datahub.services.imports import import_job_create
from datahub.services.records import records_bulk_create
from datahub.tests.fixtures import alpaca_rows, sft_row

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def postgres_only():
    if connection.vendor != "postgresql":
        pytest.skip("the moving thread is PostgreSQL's")


def _job(dataset, write_file) -> ImportJob:
    return import_job_create(
        dataset=dataset, path=write_file("a.jsonl", alpaca_rows(1)), file_name="a.jsonl", run_in_background=False
    )


def _lines(job: ImportJob, questions: list[tuple[int, str]]) -> tuple[str, int]:
    """Record lines of (line number, question) rows, as the reader writes them."""
    rules = RowRules(column_map={}, max_record_chars=10_000, skip_invalid=False,
                     line_start=record_line_start(dataset_id=job.dataset_id, source_id=None, job_id=job.pk))
    text = []
    for line, question in questions:
        clean, parts = canonical_checked(sft_row(question))
        text.append(record_line(rules, clean, parts, {"q": question}, row_hashes(clean, parts), line))
    return "".join(text), len(text)


def test_chunks_go_in_whole_until_one_repeats_and_the_first_copy_stays(dataset, write_file):
    records_bulk_create(dataset=dataset, rows=[sft_row("Question 4?")])
    job = _job(dataset, write_file)
    counts = []
    mover = ThreadMover(job)
    mover.move(*_lines(job, [(1, "Question 1?"), (2, "Question 2?")]))
    # Line 5 repeats line 2, and line 4 is in the dataset already.
    mover.move(*_lines(job, [(3, "Question 3?"), (4, "Question 4?"), (5, "Question 2?"), (6, "Question 6?")]))
    mover.move(*_lines(job, [(7, "Question 7?")]))
    mover.commit(lambda created, duplicates: counts.append((created, duplicates)))
    assert counts == [(5, 2)]
    moved = Record.objects.filter(import_job=job).order_by("pk")
    assert [(r.line_number, r.messages[0]["content"], r.raw) for r in moved] == [
        (1, "Question 1?", {"q": "Question 1?"}),
        (2, "Question 2?", {"q": "Question 2?"}),
        (3, "Question 3?", {"q": "Question 3?"}),
        (6, "Question 6?", {"q": "Question 6?"}),
        (7, "Question 7?", {"q": "Question 7?"}),
    ]


def test_a_chunk_that_repeats_makes_the_next_ones_filtered_until_one_does_not(dataset, write_file):
    job = _job(dataset, write_file)
    copier = RecordCopier(job)
    copier.copy(*_lines(job, [(1, "Question 1?"), (2, "Question 1?")]))
    assert (copier.created, copier.staged, copier.filtering) == (1, 2, True)
    copier.copy(*_lines(job, [(3, "Question 1?"), (4, "Question 4?")]))
    assert (copier.created, copier.staged, copier.filtering) == (2, 4, True)
    copier.copy(*_lines(job, [(5, "Question 5?")]))
    assert (copier.created, copier.staged, copier.filtering) == (3, 5, False)
    copier.copy(*_lines(job, [(6, "Question 6?")]))
    assert sorted(Record.objects.filter(dataset=dataset).values_list("line_number", flat=True)) == [1, 4, 5, 6]


def test_an_aborted_move_leaves_the_dataset_as_it_was(dataset, write_file):
    job = _job(dataset, write_file)
    mover = ThreadMover(job)
    mover.move(*_lines(job, [(1, "Question 1?"), (2, "Question 2?")]))
    mover.abort()
    assert Record.objects.count() == 0


def test_staged_chunks_read_back_as_written_whole_lines_at_a_time(dataset, write_file, monkeypatch):
    from datahub.services import import_staging

    job = _job(dataset, write_file)
    staged = StagedFile(job)
    first, second = _lines(job, [(1, "Question 1?"), (2, "Question 2?")]), _lines(job, [(3, "Question 3?")])
    staged.append(first[0])
    staged.append(second[0])
    assert staged.intact()
    monkeypatch.setattr(import_staging, "_READ_BYTES", 100)  # blocks smaller than a line: pieces still end at one
    pieces = list(staged.chunks(job.staged_bytes))
    assert "".join(text for text, _ in pieces) == first[0] + second[0]
    assert sum(count for _, count in pieces) == 3 and all(text.endswith("\n") for text, _ in pieces)
    job.staged_crc += 1
    assert not staged.intact()


def test_a_lookup_by_source_uses_the_partial_index(dataset, source):
    records_bulk_create(dataset=dataset, rows=[sft_row("With a source?")], source=source)
    records_bulk_create(dataset=dataset, rows=[sft_row("Without one?")])
    sql, params = Record.objects.filter(source=source).values("pk").query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexdef FROM pg_indexes WHERE tablename = 'datahub_record' AND indexdef LIKE '%%(source_id)%%'"
        )
        assert [row[0] for row in cursor.fetchall()] == [
            "CREATE INDEX record_source_set ON public.datahub_record USING btree (source_id) WHERE (source_id IS NOT NULL)"
        ]
        cursor.execute("SET enable_seqscan = off")
        try:
            cursor.execute(f"EXPLAIN {sql}", params)
            plan = "\n".join(row[0] for row in cursor.fetchall())
        finally:
            cursor.execute("RESET enable_seqscan")
    assert "record_source_set" in plan
    assert [r.messages[0]["content"] for r in Record.objects.filter(source=source)] == ["With a source?"]

"""The PostgreSQL move of staged rows into Record (one INSERT … SELECT, then a DELETE, per chunk) and the indexes it
pays for. Outside a test transaction, as the worker runs: the mover's own connection must see committed rows."""

import pytest
from django.db import connection

from datahub.canonical import canonical_checked, content_hash, prompt_hash
from datahub.models import ImportJob, Record, StagedRecord
from datahub.services.import_staging import ThreadMover, staged_object
from datahub.services.imports import import_job_create
from datahub.services.records import records_bulk_create
from datahub.tests.fixtures import alpaca_rows

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def postgres_only():
    if connection.vendor != "postgresql":
        pytest.skip("the moving thread is PostgreSQL's")


def _sft(question: str) -> dict:
    return {"kind": "sft", "messages": [{"role": "user", "content": question}, {"role": "assistant", "content": "Yes."}]}


def _stage(job: ImportJob, rows: list[tuple[int, dict]]) -> None:
    """Staged rows (ordinal, canonical row), written in the order given."""
    objects = []
    for ordinal, row in rows:
        clean, parts = canonical_checked(row)
        objects.append(staged_object(job.pk, ordinal, clean, row, (content_hash(clean, parts=parts), prompt_hash(clean)), ordinal))
    StagedRecord.objects.bulk_create(objects)


def test_rows_move_in_file_order_whatever_order_they_were_staged_in(dataset, write_file):
    records_bulk_create(dataset=dataset, rows=[_sft("Question 4?")])
    job = import_job_create(dataset=dataset, path=write_file("a.jsonl", alpaca_rows(1)), file_name="a.jsonl", run_in_background=False)
    # Ordinals 1..6 staged back to front; 5 repeats 2, and 4 is already in the dataset.
    _stage(job, [(6, _sft("Question 6?")), (5, _sft("Question 2?")), (4, _sft("Question 4?")), (3, _sft("Question 3?")),
                 (2, _sft("Question 2?")), (1, _sft("Question 1?"))])
    counts = []
    mover = ThreadMover(job)
    mover.move(0, 3)
    mover.move(3, 6)
    mover.commit(lambda created, duplicates: counts.append((created, duplicates)))
    assert counts == [(4, 2)]
    moved = Record.objects.filter(import_job=job).order_by("pk")
    assert [(r.line_number, r.messages[0]["content"]) for r in moved] == [
        (1, "Question 1?"), (2, "Question 2?"), (3, "Question 3?"), (6, "Question 6?")]
    assert StagedRecord.objects.filter(job=job).count() == 0


def test_an_aborted_move_leaves_the_rows_staged_and_the_dataset_as_it_was(dataset, write_file):
    job = import_job_create(dataset=dataset, path=write_file("a.jsonl", alpaca_rows(1)), file_name="a.jsonl", run_in_background=False)
    _stage(job, [(1, _sft("Question 1?")), (2, _sft("Question 2?"))])
    mover = ThreadMover(job)
    mover.move(0, 2)
    mover.abort()
    assert (Record.objects.count(), StagedRecord.objects.filter(job=job).count()) == (0, 2)


def test_a_lookup_by_source_uses_the_partial_index(dataset, source):
    records_bulk_create(dataset=dataset, rows=[_sft("With a source?")], source=source)
    records_bulk_create(dataset=dataset, rows=[_sft("Without one?")])
    sql, params = Record.objects.filter(source=source).values("pk").query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE tablename = 'datahub_record' AND indexdef LIKE '%%(source_id)%%'")
        assert [row[0] for row in cursor.fetchall()] == [
            "CREATE INDEX record_source_set ON public.datahub_record USING btree (source_id) WHERE (source_id IS NOT NULL)"]
        cursor.execute("SET enable_seqscan = off")
        try:
            cursor.execute(f"EXPLAIN {sql}", params)
            plan = "\n".join(row[0] for row in cursor.fetchall())
        finally:
            cursor.execute("RESET enable_seqscan")
    assert "record_source_set" in plan
    assert [r.messages[0]["content"] for r in Record.objects.filter(source=source)] == ["With a source?"]

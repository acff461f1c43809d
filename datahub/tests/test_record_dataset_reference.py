"""Record.dataset without a foreign key constraint (migration 0008): the PostgreSQL triggers that keep the same
guarantee once per statement, including against a dataset deleted while an import is moving records into it."""

import threading

import pytest
from django.db import IntegrityError, connection, connections, transaction

from datahub.models import Dataset, Record
from datahub.services.records import records_bulk_create
from datahub.tests.fixtures import sft_row

pytestmark = [pytest.mark.postgres]


@pytest.fixture(autouse=True)
def postgres_only():
    if connection.vendor != "postgresql":
        pytest.skip("the dataset reference triggers are PostgreSQL's; on SQLite Django's cascade keeps it")


@pytest.mark.django_db
def test_records_naming_a_dataset_that_does_not_exist_are_refused(dataset):
    records_bulk_create(dataset=dataset, rows=[sft_row("Kept?")])
    record = Record.objects.get()
    missing = Dataset.objects.order_by("-pk").first().pk + 1000
    with pytest.raises(IntegrityError, match=f"dataset {missing} does not exist"), transaction.atomic():
        Record.objects.bulk_create(
            [
                Record(
                    dataset_id=missing,
                    kind="sft",
                    messages=record.messages,
                    content_hash="x" * 64,
                    prompt_hash="y" * 64,
                )
            ]
        )
    with pytest.raises(IntegrityError, match=f"dataset {missing} does not exist"), transaction.atomic():
        Record.objects.filter(pk=record.pk).update(dataset_id=missing)
    assert list(Record.objects.values_list("dataset_id", flat=True)) == [dataset.pk]


@pytest.mark.django_db
def test_a_dataset_with_records_cannot_lose_its_row_but_deletes_with_them(dataset, workspace):
    from datahub.services.datasets import dataset_create

    records_bulk_create(dataset=dataset, rows=[sft_row("Kept?")])
    with pytest.raises(IntegrityError, match=f"dataset {dataset.pk} still has records"), transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM datahub_dataset WHERE id = %s", [dataset.pk])
            cursor.execute("SET CONSTRAINTS datahub_dataset_records IMMEDIATE")  # the check runs at commit otherwise
    assert Record.objects.filter(dataset=dataset).count() == 1
    other = dataset_create(workspace=workspace, name="Deleted whole")
    records_bulk_create(dataset=other, rows=[sft_row("Gone?")])
    other.delete()  # Django deletes the records first, as the deferred check expects
    assert (Dataset.objects.filter(pk=other.pk).exists(), Record.objects.count()) == (False, 1)


@pytest.mark.django_db(transaction=True)
def test_a_dataset_deleted_while_records_go_into_it_keeps_them_or_refuses_them(dataset):
    """An insert key-share-locks the dataset: a delete waits for the inserting transaction, then fails at its commit."""
    inserted, delete_started = threading.Event(), threading.Event()
    outcome = {}

    def delete_dataset():
        try:
            inserted.wait(10)
            with transaction.atomic(), connection.cursor() as cursor:
                delete_started.set()
                #waits for the insert's commit
                cursor.execute("DELETE FROM datahub_dataset WHERE id = %s", [dataset.pk])
            outcome["delete"] = "committed"
        except IntegrityError as exc:
            outcome["delete"] = str(exc).splitlines()[0]
        finally:
            connections.close_all()

    deleter = threading.Thread(target=delete_dataset)
    deleter.start()
    with transaction.atomic():
        records_bulk_create(dataset=dataset, rows=[sft_row("Mid-import?")])
        inserted.set()
        delete_started.wait(10)
        deleter.join(0.5)
        assert deleter.is_alive()  # blocked on the dataset row the insert holds
    deleter.join(10)
    assert outcome == {"delete": f"dataset {dataset.pk} still has records"}
    assert (Dataset.objects.filter(pk=dataset.pk).exists(), Record.objects.filter(dataset=dataset).count()) == (True, 1)

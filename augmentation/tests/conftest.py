"""Fixtures of the augmentation tests: a dataset with a source and a version whose splits are set explicitly."""

import pytest
from django.db import transaction

from augmentation.tests.rows import TEST, TRAIN, sft
from datahub.models import Record
from datahub.services.datasets import dataset_create, source_create
from datahub.services.records import records_bulk_create
from datahub.services.versions import dataset_version_create


@pytest.fixture
def aug_source(workspace):
    return source_create(workspace=workspace, name="Help desk", kind="own", quality_tier="B")


@pytest.fixture
def make_version(workspace, aug_source):
    """make_version(train=[(prompt, answer)...], test=[...], name=...) -> a version with exactly those splits."""

    def make(*, train: list[tuple[str, str]], test: list[tuple[str, str]] = (), validation: list[tuple[str, str]] = (),
             name: str = "Support chats", source=None):
        dataset = dataset_create(workspace=workspace, name=name)
        splits = [("train", train), ("validation", validation), ("test", test)]
        with transaction.atomic():
            records_bulk_create(
                dataset=dataset, rows=[sft(p, a) for _, rows in splits for p, a in rows], source=source or aug_source
            )
        ids = list(Record.objects.filter(dataset=dataset).order_by("pk").values_list("pk", flat=True))
        entries, position = [], 0
        for split, rows in splits:
            for _ in rows:
                entries.append((ids[position], split, []))
                position += 1
        return dataset_version_create(dataset=dataset, entries=entries, operation="freeze")

    return make


@pytest.fixture
def version(make_version):
    return make_version(train=TRAIN, test=TEST)

"""Freezing: seeded, content-addressed, leak-free splits (datahub.services.versions through real imports)."""

from collections import Counter, defaultdict

import pytest

from common.errors import ApplicationError
from datahub.models import DatasetVersion, Record, VersionRecord
from datahub.services.datasets import dataset_create
from datahub.services.versions import dataset_version_freeze
from datahub.tests.fixtures import alpaca_rows


def shared_prompt_rows(prompts: int, pairs: int) -> list[dict]:
    """`pairs` preference rows for each of `prompts` prompts: records that must share a split."""
    return [{"prompt": f"Question {p}?", "chosen": f"Good answer {p}.{k}", "rejected": f"Bad answer {p}.{k}"}
            for p in range(prompts) for k in range(pairs)]


def test_same_seed_gives_the_same_manifest(dataset, write_file, import_path, users):
    import_path(dataset, write_file("a.jsonl", alpaca_rows(300)))
    first = dataset_version_freeze(dataset=dataset, seed=7, created_by=users["ml_engineer"])
    again = dataset_version_freeze(dataset=dataset, seed=7)
    other = dataset_version_freeze(dataset=dataset, seed=8)
    assert (first.number, again.number, other.number) == (1, 2, 3)
    assert again.manifest_hash == first.manifest_hash
    assert again.counts == first.counts
    assert other.manifest_hash != first.manifest_hash
    assert (first.parent, again.parent, other.parent) == (None, first, again)
    assert (first.operation, first.seed, first.ratios) == ("freeze", 7, {"train": 0.8, "validation": 0.1, "test": 0.1})
    assert sum(first.counts.values()) == 300
    assert first.counts == dict(Counter(VersionRecord.objects.filter(version=first).values_list("split", flat=True)))


def test_manifest_depends_on_content_not_on_import_order(workspace, write_file, import_path):
    forward = dataset_create(workspace=workspace, name="Forward")
    backward = dataset_create(workspace=workspace, name="Backward")
    import_path(forward, write_file("f.jsonl", alpaca_rows(50)))
    import_path(backward, write_file("b.jsonl", list(reversed(alpaca_rows(50)))))
    assert (
        dataset_version_freeze(dataset=forward, seed=3).manifest_hash
        == dataset_version_freeze(dataset=backward, seed=3).manifest_hash
    )


def test_no_prompt_lands_in_two_splits(dataset, write_file, import_path):
    import_path(dataset, write_file("p.jsonl", shared_prompt_rows(prompts=60, pairs=3)))
    version = dataset_version_freeze(dataset=dataset, seed=11, ratios={"train": 0.5, "validation": 0.25, "test": 0.25})
    splits_of = defaultdict(set)
    for prompt, split in VersionRecord.objects.filter(version=version).values_list("record__prompt_hash", "split"):
        splits_of[prompt].add(split)
    assert len(splits_of) == 60
    assert all(len(splits) == 1 for splits in splits_of.values())
    assert {split for splits in splits_of.values() for split in splits} == {"train", "validation", "test"}
    assert all(count % 3 == 0 for count in version.counts.values())


def test_freeze_writes_history(dataset, write_file, import_path, users):
    from common.models import HistoryEvent

    import_path(dataset, write_file("a.jsonl", alpaca_rows(10)))
    version = dataset_version_freeze(dataset=dataset, created_by=users["admin"])
    event = HistoryEvent.objects.get(target_type="datahub.datasetversion", target_id=version.pk)
    assert (event.verb, event.actor) == ("frozen", users["admin"])
    assert event.after == {"number": 1, "counts": version.counts, "operation": "freeze"}


def test_a_frozen_version_keeps_its_records_when_more_are_imported(dataset, write_file, import_path):
    import_path(dataset, write_file("a.jsonl", alpaca_rows(10)))
    version = dataset_version_freeze(dataset=dataset)
    import_path(dataset, write_file("b.jsonl", alpaca_rows(5, start=100)))
    assert VersionRecord.objects.filter(version=version).count() == 10
    assert Record.objects.filter(dataset=dataset).count() == 15


def test_freezing_an_empty_dataset_is_refused(dataset):
    with pytest.raises(ApplicationError) as caught:
        dataset_version_freeze(dataset=dataset)
    assert (caught.value.where, caught.value.message) == ("dataset", "dataset 'Support chats' has no records to freeze")
    assert DatasetVersion.objects.count() == 0


@pytest.mark.parametrize("ratios,message", [
    ({"train": 0.8, "validation": 0.1}, "split ratios must be non-negative and add up to 1"),
    ({"train": 0.8, "dev": 0.2}, "unknown split 'dev'; use train, validation and test"),
])
def test_bad_ratios_are_refused(dataset, write_file, import_path, ratios, message):
    import_path(dataset, write_file("a.jsonl", alpaca_rows(3)))
    with pytest.raises(ApplicationError) as caught:
        dataset_version_freeze(dataset=dataset, ratios=ratios)
    assert (caught.value.where, caught.value.message) == ("ratios", message)
    assert DatasetVersion.objects.count() == 0


def test_version_in_workspace_and_kind_counts(workspace, other_workspace, dataset):
    from datahub.selectors import version_in_workspace, version_kind_counts
    from datahub.services.records import records_bulk_create

    records_bulk_create(
        dataset=dataset,
        rows=[
            {"kind": "sft", "messages": [{"role": "user", "content": f"q{n}"}, {"role": "assistant", "content": "a"}]}
            for n in range(5)
        ]
        + [
            {
                "kind": "kto",
                "label": True,
                "messages": [{"role": "user", "content": "k"}, {"role": "assistant", "content": "a"}],
            }
        ],
    )
    version = dataset_version_freeze(dataset=dataset, seed=0)
    assert version_in_workspace(workspace=workspace, version_id=version.pk) == version
    assert version_in_workspace(workspace=other_workspace, version_id=version.pk) is None
    assert version_in_workspace(workspace=workspace, version_id="x") is None
    assert version_kind_counts(version=version) == {"sft": 5, "preference": 0, "kto": 1}
    train = version_kind_counts(version=version, split="train")
    assert sum(train.values()) == version.counts["train"]


def test_stratified_freeze_splits_each_label_in_the_ratios(dataset):
    from datahub.services.records import records_bulk_create

    def kto(n: int, label: bool) -> dict:
        return {
            "kind": "kto",
            "label": label,
            "messages": [{"role": "user", "content": f"p{n}"}, {"role": "assistant", "content": "a"}],
        }

    records_bulk_create(dataset=dataset, rows=[kto(n, n < 20) for n in range(200)])
    version = dataset_version_freeze(dataset=dataset, seed=7, stratify=True)
    assert version.operation_detail == {"stratified": True}
    per_label = Counter(
        (entry.record.label, entry.split)
        for entry in VersionRecord.objects.filter(version=version).select_related("record")
    )
    assert (per_label[(True, "train")], per_label[(True, "validation")], per_label[(True, "test")]) == (16, 2, 2)
    assert (per_label[(False, "train")], per_label[(False, "validation")], per_label[(False, "test")]) == (144, 18, 18)
    again = dataset_version_freeze(dataset=dataset, seed=7, stratify=True)
    assert again.manifest_hash == version.manifest_hash


def test_a_correction_lands_in_the_split_of_its_parent(dataset):
    from datahub.services.records import record_build, records_bulk_create, records_insert

    records_bulk_create(
        dataset=dataset,
        rows=[
            {"kind": "sft", "messages": [{"role": "user", "content": f"q{n}"}, {"role": "assistant", "content": "a"}]}
            for n in range(40)
        ],
    )
    parents = list(Record.objects.filter(dataset=dataset))
    children = [
        record_build(
            dataset=dataset,
            parent=p,
            origin="augmentation",
            clean={
                "kind": "sft",
                "messages": [
                    {"role": "user", "content": f"rephrased {p.pk} differently"},
                    {"role": "assistant", "content": "a"},
                ],
            },
        )
        for p in parents
    ]
    records_insert(dataset=dataset, records=children)
    version = dataset_version_freeze(dataset=dataset, seed=3)
    split_of = dict(VersionRecord.objects.filter(version=version).values_list("record_id", "split"))
    assert all(
        split_of[child.pk] == split_of[child.parent_id]
        for child in Record.objects.filter(dataset=dataset, parent__isnull=False)
    )

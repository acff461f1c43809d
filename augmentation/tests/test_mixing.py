import pytest
from django.db import transaction

from augmentation.models import MixRun
from augmentation.services.mixing import mix_run_create, mix_run_execute, quotas_allocate
from common.errors import ApplicationError
from datahub.models import DatasetVersion, Record, VersionRecord
from datahub.services.datasets import dataset_create, source_create
from datahub.services.records import records_bulk_create


def test_quotas_add_up_exactly():
    assert quotas_allocate(20, [0.6, 0.4]) == [12, 8]
    assert quotas_allocate(10, [1 / 3, 1 / 3, 1 / 3]) == [4, 3, 3]
    assert quotas_allocate(7, [0.5, 0.25, 0.25]) == [3, 2, 2]


@pytest.fixture
def two_sources(workspace):
    """Source "Experts" with 30 records, "Crowd" with 20, in two datasets; one prompt is in both."""
    experts = source_create(workspace=workspace, name="Experts", kind="expert_written", quality_tier="A")
    crowd = source_create(workspace=workspace, name="Crowd", kind="crowdsourced", quality_tier="C")
    first, second = (
        dataset_create(workspace=workspace, name="Expert set"),
        dataset_create(workspace=workspace, name="Crowd set"),
    )
    rows = lambda n, word: [  # noqa: E731
        {
            "kind": "sft",
            "messages": [
                {"role": "user", "content": f"{word} question {i}"},
                {"role": "assistant", "content": f"answer {i}"},
            ],
        }
        for i in range(n)
    ]
    with transaction.atomic():
        records_bulk_create(dataset=first, rows=rows(30, "expert"), source=experts)
        records_bulk_create(dataset=second, rows=rows(19, "crowd") + rows(1, "expert"), source=crowd)
    return experts, crowd


def _mix(dataset, ingredients, total, seed=0):
    return mix_run_execute(run=mix_run_create(dataset=dataset, ingredients=ingredients, total_size=total, seed=seed,
                                                  run_in_background=False))


@pytest.mark.django_db
def test_ratios_achieved_exactly(workspace, two_sources):
    experts, crowd = two_sources
    target = dataset_create(workspace=workspace, name="Mix")
    run = _mix(
        target,
        [{"kind": "source", "id": experts.pk, "ratio": 0.6}, {"kind": "source", "id": crowd.pk, "ratio": 0.4}],
        20,
    )
    assert run.status == "succeeded", run.error
    version = run.result_version
    assert version.operation == DatasetVersion.Operation.MIX
    detail = version.operation_detail
    assert [(i["name"], i["requested"], i["taken"], i["achieved_ratio"]) for i in detail["ingredients"]] == [
        ("Experts", 12, 12, 0.6), ("Crowd", 8, 8, 0.4)]
    assert detail["exact"] is True and detail["total"] == 20
    # Copied into the target with their source and a link to the original.
    copies = Record.objects.filter(dataset=target)
    assert copies.count() == 20 == copies.filter(origin="mix", parent__isnull=False).count()
    assert copies.filter(source=experts).count() == 12
    assert sum(version.counts.values()) == 20


@pytest.mark.django_db
def test_a_short_ingredient_gives_all_it_has_and_the_achieved_ratio_says_so(workspace, two_sources):
    experts, crowd = two_sources
    target = dataset_create(workspace=workspace, name="Mix")
    run = _mix(
        target,
        [{"kind": "source", "id": experts.pk, "ratio": 0.5}, {"kind": "source", "id": crowd.pk, "ratio": 0.5}],
        60,
    )
    rows = run.achieved["ingredients"]
    #the crowd's copy of an expert prompt is a duplicate
    assert [(r["requested"], r["taken"]) for r in rows] == [(30, 30), (30, 19)]
    assert run.achieved["total"] == 49 and run.achieved["exact"] is False
    assert rows[0]["achieved_ratio"] == round(30 / 49, 6)


@pytest.mark.django_db
def test_a_version_ingredient_keeps_its_splits_and_the_mix_is_seeded(workspace, two_sources, make_version):
    experts, _ = two_sources
    version = make_version(
        train=[(f"train prompt {i}", "a.") for i in range(6)],
        test=[(f"test prompt {i}", "b.") for i in range(4)],
        name="Base",
    )
    ingredients = [
        {"kind": "version", "id": version.pk, "ratio": 0.5},
        {"kind": "source", "id": experts.pk, "ratio": 0.5},
    ]
    first = _mix(version.dataset, ingredients, 10, seed=3)
    second = _mix(version.dataset, ingredients, 10, seed=3)
    pick = lambda run: sorted(  # noqa: E731
        VersionRecord.objects.filter(version=run.result_version).values_list("record_id", "split")
    )
    assert pick(first) == pick(second)
    base_splits = dict(VersionRecord.objects.filter(version=version).values_list("record_id", "split"))
    for record_id, split in pick(first):
        if record_id in base_splits:
            assert split == base_splits[record_id]
    assert second.result_version.parent == first.result_version


@pytest.mark.django_db
def test_bad_ingredients_are_refused_and_nothing_is_created(workspace, other_workspace, two_sources):
    experts, _ = two_sources
    target = dataset_create(workspace=workspace, name="Mix")
    foreign = source_create(workspace=other_workspace, name="Theirs")
    cases = [
        ([{"kind": "source", "id": experts.pk, "ratio": 0.7}], "ingredients"),
        ([{"kind": "source", "id": foreign.pk, "ratio": 1.0}], "ingredients[0].id"),
        ([{"kind": "file", "id": 1, "ratio": 1.0}], "ingredients[0].kind"),
        ([{"kind": "source", "id": experts.pk, "ratio": 0}], "ingredients[0].ratio"),
    ]
    for ingredients, where in cases:
        with pytest.raises(ApplicationError) as error:
            mix_run_create(dataset=target, ingredients=ingredients, total_size=10, run_in_background=False)
        assert error.value.where == where
    assert MixRun.objects.count() == 0

import pytest

from common.errors import ApplicationError
from common.models import HistoryEvent
from datahub.models import Dataset, Source
from datahub.services.datasets import dataset_create, source_create


def test_dataset_create_writes_history(workspace, users):
    dataset = dataset_create(
        workspace=workspace, name="  Refunds ", description="refund chats", created_by=users["ml_engineer"]
    )
    assert (dataset.name, dataset.description, dataset.created_by) == ("Refunds", "refund chats", users["ml_engineer"])
    event = HistoryEvent.objects.get(target_type="datahub.dataset", target_id=dataset.pk)
    assert (event.verb, event.actor, event.after) == ("created", users["ml_engineer"], {"name": "Refunds"})


def test_dataset_name_is_unique_in_its_workspace(workspace, other_workspace):
    dataset_create(workspace=workspace, name="Refunds")
    with pytest.raises(ApplicationError) as caught:
        dataset_create(workspace=workspace, name="Refunds")
    assert (caught.value.where, caught.value.message, caught.value.code) == (
        "name", "a dataset named 'Refunds' already exists in workspace 'Acme support'", "duplicate")
    assert Dataset.objects.filter(name="Refunds").count() == 1
    dataset_create(workspace=other_workspace, name="Refunds")
    assert Dataset.objects.filter(name="Refunds").count() == 2


def test_dataset_name_is_required(workspace):
    with pytest.raises(ApplicationError) as caught:
        dataset_create(workspace=workspace, name="   ")
    assert (caught.value.where, caught.value.message) == ("name", "a name is required")
    assert Dataset.objects.count() == 0


def test_source_create(workspace):
    source = source_create(workspace=workspace, name="Forum", kind="public", quality_tier="C", description="scraped")
    assert (source.kind, source.quality_tier, source.description) == ("public", "C", "scraped")
    assert HistoryEvent.objects.filter(target_type="datahub.source", target_id=source.pk, verb="created").count() == 1


@pytest.mark.parametrize(
    "field,values,message",
    [
        (
            "kind",
            {"kind": "stolen"},
            "unknown source kind 'stolen'; choose one of own, public, user_generated, expert_written, synthetic, "
            "crowdsourced, online, openai_api",
        ),
        ("quality_tier", {"quality_tier": "Z"}, "unknown quality tier 'Z'; choose one of A, B, C, D"),
    ],
)
def test_source_create_rejects_unknown_choices(workspace, field, values, message):
    with pytest.raises(ApplicationError) as caught:
        source_create(workspace=workspace, name="Forum", **values)
    assert (caught.value.where, caught.value.message) == (field, message)
    assert Source.objects.count() == 0


def test_source_name_is_unique_in_its_workspace(workspace):
    source_create(workspace=workspace, name="Forum")
    with pytest.raises(ApplicationError) as caught:
        source_create(workspace=workspace, name="Forum")
    assert caught.value.message == "a source named 'Forum' already exists in workspace 'Acme support'"
    assert Source.objects.count() == 1

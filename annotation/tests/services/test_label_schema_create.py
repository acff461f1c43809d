import pytest

from annotation.models import Label, LabelSchema
from annotation.services import label_schema_create
from common.errors import ApplicationError
from common.models import HistoryEvent


def test_publishes_the_tree_with_parents_paths_and_depth_first_order(workspace, users):
    schema = label_schema_create(workspace=workspace, name="Topic", created_by=users["ml_engineer"], tree=[
        {"name": "billing", "description": "Money", "children": [{"name": "refund"}, {"name": "invoice"}]},
        {"name": "account", "children": [{"name": "login", "children": [{"name": "sso"}]}]},
    ])
    assert (schema.version, schema.multiple, schema.leaf_only, schema.published_at is not None) == (
        1,
        False,
        True,
        True,
    )
    labels = list(schema.labels.order_by("order"))
    assert [(l.path, l.parent.path if l.parent else None, l.order) for l in labels] == [
        ("billing", None, 0), ("billing/refund", "billing", 1), ("billing/invoice", "billing", 2),
        ("account", None, 3), ("account/login", "account", 4), ("account/login/sso", "account/login", 5),
    ]
    assert labels[0].description == "Money"
    event = HistoryEvent.objects.get(target_type="annotation.labelschema", target_id=schema.pk)
    assert (event.verb, event.actor, event.after["labels"][-1]) == (
        "published",
        users["ml_engineer"],
        "account/login/sso",
    )


def test_same_name_publishes_the_next_version(workspace, topic_schema):
    second = label_schema_create(
        workspace=workspace, name="Topic", tree=[{"name": "other", "children": [{"name": "x"}]}], multiple=True
    )
    assert (second.version, second.multiple) == (2, True)
    assert list(topic_schema.labels.values_list("path", flat=True).order_by("order")) == [
        "billing", "billing/refund", "billing/invoice", "account", "account/login", "account/delete"]


def test_invalid_tree_names_the_place_and_keeps_nothing(workspace):
    with pytest.raises(ApplicationError) as error:
        label_schema_create(
            workspace=workspace, name="Topic", tree=[{"name": "a"}, {"name": "b", "children": [{"name": ""}]}]
        )
    assert str(error.value) == "tree[1].children[0].name: empty"
    assert (LabelSchema.objects.count(), Label.objects.count()) == (0, 0)


def test_empty_name_is_refused(workspace):
    with pytest.raises(ApplicationError) as error:
        label_schema_create(workspace=workspace, name="  ", tree=[{"name": "a"}])
    assert str(error.value) == "name: empty"

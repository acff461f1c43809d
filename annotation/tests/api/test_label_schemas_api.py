import pytest

from accounts.models import Role
from annotation.models import LabelSchema
from annotation.services import label_schema_create
from annotation.tests.fixtures import TOPIC_TREE

URL = "/api/v1/label-schemas/"
MANAGERS = {"admin", "ml_engineer"}


@pytest.mark.parametrize("role", [*Role.values, "outsider"])
def test_create_per_role(api_for, users, workspace, role):
    response = api_for(users[role]).post(
        URL, {"workspace": workspace.pk, "name": "Topic", "tree": TOPIC_TREE}, format="json"
    )
    if role in MANAGERS:
        assert response.status_code == 201
        body = response.json()
        assert (body["name"], body["version"], body["multiple"], body["leaf_only"]) == ("Topic", 1, False, True)
        assert [
            (n["path"], n["selectable"], n["shortcut"], [c["path"] for c in n["children"]]) for n in body["labels"]
        ] == [
            ("billing", False, None, ["billing/refund", "billing/invoice"]),
            ("account", False, None, ["account/login", "account/delete"]),
        ]
        assert [c["shortcut"] for n in body["labels"] for c in n["children"]] == [1, 2, 3, 4]
        assert LabelSchema.objects.count() == 1
    else:
        assert response.status_code == 404
        assert LabelSchema.objects.count() == 0


def test_create_names_the_bad_node(api_for, users, workspace):
    tree = [{"name": "a"}, {"name": "b", "children": [{"name": ""}]}]
    response = api_for(users["ml_engineer"]).post(
        URL, {"workspace": workspace.pk, "name": "Topic", "tree": tree}, format="json"
    )
    assert response.status_code == 400
    assert response.json() == {"detail": "empty", "where": "tree[1].children[0].name", "code": "invalid"}


@pytest.mark.parametrize(("role", "visible"), [
    ("ml_engineer", 1), ("admin", 1), ("crowd_annotator", 0), ("product_manager", 0), ("outsider", 0),
])
def test_list_shows_schemas_to_managers(api_for, users, topic_schema, role, visible):
    assert api_for(users[role]).get(URL).json()["count"] == visible


def test_list_costs_the_same_for_1_and_10_schemas(api_for, users, workspace, django_assert_num_queries):
    client = api_for(users["ml_engineer"])
    label_schema_create(workspace=workspace, name="S0", tree=TOPIC_TREE)
    with django_assert_num_queries(4):
        assert client.get(URL).json()["count"] == 1
    for i in range(1, 10):
        label_schema_create(workspace=workspace, name=f"S{i}", tree=TOPIC_TREE)
    with django_assert_num_queries(4):
        assert client.get(URL).json()["count"] == 10

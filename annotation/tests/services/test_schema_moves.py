"""Moving a project to a newer label schema version: the service, exports through the moves, the API, command and
page."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from annotation.models import AnnotationTask, SchemaMove
from annotation.services import (
    annotation_project_export,
    annotation_project_schema_move,
    annotation_submit,
    assignment_claim_next,
    label_schema_create,
)
from annotation.tests.fixtures import label_id, submit_as
from common.errors import ApplicationError
from common.models import HistoryEvent

V2_TREE = [
    {"name": "billing", "children": [{"name": "refund"}, {"name": "invoice"}]},
    {"name": "account", "children": [{"name": "sign-in"}, {"name": "delete"}]},
    {"name": "shipping", "children": [{"name": "late"}]},
]
FULL_V1_TO_V2 = {
    "account": "account",
    "account/delete": "account/delete",
    "account/login": "account/sign-in",
    "billing": "billing",
    "billing/invoice": "billing/invoice",
    "billing/refund": "billing/refund",
}


@pytest.fixture
def v2(workspace, users, topic_schema):
    return label_schema_create(workspace=workspace, name="Topic", tree=V2_TREE, created_by=users["ml_engineer"])


@pytest.fixture
def labelled(annotation_project_factory, users):
    """Three items; the first two labelled under v1 (account/login, billing/refund); the first is also a gold item."""
    project = annotation_project_factory(n=3)
    crowd = users["crowd_annotator"]
    for path in ("account/login", "billing/refund"):
        submit_as(crowd, assignment_claim_next(project=project, annotator=crowd), path)
    first = AnnotationTask.objects.filter(project=project).order_by("pk").first()
    AnnotationTask.objects.filter(pk=first.pk).update(is_gold=True, gold_labels=["account/login"])
    return project


def _labels(version):
    return [labels for _, labels in sorted(version.entries.values_list("record_id", "labels"))]


def test_move_records_the_full_mapping_and_old_answers_export_under_new_paths(labelled, v2, users, topic_schema):
    move = annotation_project_schema_move(project=labelled, schema=v2, mapping={"account/login": "account/sign-in"},
                                          moved_by=users["ml_engineer"])
    labelled.refresh_from_db()
    assert (labelled.schema, move.from_schema, move.to_schema, move.mapping) == (v2, topic_schema, v2, FULL_V1_TO_V2)
    assert AnnotationTask.objects.get(project=labelled, is_gold=True).gold_labels == ["account/sign-in"]
    assert HistoryEvent.objects.get(verb="schema_moved").after == {
        "schema": v2.pk,
        "version": 2,
        "mapping": FULL_V1_TO_V2,
        "move": move.pk,
    }
    crowd = users["crowd_annotator"]
    third = assignment_claim_next(project=labelled, annotator=crowd)
    with pytest.raises(ApplicationError) as error:
        annotation_submit(
            assignment=third, label_ids=[label_id(topic_schema, "billing/refund")], time_spent_ms=1, submitted_by=crowd
        )
    assert error.value.message == f"label {label_id(topic_schema, 'billing/refund')} is not in the schema Topic v2"
    submit_as(crowd, third, "shipping/late")

    assert _labels(annotation_project_export(project=labelled)) == [
        ["account/sign-in"],
        ["billing/refund"],
        ["shipping/late"],
    ]


def test_moves_chain_and_a_used_label_without_counterpart_is_refused(labelled, v2, workspace, users):
    annotation_project_schema_move(project=labelled, schema=v2, mapping={"account/login": "account/sign-in"})
    v3 = label_schema_create(workspace=workspace, name="Topic", tree=[
        {"name": "billing", "children": [{"name": "refund"}]}, {"name": "access"}])
    with pytest.raises(ApplicationError) as error:
        annotation_project_schema_move(project=labelled, schema=v3, mapping={})
    assert (error.value.where, error.value.message) == (
        "mapping",
        "used in this project but not in Topic v3: account/sign-in; map them",
    )
    assert SchemaMove.objects.count() == 1
    annotation_project_schema_move(project=labelled, schema=v3, mapping={"account/sign-in": "access"})
    assert _labels(annotation_project_export(project=labelled)) == [["access"], ["billing/refund"], []]


@pytest.mark.parametrize(("target", "mapping", "where", "message"), [
    ("v1", {}, "schema", "must be newer than the project's version 1"),
    ("other", {}, "schema", "must be a version of the label schema 'Topic' in the project's workspace"),
    ("v2", {"account/nope": "account/sign-in"}, "mapping", "'account/nope' is not a label of Topic v1"),
    ("v2", {"account/login": "account/nope"}, "mapping", "'account/nope' is not a label of Topic v2"),
    ("v2", {"account/login": "account"}, "mapping", "'account' has sub-labels in Topic v2; map to one of them"),
    ("v2", {}, "mapping", "used in this project but not in Topic v2: account/login; map them"),
])
def test_bad_moves_are_refused_and_nothing_changes(
    labelled, v2, topic_schema, workspace, target, mapping, where, message
):
    schemas = {
        "v1": topic_schema,
        "v2": v2,
        "other": label_schema_create(workspace=workspace, name="Other", tree=V2_TREE),
    }
    with pytest.raises(ApplicationError) as error:
        annotation_project_schema_move(project=labelled, schema=schemas[target], mapping=mapping)
    assert (error.value.where, error.value.message) == (where, message)
    labelled.refresh_from_db()
    assert (labelled.schema, SchemaMove.objects.count()) == (topic_schema, 0)


@pytest.mark.parametrize("role", ["ml_engineer", "crowd_annotator", "reviewer", "outsider"])
def test_api_moves_for_managers_only(labelled, v2, api_for, users, role):
    response = api_for(users[role]).post(
        f"/api/v1/annotation/projects/{labelled.pk}/schema/",
        {"schema_id": v2.pk, "mapping": {"account/login": "account/sign-in"}},
        format="json",
    )
    if role == "ml_engineer":
        assert response.status_code == 200
        body = response.json()
        assert (body["from_schema_id"], body["to_schema_id"], body["mapping"]) == (
            labelled.schema_id,
            v2.pk,
            FULL_V1_TO_V2,
        )
    else:
        assert response.status_code == 404
        assert SchemaMove.objects.count() == 0
    bad = api_for(users["ml_engineer"]).post(
        f"/api/v1/annotation/projects/{labelled.pk}/schema/", {"schema_id": v2.pk}, format="json"
    )
    assert bad.status_code == 400 if role != "ml_engineer" else bad.json()["where"] == "schema"


def test_command_moves_and_names_the_bad_option(labelled, v2):
    with pytest.raises(CommandError) as error:
        call_command(
            "annotation_schema_move", "--project", str(labelled.pk), "--schema-version", "2", "--map", "account/login"
        )
    assert str(error.value) == "--map: 'account/login' is not old/path=new/path"
    with pytest.raises(CommandError) as error:
        call_command("annotation_schema_move", "--project", str(labelled.pk), "--schema-version", "2")
    assert str(error.value) == "--map: used in this project but not in Topic v2: account/login; map them"
    with pytest.raises(CommandError) as error:
        call_command("annotation_schema_move", "--project", str(labelled.pk), "--schema-version", "9")
    assert str(error.value) == "--schema-version: label schema 'Topic' has no version 9"
    out = StringIO()
    call_command(
        "annotation_schema_move",
        "--project",
        str(labelled.pk),
        "--schema-version",
        "2",
        "--map",
        "account/login=account/sign-in",
        stdout=out,
    )
    assert out.getvalue() == "moved project 'Support topics' from Topic v1 to Topic v2: 6 labels mapped, 1 renamed\n"


def test_page_offers_newer_versions_and_moves(labelled, v2, client, users):
    client.force_login(users["ml_engineer"])
    url = reverse("annotation:project-detail", args=[labelled.pk])
    page = client.get(url).content.decode()
    assert f'<option value="{v2.pk}">Topic v2</option>' in page
    move_url = reverse("annotation:project-schema-move", args=[labelled.pk])
    bad = client.post(move_url, {"schema_id": v2.pk, "mapping": "account/login account/sign-in"})
    assert bad.status_code == 400 and "Line 1: write old/path -&gt; new/path." in bad.content.decode()
    response = client.post(move_url, {"schema_id": v2.pk, "mapping": "account/login -> account/sign-in\n"}, follow=True)
    page = response.content.decode()
    assert "Moved to Topic v2." in page and 'id="schema-move-table"' in page
    assert "<code>account/login</code> → <code>account/sign-in</code>" in page
    assert "The project uses Topic v2, the newest version." in page
    client.force_login(users["crowd_annotator"])
    assert client.post(move_url, {"schema_id": v2.pk}).status_code == 404

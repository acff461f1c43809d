"""Pairwise (A/B) comparison per schema: submit checks, the workbench, the API, the command, export and agreement."""

import io

import krippendorff
import numpy as np
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from annotation.models import Annotation, Assignment, LabelSchema
from annotation.dashboard import project_dashboard
from annotation.services import annotation_project_export, annotation_submit, assignment_claim_next, label_schema_create
from annotation.tests.fixtures import TOPIC_TREE, label_id, preference_row
from common.errors import ApplicationError
from common.models import HistoryEvent
from datahub.models import Record


@pytest.fixture
def pairwise_schema(workspace, users):
    return label_schema_create(
        workspace=workspace,
        name="Compare",
        tree=TOPIC_TREE,
        pairwise_question="  Which answer is better? ",
        created_by=users["ml_engineer"],
    )


@pytest.fixture
def pairwise_project(annotation_project_factory, annotation_version_factory, pairwise_schema):
    def make(*, n: int = 3, overlap: int = 1, name: str = "Compare answers"):
        return annotation_project_factory(
            version=annotation_version_factory(rows=[preference_row(i) for i in range(n)]),
            overlap=overlap,
            schema=pairwise_schema,
            name=name,
        )

    return make


def _submit(project, user, preference="", path="billing/refund"):
    assignment = assignment_claim_next(project=project, annotator=user)
    return annotation_submit(
        assignment=assignment,
        label_ids=[label_id(project.schema, path)],
        time_spent_ms=1,
        submitted_by=user,
        preference=preference,
    )


def test_schema_keeps_the_pairwise_question(pairwise_schema, workspace):
    assert pairwise_schema.pairwise_question == "Which answer is better?"
    assert (
        HistoryEvent.objects.get(verb="published", target_id=pairwise_schema.pk).after["pairwise_question"]
        == "Which answer is better?"
    )
    with pytest.raises(ApplicationError) as refused:
        label_schema_create(workspace=workspace, name="Bad", tree=TOPIC_TREE, pairwise_question="x" * 301)
    assert str(refused.value) == "pairwise_question: longer than 300 characters"


def test_submit_stores_the_preference_and_checks_it(
    pairwise_project, annotation_project_factory, topic_schema, pairwise_schema, users
):
    project = pairwise_project()
    person = users["crowd_annotator"]
    with pytest.raises(ApplicationError) as refused:
        _submit(project, person, "c")
    assert str(refused.value) == "preference: must be a, b or tie"
    assert Annotation.objects.count() == 0
    annotation = _submit(project, person, "B")
    annotation.refresh_from_db()
    assert annotation.preference == "b"
    assert HistoryEvent.objects.get(verb="submitted", target_id=annotation.pk).after["preference"] == "b"
    # Optional, like the other fields.
    assert _submit(project, person).preference == ""
    # A schema without the question refuses it; so does a record with one answer.
    plain = annotation_project_factory(n=1, schema=topic_schema, name="Plain")
    with pytest.raises(ApplicationError) as refused:
        _submit(plain, person, "a")
    assert str(refused.value) == "preference: the schema Topic v1 has no pairwise question"
    single = annotation_project_factory(n=1, schema=pairwise_schema, name="Single answers")
    with pytest.raises(ApplicationError) as refused:
        _submit(single, person, "a")
    assert str(refused.value) == "preference: this record has no two answers to compare"
    assert Annotation.objects.count() == 2


def test_export_labels_the_majority_and_swaps_where_b_wins(pairwise_project, users):
    project = pairwise_project(n=4, overlap=3)
    people = [users["crowd_annotator"], users["staff_annotator"], users["expert_annotator"]]
    # Item 0: a wins; item 1: b wins (swapped); item 2: one each (tie); item 3: nobody compared.
    table = [["a", "a", "b"], ["b", "tie", "b"], ["a", "b", "tie"], ["", "", ""]]
    for row in table:
        for person, preference in zip(people, row, strict=True):
            _submit(project, person, preference)
    version = annotation_project_export(project=project, created_by=users["ml_engineer"])
    source = list(project.dataset_version.entries.order_by("pk").values_list("record_id", flat=True))
    swapped = Record.objects.get(parent_id=source[1])
    original = Record.objects.get(pk=source[1])
    assert (swapped.origin, swapped.kind, swapped.messages) == ("annotation", "preference", original.messages)
    assert (swapped.chosen, swapped.rejected) == (original.rejected, original.chosen)
    assert swapped.chosen["content"] == "Answer 1: I cannot help with that."
    entries = dict(version.entries.values_list("record_id", "labels"))
    assert entries == {source[0]: ["billing/refund", "pairwise:a"], swapped.pk: ["billing/refund", "pairwise:b"],
                       source[2]: ["billing/refund", "pairwise:tie"], source[3]: ["billing/refund"]}
    detail = version.operation_detail
    assert (detail["pairwise"], detail["swapped"], detail["corrected"]) == ({"a": 1, "b": 1, "tie": 1}, 1, 0)
    assert HistoryEvent.objects.get(verb="exported").after["swapped"] == 1


def test_dashboard_pairwise_agreement_equals_the_reference_package(pairwise_project, users, client):
    project = pairwise_project(n=4, overlap=3)
    people = [users["crowd_annotator"], users["staff_annotator"], users["expert_annotator"]]
    table = [["a", "a", "a"], ["b", "b", "tie"], ["a", "b", ""], ["tie", "tie", "tie"]]
    for row in table:
        for person, preference in zip(people, row, strict=True):
            _submit(project, person, preference)
    dashboard = project_dashboard(project=project)
    codes = {"a": 0, "b": 1, "tie": 2}
    data = np.array([[codes[p] if p else np.nan for p in row] for row in table], dtype=float).T
    expected = krippendorff.alpha(reliability_data=data, level_of_measurement="nominal")
    assert dashboard.pairwise_units == 4
    assert dashboard.alpha_pairwise == pytest.approx(expected, abs=1e-9)
    assert dashboard.alpha_pairwise == pytest.approx(0.5, abs=1e-9)
    client.force_login(users["ml_engineer"])
    page = client.get(reverse("annotation:project-dashboard", args=[project.pk])).content.decode()
    assert '<dd id="pairwise-units">4</dd>' in page
    assert '<dd id="alpha-pairwise">0.500</dd>' in page


def test_workbench_shows_answers_a_and_b_and_submits_the_preference(pairwise_project, users, client):
    project = pairwise_project(n=2)
    client.force_login(users["crowd_annotator"])
    page = client.post(reverse("annotation:workbench", args=[project.pk]), follow=True).content.decode()
    assert 'id="answer-a"' in page and 'id="answer-b"' in page and 'id="pairwise"' in page
    assert "Which answer is better?" in page
    # The stored roles are not shown to the annotator.
    assert "(chosen)" not in page and "(rejected)" not in page
    assignment = Assignment.objects.get(annotator=users["crowd_annotator"], status="active")
    url = reverse("annotation:assignment-submit", args=[assignment.pk])
    label = label_id(project.schema, "billing/refund")
    refused = client.post(url, {"label_ids": [label], "preference": "x", "time_spent_ms": 5})
    assert refused.status_code == 400
    assert "preference: must be a, b or tie" in refused.content.decode()
    done = client.post(url, {"label_ids": [label], "preference": "tie", "time_spent_ms": 5})
    assert done.status_code == 302
    assert Annotation.objects.get(assignment=assignment).preference == "tie"


def test_api_schema_item_and_submit_carry_the_preference(
    api_for, users, workspace, annotation_project_factory, annotation_version_factory
):
    manager = api_for(users["ml_engineer"])
    response = manager.post("/api/v1/label-schemas/", {"workspace": workspace.pk, "name": "Compare", "tree": TOPIC_TREE,
                                                        "pairwise_question": "Better?"}, format="json")
    assert response.status_code == 201
    assert response.json()["pairwise_question"] == "Better?"
    schema = LabelSchema.objects.get(pk=response.json()["id"])
    project = annotation_project_factory(version=annotation_version_factory(rows=[preference_row(0)]), schema=schema)
    worker = api_for(users["crowd_annotator"])
    item = worker.post(f"/api/v1/annotation/projects/{project.pk}/claim/").json()
    assert item["pairwise_question"] == "Better?"
    submit = f"/api/v1/annotation/assignments/{item['assignment_id']}/submit/"
    refused = worker.post(submit, {"label_ids": [label_id(schema, "billing/refund")], "preference": "c"}, format="json")
    assert refused.status_code == 400
    assert Annotation.objects.count() == 0
    done = worker.post(submit, {"label_ids": [label_id(schema, "billing/refund")], "preference": "a"}, format="json")
    assert done.status_code == 200
    assert done.json()["preference"] == "a"


def test_schema_command_takes_the_pairwise_question(tmp_path, workspace):
    tree = tmp_path / "topics.txt"
    tree.write_text("billing\n  refund\naccount\n", encoding="utf-8")
    call_command("label_schema_create", "--workspace", "Acme support", "--name", "Compare", "--tree", str(tree),
                 "--pairwise-question", "Which is better?", stdout=io.StringIO())
    assert LabelSchema.objects.get().pairwise_question == "Which is better?"
    with pytest.raises(CommandError) as error:
        call_command("label_schema_create", "--workspace", "Acme support", "--name", "Bad", "--tree", str(tree),
                     "--pairwise-question", "x" * 301)
    assert str(error.value) == "--pairwise-question: longer than 300 characters"

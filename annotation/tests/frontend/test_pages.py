"""The annotation pages: setup forms, project detail, and the workbench flow, with fixed query counts."""

import re

import pytest
from django.urls import reverse

from annotation.models import Annotation, AnnotationProject, Assignment, LabelSchema
from annotation.services import annotation_project_create, assignment_claim_next
from annotation.tests.fixtures import label_id, submit_as
from datahub.models import DatasetVersion


@pytest.fixture
def client_for(client):
    def login(user):
        client.force_login(user)
        return client

    return login


def test_project_list_costs_the_same_for_1_and_10_projects(client_for, users, workspace, annotation_version_factory, topic_schema,
                                                           django_assert_num_queries):
    client = client_for(users["ml_engineer"])
    version = annotation_version_factory(n=2)
    annotation_project_create(workspace=workspace, name="P0", dataset_version=version, schema=topic_schema)
    with django_assert_num_queries(10):
        one = client.get(reverse("annotation:project-list"))
    for i in range(1, 10):
        annotation_project_create(workspace=workspace, name=f"P{i}", dataset_version=version, schema=topic_schema)
    with django_assert_num_queries(10):
        ten = client.get(reverse("annotation:project-list"))
    assert one.content.decode().count("data-project-id=") == 1
    assert ten.content.decode().count("data-project-id=") == 10
    assert "0 of 2 done" in ten.content.decode()


def test_workers_see_projects_without_the_setup_forms(client_for, users, annotation_project, django_assert_num_queries):
    client = client_for(users["crowd_annotator"])
    with django_assert_num_queries(5):
        page = client.get(reverse("annotation:project-list")).content.decode()
    assert "Support topics" in page
    assert 'id="schema-create-form"' not in page and 'id="project-create-form"' not in page


def test_outsiders_see_no_projects(client_for, users, annotation_project):
    page = client_for(users["outsider"]).get(reverse("annotation:project-list")).content.decode()
    assert "Support topics" not in page


def test_schema_form_takes_an_indented_tree(client_for, users, workspace):
    client = client_for(users["ml_engineer"])
    response = client.post(reverse("annotation:schema-create"), {
        "workspace": workspace.pk, "name": "Topic", "tree_text": "billing\n  refund\n  invoice\naccount\n  login", "leaf_only": "on",
    })
    assert response.status_code == 302
    schema = LabelSchema.objects.get()
    assert (schema.multiple, schema.leaf_only) == (False, True)
    assert list(schema.labels.order_by("order").values_list("path", flat=True)) == [
        "billing", "billing/refund", "billing/invoice", "account", "account/login"]


def test_schema_form_names_the_bad_line(client_for, users, workspace):
    response = client_for(users["ml_engineer"]).post(reverse("annotation:schema-create"), {
        "workspace": workspace.pk, "name": "Topic", "tree_text": "billing\n    refund\n  invoice"})
    assert response.status_code == 400
    assert "line 3: the indentation matches no earlier level" in response.content.decode()
    assert LabelSchema.objects.count() == 0


def test_schema_and_project_forms_are_refused_to_workers(client_for, users, workspace, annotation_version_factory, topic_schema):
    client = client_for(users["expert_annotator"])
    assert client.post(reverse("annotation:schema-create"), {"workspace": workspace.pk, "name": "X", "tree_text": "a"}).status_code == 404
    version = annotation_version_factory()
    form = {"name": "X", "dataset_version": version.pk, "schema": topic_schema.pk, "overlap": 1}
    response = client.post(reverse("annotation:project-create"), form)
    assert response.status_code == 404
    assert (LabelSchema.objects.count(), AnnotationProject.objects.count()) == (1, 0)


def test_project_form_creates_the_project(client_for, users, annotation_version_factory, topic_schema):
    version = annotation_version_factory(n=4)
    response = client_for(users["admin"]).post(reverse("annotation:project-create"), {
        "name": "Topics", "dataset_version": version.pk, "schema": topic_schema.pk, "overlap": 2, "instructions": "Be careful."})
    project = AnnotationProject.objects.get()
    assert response.url == reverse("annotation:project-detail", args=[project.pk])
    assert (project.overlap, project.instructions, project.tasks.count()) == (2, "Be careful.", 4)
    assert project.workspace_id == version.dataset.workspace_id


def test_project_detail_for_a_manager_and_a_worker(client_for, users, annotation_project, django_assert_num_queries):
    url = reverse("annotation:project-detail", args=[annotation_project.pk])
    client = client_for(users["ml_engineer"])
    with django_assert_num_queries(10):
        page = client.get(url).content.decode()
    assert 'id="export-project"' in page and 'id="start-labelling"' not in page
    assert "0 of 3 items have all their annotations." in page
    client = client_for(users["staff_annotator"])
    with django_assert_num_queries(9):
        page = client.get(url).content.decode()
    assert 'id="start-labelling"' in page and 'id="export-project"' not in page


def test_project_detail_is_404_for_other_roles_and_workspaces(client_for, users, annotation_project):
    url = reverse("annotation:project-detail", args=[annotation_project.pk])
    for role in ("product_manager", "outsider"):
        assert client_for(users[role]).get(url).status_code == 404


def test_workbench_flow_claim_label_correct_submit_next(client_for, users, annotation_project, topic_schema, django_assert_num_queries):
    client = client_for(users["crowd_annotator"])
    url = reverse("annotation:workbench", args=[annotation_project.pk])
    assert client.post(url).url == url
    first = Assignment.objects.get()
    with django_assert_num_queries(8):
        page = client.get(url).content.decode()
    assert f'data-assignment-id="{first.pk}"' in page
    assert 'data-label-path="billing/refund"' in page and 'data-label-path="account/login"' in page
    assert 'id="submit-annotation"' in page and 'name="corrected_response"' in page
    assert "Question 0: how do I get my money back?" in page and "Answer 0: open Billing." in page
    # Parents are headings, not choices, in a leaf-only schema.
    assert re.search(r'<div class="label-group depth-0" data-label-path="billing">', page)

    response = client.post(reverse("annotation:assignment-submit", args=[first.pk]), {
        "label_ids": [label_id(topic_schema, "billing/refund")], "corrected_response": "Open Billing, then Refunds.", "comment": "",
        "time_spent_ms": "5300"})
    assert response.status_code == 302 and response.url == url
    annotation = Annotation.objects.get()
    assert (annotation.time_spent_ms, annotation.annotator_kind) == (5300, "crowd")
    assert annotation.corrected_response == "Open Billing, then Refunds."
    second = Assignment.objects.get(status="active")
    assert second.task_id != first.task_id
    assert f'data-assignment-id="{second.pk}"' in client.get(url).content.decode()


def test_submit_without_a_label_shows_the_error_and_keeps_the_item(client_for, users, annotation_project):
    client = client_for(users["crowd_annotator"])
    assignment = assignment_claim_next(project=annotation_project, annotator=users["crowd_annotator"])
    url = reverse("annotation:assignment-submit", args=[assignment.pk])
    response = client.post(url, {"corrected_response": "Edited", "time_spent_ms": "10"})
    page = response.content.decode()
    assert response.status_code == 400
    assert "label_ids: pick at least one label" in page
    assert f'data-assignment-id="{assignment.pk}"' in page and ">Edited</textarea>" in page
    assert Annotation.objects.count() == 0


def test_htmx_submit_answers_200_so_the_error_is_swapped_in(client_for, users, annotation_project):
    client = client_for(users["crowd_annotator"])
    assignment = assignment_claim_next(project=annotation_project, annotator=users["crowd_annotator"])
    response = client.post(reverse("annotation:assignment-submit", args=[assignment.pk]), {"time_spent_ms": "1"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert 'id="workbench"' in response.content.decode()


def test_skip_from_the_workbench_moves_on(client_for, users, annotation_project):
    client = client_for(users["crowd_annotator"])
    assignment = assignment_claim_next(project=annotation_project, annotator=users["crowd_annotator"])
    response = client.post(reverse("annotation:assignment-skip", args=[assignment.pk]), {"reason": "not English"})
    assert response.status_code == 302
    assignment.refresh_from_db()
    assert (assignment.status, assignment.skip_reason) == ("skipped", "not English")
    assert Assignment.objects.filter(status="active", annotator=users["crowd_annotator"]).count() == 1


def test_empty_queue_says_so(client_for, users, annotation_project_factory, topic_schema):
    project = annotation_project_factory(n=1)
    assignment = assignment_claim_next(project=project, annotator=users["staff_annotator"])
    submit_as(users["staff_annotator"], assignment, "billing/refund")
    client = client_for(users["staff_annotator"])
    url = reverse("annotation:workbench", args=[project.pk])
    page = client.get(client.post(url).url).content.decode()
    assert 'id="queue-empty"' in page and "1 submitted by you" in page


def test_someone_elses_assignment_cannot_be_submitted_from_the_page(client_for, users, annotation_project, topic_schema):
    assignment = assignment_claim_next(project=annotation_project, annotator=users["crowd_annotator"])
    response = client_for(users["staff_annotator"]).post(reverse("annotation:assignment-submit", args=[assignment.pk]),
                                                         {"label_ids": [label_id(topic_schema, "billing/refund")], "time_spent_ms": "1"})
    assert response.status_code == 400
    assert "assignment: this item is assigned to another annotator" in response.content.decode()
    assert Annotation.objects.count() == 0


def test_workbench_is_404_for_managers_without_work_capability(client_for, users, annotation_project):
    url = reverse("annotation:workbench", args=[annotation_project.pk])
    client = client_for(users["ml_engineer"])
    assert (client.get(url).status_code, client.post(url).status_code) == (404, 404)
    assert Assignment.objects.count() == 0


def test_export_button_makes_a_version(client_for, users, annotation_project, topic_schema):
    assignment = assignment_claim_next(project=annotation_project, annotator=users["crowd_annotator"])
    submit_as(users["crowd_annotator"], assignment, "billing/refund")
    client = client_for(users["ml_engineer"])
    response = client.post(reverse("annotation:project-export", args=[annotation_project.pk]), follow=True)
    version = DatasetVersion.objects.get(operation="annotation_export")
    page = response.content.decode()
    assert f"Exported as {version}." in page
    assert 'id="export-table"' in page
    assert client_for(users["crowd_annotator"]).post(reverse("annotation:project-export", args=[annotation_project.pk])).status_code == 404


def test_workbench_without_a_lease_offers_the_next_item_and_claims_nothing(client_for, users, annotation_project):
    page = client_for(users["crowd_annotator"]).get(reverse("annotation:workbench", args=[annotation_project.pk])).content.decode()
    assert 'id="no-item"' in page and 'id="queue-empty"' not in page
    assert Assignment.objects.count() == 0

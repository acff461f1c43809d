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


def test_project_list_costs_the_same_for_1_and_10_projects(
    client_for, users, workspace, annotation_version_factory, topic_schema, django_assert_num_queries
):
    client = client_for(users["ml_engineer"])
    version = annotation_version_factory(n=2)
    annotation_project_create(workspace=workspace, name="P0", dataset_version=version, schema=topic_schema)
    # 13: three choice fields (version, schema, workspace) start on their first choice, which the form reads once more.
    with django_assert_num_queries(13):
        one = client.get(reverse("annotation:project-list"))
    for i in range(1, 10):
        annotation_project_create(workspace=workspace, name=f"P{i}", dataset_version=version, schema=topic_schema)
    with django_assert_num_queries(13):
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
    response = client.post(
        reverse("annotation:schema-create"),
        {
            "workspace": workspace.pk,
            "name": "Topic",
            "tree_text": "billing\n  refund\n  invoice\naccount\n  login",
            "leaf_only": "on",
        },
    )
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


def test_schema_and_project_forms_are_refused_to_workers(
    client_for, users, workspace, annotation_version_factory, topic_schema
):
    client = client_for(users["expert_annotator"])
    assert (
        client.post(
            reverse("annotation:schema-create"), {"workspace": workspace.pk, "name": "X", "tree_text": "a"}
        ).status_code
        == 404
    )
    version = annotation_version_factory()
    form = {"name": "X", "dataset_version": version.pk, "schema": topic_schema.pk, "overlap": 1}
    response = client.post(reverse("annotation:project-create"), form)
    assert response.status_code == 404
    assert (LabelSchema.objects.count(), AnnotationProject.objects.count()) == (1, 0)


def test_project_form_creates_the_project(client_for, users, annotation_version_factory, topic_schema):
    version = annotation_version_factory(n=4)
    response = client_for(users["admin"]).post(
        reverse("annotation:project-create"),
        {
            "name": "Topics",
            "dataset_version": version.pk,
            "schema": topic_schema.pk,
            "overlap": 2,
            "instructions": "Be careful.",
        },
    )
    project = AnnotationProject.objects.get()
    assert response.url == reverse("annotation:project-detail", args=[project.pk])
    assert (project.overlap, project.instructions, project.tasks.count()) == (2, "Be careful.", 4)
    assert project.workspace_id == version.dataset.workspace_id


def test_project_detail_for_a_manager_and_a_worker(client_for, users, annotation_project, django_assert_num_queries):
    url = reverse("annotation:project-detail", args=[annotation_project.pk])
    client = client_for(users["ml_engineer"])
    # A manager's page also lists newer schema versions and the project's schema moves (two queries); the schema's
    # labels come from the copy the process keeps (services.annotations.schema_labels).
    with django_assert_num_queries(11):
        page = client.get(url).content.decode()
    assert 'id="export-project"' in page and 'id="start-labelling"' not in page
    assert "0 of 3 items have all their annotations." in page
    client = client_for(users["staff_annotator"])
    with django_assert_num_queries(7):
        page = client.get(url).content.decode()
    assert 'id="start-labelling"' in page and 'id="export-project"' not in page


def test_project_detail_is_404_for_other_roles_and_workspaces(client_for, users, annotation_project):
    url = reverse("annotation:project-detail", args=[annotation_project.pk])
    for role in ("product_manager", "outsider"):
        assert client_for(users[role]).get(url).status_code == 404


def test_workbench_flow_claim_label_correct_submit_next(
    client_for, users, annotation_project, topic_schema, django_assert_num_queries
):
    client = client_for(users["crowd_annotator"])
    url = reverse("annotation:workbench", args=[annotation_project.pk])
    assert client.post(url).url == url
    first = Assignment.objects.get()
    # Session, user, project, item, progress (two), role; the published schema's labels are the process's copy.
    with django_assert_num_queries(7):
        page = client.get(url).content.decode()
    assert f'data-assignment-id="{first.pk}"' in page
    assert 'data-label-path="billing/refund"' in page and 'data-label-path="account/login"' in page
    assert 'id="submit-annotation"' in page and 'name="corrected_response"' in page
    assert "Question 0: how do I get my money back?" in page and "Answer 0: open Billing." in page
    # Parents are headings, not choices, in a leaf-only schema.
    assert re.search(r'<div class="label-group depth-0" data-label-path="billing">', page)

    response = client.post(
        reverse("annotation:assignment-submit", args=[first.pk]),
        {
            "label_ids": [label_id(topic_schema, "billing/refund")],
            "corrected_response": "Open Billing, then Refunds.",
            "comment": "",
            "time_spent_ms": "5300",
        },
    )
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
    response = client.post(
        reverse("annotation:assignment-submit", args=[assignment.pk]), {"time_spent_ms": "1"}, HTTP_HX_REQUEST="true"
    )
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


def test_someone_elses_assignment_cannot_be_submitted_from_the_page(
    client_for, users, annotation_project, topic_schema
):
    assignment = assignment_claim_next(project=annotation_project, annotator=users["crowd_annotator"])
    response = client_for(users["staff_annotator"]).post(
        reverse("annotation:assignment-submit", args=[assignment.pk]),
        {"label_ids": [label_id(topic_schema, "billing/refund")], "time_spent_ms": "1"},
    )
    assert response.status_code == 404
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
    assert (
        client_for(users["crowd_annotator"])
        .post(reverse("annotation:project-export", args=[annotation_project.pk]))
        .status_code
        == 404
    )


def test_workbench_without_a_lease_offers_the_next_item_and_claims_nothing(client_for, users, annotation_project):
    page = (
        client_for(users["crowd_annotator"])
        .get(reverse("annotation:workbench", args=[annotation_project.pk]))
        .content.decode()
    )
    assert 'id="no-item"' in page and 'id="queue-empty"' not in page
    assert Assignment.objects.count() == 0


def test_workbench_prefetches_in_the_background_and_the_next_item_is_already_held(
    client_for, users, annotation_project_factory, topic_schema
):
    project = annotation_project_factory(n=4)
    client = client_for(users["crowd_annotator"])
    url = reverse("annotation:workbench", args=[project.pk])
    client.post(url)
    page = client.get(url).content.decode()
    prefetch_url = reverse("annotation:project-prefetch", args=[project.pk])
    assert f'hx-post="{prefetch_url}"' in page
    response = client.post(prefetch_url, HTTP_HX_REQUEST="true")
    assert (response.status_code, response.content.decode()) == (200, "2 more items reserved for you")
    held = list(Assignment.objects.filter(status="active").order_by("claimed_at", "pk"))
    assert len(held) == 3
    client.post(reverse("annotation:assignment-submit", args=[held[0].pk]),
                {"label_ids": [label_id(topic_schema, "billing/refund")], "time_spent_ms": "10"})
    # The claim after the submit hands over the item leased ahead; nothing new is leased until the next prefetch.
    assert f'data-assignment-id="{held[1].pk}"' in client.get(url).content.decode()
    assert Assignment.objects.count() == 3


def test_prefetch_page_endpoint_is_404_for_non_workers(client_for, users, annotation_project):
    response = client_for(users["product_manager"]).post(
        reverse("annotation:project-prefetch", args=[annotation_project.pk])
    )
    assert response.status_code == 404
    assert Assignment.objects.count() == 0


def test_heartbeat_page_endpoint_renews_or_says_why_not(client_for, users, annotation_project):
    from datetime import timedelta

    from django.utils import timezone

    assignment = assignment_claim_next(project=annotation_project, annotator=users["crowd_annotator"])
    Assignment.objects.filter(pk=assignment.pk).update(expires_at=timezone.now() + timedelta(seconds=5))
    client = client_for(users["crowd_annotator"])
    url = reverse("annotation:assignment-heartbeat", args=[assignment.pk])
    body = client.post(url).json()
    assignment.refresh_from_db()
    assert body["expires_at"] == assignment.expires_at.isoformat()
    assert body["renewed"] == 1 and re.fullmatch(r"\d\d:\d\d", body["until"])
    Assignment.objects.filter(pk=assignment.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    refused = client.post(url)
    assert refused.status_code == 409 and refused.json()["code"] == "expired"
    page = client.get(reverse("annotation:workbench", args=[annotation_project.pk])).content.decode()
    assert "data-heartbeat-url" not in page


def test_layers_form_sets_the_layers_and_shows_the_checks(client_for, users, annotation_project):
    client = client_for(users["ml_engineer"])
    response = client.post(
        reverse("annotation:project-layers", args=[annotation_project.pk]),
        {
            "review_rate": "100",
            "spot_check_rate": "0",
            "gold_rate": "0",
            "disagreement_threshold": "50",
            "label_pools": ["crowd"],
        },
    )
    assert response.status_code == 302
    annotation_project.refresh_from_db()
    assert (annotation_project.review_rate, annotation_project.blind, annotation_project.label_pools) == (
        1.0,
        False,
        ["crowd"],
    )
    bad = client.post(reverse("annotation:project-layers", args=[annotation_project.pk]), {
        "review_rate": "150", "spot_check_rate": "0", "gold_rate": "0", "disagreement_threshold": "50"})
    assert bad.status_code == 400
    assert (
        client_for(users["crowd_annotator"])
        .post(
            reverse("annotation:project-layers", args=[annotation_project.pk]),
            {"review_rate": "0", "spot_check_rate": "0", "gold_rate": "0", "disagreement_threshold": "50"},
        )
        .status_code
        == 404
    )
    annotation_project.refresh_from_db()
    assert annotation_project.review_rate == 1.0


def test_review_page_flow_reject_then_accept(client_for, users, annotation_project_factory):
    project = annotation_project_factory(n=2)
    AnnotationProject.objects.filter(pk=project.pk).update(review_rate=1.0, blind=False)
    project.refresh_from_db()
    for _ in range(2):
        submit_as(
            users["crowd_annotator"],
            assignment_claim_next(project=project, annotator=users["crowd_annotator"]),
            "billing/refund",
        )
    client = client_for(users["reviewer"])
    detail = client.get(reverse("annotation:project-detail", args=[project.pk])).content.decode()
    assert 'id="open-review"' in detail and 'id="open-spot_check"' not in detail
    url = reverse("annotation:review", args=[project.pk, "review"])
    assert 'id="no-review"' in client.get(url).content.decode()
    assert client.post(url).url == url
    from annotation.models import Review

    first = Review.objects.get(reviewer=users["reviewer"])
    page = client.get(url).content.decode()
    assert f'data-review-id="{first.pk}"' in page and "billing/refund" in page and "review rate 100%" in page
    decide = reverse("annotation:review-decide", args=[first.pk])
    refused = client.post(decide, {"verdict": "reject", "reason": ""})
    assert refused.status_code == 400 and "say why the answer is rejected" in refused.content.decode()
    assert client.post(decide, {"verdict": "reject", "reason": "Login, not refund."}).url == url
    second = Review.objects.get(reviewer=users["reviewer"], status="pending")
    client.post(reverse("annotation:review-decide", args=[second.pk]), {"verdict": "accept"})
    assert sorted(Review.objects.values_list("status", flat=True)) == ["accepted", "rejected"]
    assert client.get(reverse("annotation:review", args=[project.pk, "spot_check"])).status_code == 404
    assert client.get(reverse("annotation:review", args=[project.pk, "nonsense"])).status_code == 404


def test_non_blind_workbench_shows_the_answers_of_others(client_for, users, annotation_project_factory):
    project = annotation_project_factory(n=1, overlap=2)
    submit_as(
        users["staff_annotator"],
        assignment_claim_next(project=project, annotator=users["staff_annotator"]),
        "account/login",
    )
    client = client_for(users["crowd_annotator"])
    url = reverse("annotation:workbench", args=[project.pk])
    client.post(url)
    assert 'id="others-answers"' not in client.get(url).content.decode()
    AnnotationProject.objects.filter(pk=project.pk).update(blind=False)
    page = client.get(url).content.decode()
    assert 'id="others-answers"' in page and "<code>account/login</code>" in page


def test_dashboard_shows_agreement_gold_and_time(
    client_for, users, annotation_project_factory, django_assert_num_queries
):
    from annotation.models import AnnotationTask

    project = annotation_project_factory(n=2, overlap=2)
    AnnotationTask.objects.filter(project=project).update(is_gold=True, gold_labels=["billing/refund"])
    answers = {
        "crowd_annotator": ["billing/refund", "account/login"],
        "staff_annotator": ["billing/refund", "billing/invoice"],
    }
    for username, paths in answers.items():
        for path in paths:
            user = users[username]
            submit_as(user, assignment_claim_next(project=project, annotator=user), path, time_spent_ms=2000)
    client = client_for(users["ml_engineer"])
    url = reverse("annotation:project-dashboard", args=[project.pk])
    # 11: the project's schema moves are read once to compare old answers under current label paths.
    with django_assert_num_queries(11):
        page = client.get(url).content.decode()
    # Item 1: both "billing/refund"; item 2: "account/login" vs "billing/invoice". Nominal alpha by hand: 1 - 2 / (10 /
    # 3).
    assert '<dd id="alpha-nominal">0.400</dd>' in page
    assert '<dd id="gold-accuracy">0.50 (4)</dd>' in page
    assert '<dd id="items-done">2 / 2</dd>' in page
    assert 'id="chart-throughput"' in page and "vendor/plotly/plotly.min.js" in page and 'id="dashboard-data"' in page
    assert client_for(users["reviewer"]).get(url).status_code == 200
    assert client_for(users["crowd_annotator"]).get(url).status_code == 404


def test_workbench_asks_for_rating_and_free_text_and_keeps_them_on_error(
    client_for, users, workspace, annotation_project_factory
):
    from annotation.services import label_schema_create
    from annotation.tests.fixtures import TOPIC_TREE

    schema = label_schema_create(
        workspace=workspace,
        name="Rated",
        tree=TOPIC_TREE,
        rating_scale=3,
        rating_question="Helpful <b>?",
        free_text_question="What is missing?",
    )
    project = annotation_project_factory(n=2, schema=schema)
    client = client_for(users["crowd_annotator"])
    url = reverse("annotation:workbench", args=[project.pk])
    client.post(url)
    assignment = Assignment.objects.get()
    page = client.get(url).content.decode()
    assert 'data-scale="3"' in page and page.count('name="rating"') == 3 and 'id="free-text"' in page
    assert "Helpful &lt;b&gt;?" in page and "What is missing?" in page
    submit = reverse("annotation:assignment-submit", args=[assignment.pk])
    refused = client.post(submit, {"rating": "2", "free_text": "Dates.", "time_spent_ms": "1"})
    assert refused.status_code == 400
    assert 'value="2" checked' in refused.content.decode() and ">Dates.</textarea>" in refused.content.decode()
    client.post(
        submit,
        {"label_ids": [label_id(schema, "billing/refund")], "rating": "2", "free_text": "Dates.", "time_spent_ms": "1"},
    )
    assert list(Annotation.objects.values_list("rating", "free_text")) == [(2, "Dates.")]


def test_schema_form_takes_rating_and_free_text(client_for, users, workspace):
    response = client_for(users["ml_engineer"]).post(
        reverse("annotation:schema-create"),
        {
            "workspace": workspace.pk,
            "name": "Rated",
            "tree_text": "billing\n  refund\naccount",
            "leaf_only": "on",
            "rating_scale": "5",
            "rating_question": "Helpful?",
            "free_text_question": "What is missing?",
        },
    )
    assert response.status_code == 302
    schema = LabelSchema.objects.get()
    assert (schema.rating_scale, schema.rating_question, schema.free_text_question) == (
        5,
        "Helpful?",
        "What is missing?",
    )


def test_dashboard_shows_rating_agreement_on_a_rated_schema(client_for, users, workspace, annotation_project_factory):
    from annotation.services import label_schema_create
    from annotation.tests.fixtures import TOPIC_TREE

    schema = label_schema_create(workspace=workspace, name="Rated", tree=TOPIC_TREE, rating_scale=3)
    project = annotation_project_factory(n=1, overlap=2, schema=schema)
    for name, rating in (("crowd_annotator", 3), ("staff_annotator", 1)):
        submit_as(
            users[name], assignment_claim_next(project=project, annotator=users[name]), "billing/refund", rating=rating
        )
    page = (
        client_for(users["ml_engineer"])
        .get(reverse("annotation:project-dashboard", args=[project.pk]))
        .content.decode()
    )
    assert '<dd id="rating-units">1</dd>' in page
    # One item with two different ratings: alpha is 0 (no better than chance) on both levels.
    assert 'id="alpha-rating-ordinal">0.000</dd>' in page and 'id="alpha-rating-interval">0.000</dd>' in page

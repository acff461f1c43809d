"""The project mode: "AI first, human verifies" sends every AI answer to the reviewers' re-check queue and exports only
verified labels; "human only" refuses AI runs.

The AI answers are stored in the client's response cache under the exact keys of the run's requests (as in
test_ai_annotators), so the run goes through the real client, parser, claim and submit against the tiny endpoint.
"""

import pytest
from django.urls import reverse

from annotation.models import AIAnswer, AIRun, Annotation, AnnotationProject, Assignment, Review
from annotation.services import (
    ai_annotator_create,
    ai_run_create,
    ai_run_execute,
    annotation_project_export,
    annotation_project_layers_set,
    assignment_claim_next,
    review_claim_next,
    review_decide,
)
from annotation.tests.fixtures import ai_replies_seed, label_id, submit_as
from common.errors import ApplicationError
from datahub.models import VersionRecord

AI_FIRST = "AI first: every AI answer is re-checked"


@pytest.fixture
def client_for(client):
    def login(user):
        client.force_login(user)
        return client

    return login


def _mode(project, mode: str, **layers):
    values = {
        "review_rate": 0,
        "spot_check_rate": 0,
        "gold_rate": 0,
        "disagreement_threshold": 0.5,
        "blind": True,
        "label_pools": [],
        **layers,
    }
    return annotation_project_layers_set(project=project, mode=mode, **values)


def _exported_labels(version) -> list:
    return list(VersionRecord.objects.filter(version=version).order_by("record_id").values_list("labels", flat=True))


@pytest.mark.django_db(transaction=True)
def test_ai_first_every_ai_answer_is_re_checked_and_the_export_has_the_verified_labels(
    annotation_project_factory, tiny_endpoint, users, topic_schema
):
    project = _mode(annotation_project_factory(n=3), "ai_first")
    ai = ai_annotator_create(project=project, name="Tiny", endpoint=tiny_endpoint, created_by=users["ml_engineer"])
    ai_replies_seed(ai, project, {0: "billing/refund", 1: "account/login", 2: "billing/invoice"})

    run = ai_run_execute(run=ai_run_create(ai_annotator=ai, limit=3, enqueue=False))

    assert (run.status, run.processed, run.annotated, run.failed) == ("done", 3, 3, 0)
    # Labelled by the AI: complete, so people are not offered them.
    assert list(project.tasks.order_by("pk").values_list("submitted_count", "is_complete")) == [
        (1, True),
        (1, True),
        (1, True),
    ]
    assert assignment_claim_next(project=project, annotator=users["crowd_annotator"]) is None
    queue = Review.objects.filter(task__project=project).order_by("pk")
    assert list(queue.values_list("layer", "status", "sampled_because", "annotation__annotator_kind")) == [
        ("review", "pending", AI_FIRST, "ai")] * 3
    # Nothing verified yet: nothing to export.
    with pytest.raises(ApplicationError, match="no submitted annotations to export"):
        annotation_project_export(project=project)

    reviewer = users["reviewer"]
    verdicts = [("accept", {}), ("accept", {}), ("fix", {"label_ids": [label_id(topic_schema, "account/delete")]})]
    for verdict, extra in verdicts:
        review = review_claim_next(project=project, reviewer=reviewer, layer="review")
        review_decide(review=review, reviewer=reviewer, verdict=verdict, **extra)
    assert review_claim_next(project=project, reviewer=reviewer, layer="review") is None
    assert list(queue.values_list("status", flat=True)) == ["accepted", "accepted", "fixed"]

    version = annotation_project_export(project=project)
    assert _exported_labels(version) == [["billing/refund"], ["account/login"], ["account/delete"]]
    detail = version.operation_detail
    assert (detail["annotated"], detail["fixed_by_review"], detail["mode"], detail["ai_answers_awaiting_review"]) == (
        3,
        1,
        "ai_first",
        0,
    )


@pytest.mark.django_db(transaction=True)
def test_ai_first_a_rejected_item_goes_back_to_people_and_pending_ai_answers_are_not_exported(
    annotation_project_factory, tiny_endpoint, users
):
    # Overlap 2: an AI answer still completes its item; a rejected one frees the item for two people.
    project = _mode(annotation_project_factory(n=2, overlap=2), "ai_first")
    ai = ai_annotator_create(project=project, name="Tiny", endpoint=tiny_endpoint, created_by=users["ml_engineer"])
    ai_replies_seed(ai, project, {0: "billing/refund", 1: "account/login"})
    run = ai_run_execute(run=ai_run_create(ai_annotator=ai, limit=2, enqueue=False))
    assert (run.status, run.annotated) == ("done", 2)
    assert list(project.tasks.order_by("pk").values_list("submitted_count", "is_complete")) == [(1, True), (1, True)]

    reviewer = users["reviewer"]
    review = review_claim_next(project=project, reviewer=reviewer, layer="review")
    rejected = review_decide(
        review=review, reviewer=reviewer, verdict="reject", reason="It asks for money back? No: login."
    )
    first, second = project.tasks.order_by("pk")
    assert rejected.task_id == first.pk
    assert list(project.tasks.order_by("pk").values_list("submitted_count", "is_complete")) == [(0, False), (1, True)]
    ai_assignment = Assignment.objects.get(task=first, annotator=ai.user)
    assert (ai_assignment.status, ai_assignment.skip_reason) == (
        "skipped", "AI answer rejected by a reviewer: It asks for money back? No: login.")

    # People label it; the AI is not offered it again.
    for person in (users["crowd_annotator"], users["staff_annotator"]):
        assignment = assignment_claim_next(project=project, annotator=person)
        assert assignment.task_id == first.pk
        submit_as(person, assignment, "account/login")
    assert list(project.tasks.order_by("pk").values_list("submitted_count", "is_complete")) == [(2, True), (1, True)]
    again = ai_run_execute(run=ai_run_create(ai_annotator=ai, limit=2, enqueue=False))
    assert (again.status, again.processed) == ("done", 0)
    # People's answers are not re-checked (review rate 0); the second AI answer still waits.
    assert list(Review.objects.order_by("pk").values_list("task_id", "status")) == [
        (first.pk, "rejected"),
        (second.pk, "pending"),
    ]

    version = annotation_project_export(project=project)
    assert _exported_labels(version) == [["account/login"], []]
    assert (version.operation_detail["annotated"], version.operation_detail["ai_answers_awaiting_review"]) == (1, 1)


@pytest.mark.django_db
def test_human_only_refuses_an_ai_run_and_creates_nothing(
    annotation_project_factory, tiny_endpoint, users, api_for, client_for
):
    project = annotation_project_factory(n=2)
    assert project.mode == "human_only"
    ai = ai_annotator_create(project=project, name="Tiny", endpoint=tiny_endpoint, created_by=users["ml_engineer"])
    with pytest.raises(ApplicationError) as refused:
        ai_run_create(ai_annotator=ai, limit=2, enqueue=False)
    assert (refused.value.where, refused.value.code) == ("project", "human_only")
    assert refused.value.message == (
        'this project is labelled by people only; choose the mode "AI first, human verifies" or '
        '"AI labels beside people" in its layers to run AI annotators'
    )
    response = api_for(users["ml_engineer"]).post(
        f"/api/v1/annotation/ai-annotators/{ai.pk}/runs/", {"limit": 2}, format="json"
    )
    assert (response.status_code, response.json()["where"]) == (400, "project")
    client = client_for(users["ml_engineer"])
    page = client.post(reverse("annotation:ai-run-start", args=[ai.pk]), {"limit": "2"}, follow=True).content.decode()
    assert 'id="ai-human-only"' in page and "labelled by people only" in page
    assert (
        AIRun.objects.count(),
        AIAnswer.objects.count(),
        Assignment.objects.count(),
        Annotation.objects.count(),
    ) == (0, 0, 0, 0)


@pytest.mark.django_db(transaction=True)
def test_a_run_queued_before_the_mode_went_human_only_fails_without_labelling(
    annotation_project_factory, tiny_endpoint, users
):
    project = _mode(annotation_project_factory(n=2), "ai_first")
    ai = ai_annotator_create(project=project, name="Tiny", endpoint=tiny_endpoint, created_by=users["ml_engineer"])
    queued = ai_run_create(ai_annotator=ai, limit=2, enqueue=False)
    _mode(project, "human_only")
    run = ai_run_execute(run=queued)
    assert (run.status, run.error, run.processed) == ("failed", "the project is labelled by people only", 0)
    assert (Assignment.objects.count(), Annotation.objects.count()) == (0, 0)


@pytest.mark.django_db
def test_mode_is_checked_and_kept_when_left_out(annotation_project_factory):
    project = annotation_project_factory(n=1)
    with pytest.raises(ApplicationError) as bad:
        _mode(project, "robots_only")
    assert (bad.value.where, bad.value.message) == ("mode", "must be one of human_only, ai_assists, ai_first")
    with pytest.raises(ApplicationError) as no_ai:
        _mode(project, "ai_first", label_pools=["crowd"])
    assert (no_ai.value.where, no_ai.value.message) == (
        "label_pools", "AI first needs AI annotators in the labelling pools (or every pool)")
    project.refresh_from_db()
    assert project.mode == "human_only"
    _mode(project, "ai_first", label_pools=["ai", "crowd"])
    _mode(project, None, review_rate=0.5)
    project.refresh_from_db()
    assert (project.mode, project.review_rate) == ("ai_first", 0.5)


@pytest.mark.django_db
def test_mode_through_the_api_and_the_layers_form(annotation_project, api_for, client_for, users):
    layers = {
        "review_rate": 0.0,
        "spot_check_rate": 0.0,
        "gold_rate": 0.0,
        "disagreement_threshold": 0.5,
        "blind": True,
        "label_pools": [],
    }
    url = f"/api/v1/annotation/projects/{annotation_project.pk}/layers/"
    client = api_for(users["ml_engineer"])
    response = client.put(url, {**layers, "mode": "ai_first"}, format="json")
    assert response.status_code == 200 and response.json()["mode"] == "ai_first"
    assert client.get(f"/api/v1/annotation/projects/{annotation_project.pk}/").json()["mode"] == "ai_first"
    bad = client.put(url, {**layers, "mode": "robots_only"}, format="json")
    assert (bad.status_code, bad.json()["where"]) == (400, "mode")
    assert (
        api_for(users["crowd_annotator"]).put(url, {**layers, "mode": "human_only"}, format="json").status_code == 404
    )
    assert AnnotationProject.objects.get(pk=annotation_project.pk).mode == "ai_first"

    browser = client_for(users["ml_engineer"])
    response = browser.post(reverse("annotation:project-layers", args=[annotation_project.pk]), {
        "review_rate": "0", "spot_check_rate": "0", "gold_rate": "0", "disagreement_threshold": "50", "blind": "on",
        "mode": "ai_assists"})
    assert response.status_code == 302
    assert AnnotationProject.objects.get(pk=annotation_project.pk).mode == "ai_assists"
    page = browser.get(reverse("annotation:project-detail", args=[annotation_project.pk])).content.decode()
    assert '<dd id="project-mode">AI labels beside people</dd>' in page
    assert '<option value="ai_assists" selected>' in page

"""Exports with the label rules of annotation.aggregation, through the service, the API, the command and the page."""

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from accounts.models import Role
from annotation.models import AnnotationTask
from annotation.services import (
    annotation_project_export,
    annotation_project_layers_set,
    assignment_claim_next,
    assignment_skip,
)
from annotation.services.export import annotator_reliability
from annotation.tests.fixtures import submit_as
from common.errors import ApplicationError
from datahub.models import DatasetVersion, VersionRecord

X, Y = "billing/refund", "account/login"
LAYERS = {"review_rate": 0.0, "spot_check_rate": 0.0, "disagreement_threshold": 1.0, "blind": True, "label_pools": []}


@pytest.fixture
def flip_project(annotation_project_factory, make_user, workspace, users):
    """Six items, five annotators: A, B, C answer the truth (x x y y on the first four), D and E always the other
    label; the last two items only A, D and E answer (the other two skip them). Hand-worked in
    annotation/tests/test_aggregation.py."""
    project = annotation_project_factory(n=6, overlap=5)
    people = {name: make_user(f"flip_{name}", role=Role.CROWD_ANNOTATOR, workspace=workspace) for name in "ABCDE"}
    truth = [X, X, Y, Y, X, Y]
    for name, person in people.items():
        for i in range(6):
            assignment = assignment_claim_next(project=project, annotator=person)
            if name in "BC" and i >= 4:
                assignment_skip(assignment=assignment, reason="not sure")
                continue
            flipped = {X: Y, Y: X}[truth[i]]
            submit_as(person, assignment, flipped if name in "DE" else truth[i])
    return project


def _labels(version):
    return [labels for _, labels in sorted(version.entries.values_list("record_id", "labels"))]


def test_dawid_skene_export_follows_the_honest_annotator_where_the_majority_follows_the_flippers(flip_project, users):
    majority = annotation_project_export(project=flip_project)
    skene = annotation_project_export(project=flip_project, aggregation="dawid_skene", created_by=users["ml_engineer"])

    assert _labels(majority) == [[X], [X], [Y], [Y], [Y], [X]]
    assert _labels(skene) == [[X], [X], [Y], [Y], [X], [Y]]
    assert (skene.operation_detail["aggregation"], skene.operation_detail["annotated"]) == ("dawid_skene", 6)
    assert (
        skene.operation_detail["rule"]
        == "Dawid-Skene EM over each annotator's confusion between answers; correction by most annotators"
    )


def test_reliability_export_breaks_ties_by_gold_accuracy(annotation_project_factory, annotation_version_factory, users):
    version = annotation_version_factory(n=3)
    first_two = list(VersionRecord.objects.filter(version=version).order_by("pk").values_list("pk", flat=True))[:2]
    VersionRecord.objects.filter(pk__in=first_two).update(labels=[X])
    project = annotation_project_factory(version=version, overlap=2)
    annotation_project_layers_set(project=project, gold_rate=1.0, **LAYERS)
    assert list(AnnotationTask.objects.filter(project=project).order_by("pk").values_list("is_gold", flat=True)) == [
        True,
        True,
        False,
    ]
    crowd, staff = users["crowd_annotator"], users["staff_annotator"]
    # crowd is right on both gold items ((2 + 1) / (2 + 2) = 0.75), staff wrong on both (1 / 4 = 0.25); every item is a
    # tie.
    for person, answers in ((crowd, [X, X, Y]), (staff, [Y, Y, X])):
        for path in answers:
            submit_as(person, assignment_claim_next(project=project, annotator=person), path)
    assert annotator_reliability(project=project) == {crowd.pk: 0.75, staff.pk: 0.25}

    plain = annotation_project_export(project=project)
    weighted = annotation_project_export(project=project, aggregation="reliability")

    assert _labels(plain) == [[Y, X], [Y, X], [Y, X]]
    assert _labels(weighted) == [[X], [X], [Y]]


def test_unknown_aggregation_is_refused_and_nothing_is_made(flip_project):
    with pytest.raises(ApplicationError) as error:
        annotation_project_export(project=flip_project, aggregation="vote")
    assert (error.value.where, error.value.message) == (
        "aggregation",
        "must be one of majority, reliability, dawid_skene",
    )
    assert DatasetVersion.objects.filter(operation="annotation_export").count() == 0


def test_api_command_and_page_take_the_aggregation(flip_project, api_for, client, users, capsys):
    response = api_for(users["ml_engineer"]).post(f"/api/v1/annotation/projects/{flip_project.pk}/export/",
                                                  {"aggregation": "dawid_skene"}, format="json")
    assert response.status_code == 201
    assert response.json()["operation_detail"]["aggregation"] == "dawid_skene"
    bad = api_for(users["ml_engineer"]).post(
        f"/api/v1/annotation/projects/{flip_project.pk}/export/", {"aggregation": "vote"}, format="json"
    )
    assert (bad.status_code, bad.json()["where"]) == (400, "aggregation")

    call_command("annotation_export", "--project", str(flip_project.pk), "--aggregation", "reliability")
    assert "6 annotated, 0 corrected (reliability);" in capsys.readouterr().out
    with pytest.raises(CommandError) as error:
        call_command("annotation_export", "--project", str(flip_project.pk), "--aggregation", "vote")
    assert str(error.value) == "--aggregation: must be one of majority, reliability, dawid_skene"

    client.force_login(users["ml_engineer"])
    page = client.get(reverse("annotation:project-detail", args=[flip_project.pk])).content.decode()
    assert '<option value="dawid_skene">' in page
    response = client.post(
        reverse("annotation:project-export", args=[flip_project.pk]), {"aggregation": "dawid_skene"}, follow=True
    )
    latest = DatasetVersion.objects.filter(operation="annotation_export").latest("pk")
    assert latest.operation_detail["aggregation"] == "dawid_skene"
    assert "<td>dawid_skene</td>" in response.content.decode()
    assert list(DatasetVersion.objects.filter(operation="annotation_export").order_by("pk").values_list(
        "operation_detail__aggregation", flat=True)) == ["dawid_skene", "reliability", "dawid_skene"]

"""A study's votes as DPO pairs in a new dataset version."""

import pytest

from common.errors import ApplicationError
from datahub.models import Dataset, Record, VersionRecord
from evaluation.models import Comparison
from evaluation.services import study_votes_export
from evaluation.tests.fixtures import vote_as_stored


def test_majority_votes_become_preference_pairs_in_the_prompts_split(open_study, users, api_for):
    comparisons = list(
        Comparison.objects.filter(study=open_study)
        .select_related("left_answer", "right_answer", "prompt")
        .order_by("order")
    )
    a, b, c = users["crowd_annotator"], users["staff_annotator"], users["reviewer"]
    vote_as_stored(comparison=comparisons[0], rater=a, choice="left")  # one vote: left
    vote_as_stored(comparison=comparisons[1], rater=a, choice="right")  # 2 right vs 1 left: right
    vote_as_stored(comparison=comparisons[1], rater=b, choice="right")
    vote_as_stored(comparison=comparisons[1], rater=c, choice="left")
    vote_as_stored(comparison=comparisons[2], rater=a, choice="left")  # 1 left vs 1 right: no pair
    vote_as_stored(comparison=comparisons[2], rater=b, choice="right")
    vote_as_stored(comparison=comparisons[3], rater=a, choice="tie")  # only a tie: no pair

    response = api_for(users["ml_engineer"]).post(
        f"/api/v1/studies/{open_study.pk}/export/", {"dataset_name": "study prefs"}, format="json"
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["dataset_name"], body["number"], body["counts"]) == (
        "study prefs",
        1,
        {"train": 0, "validation": 0, "test": 2},
    )
    records = {tuple(m["content"] for m in r.messages): r for r in Record.objects.filter(dataset_id=body["dataset"])}
    first, second = comparisons[0], comparisons[1]
    assert (
        records[tuple(m["content"] for m in first.prompt.messages)].chosen["content"] == first.left_answer.text.strip()
    )
    pair = records[tuple(m["content"] for m in second.prompt.messages)]
    assert (pair.kind, pair.chosen["content"], pair.rejected["content"], pair.origin) == (
        "preference", second.right_answer.text.strip(), second.left_answer.text.strip(), "evaluation")
    assert set(VersionRecord.objects.filter(version_id=body["version"]).values_list("split", flat=True)) == {"test"}


def test_export_permissions_and_nothing_to_export(open_study, users, api_for):
    url = f"/api/v1/studies/{open_study.pk}/export/"
    for role in ("product_manager", "crowd_annotator", "outsider"):  # the PM reads results but may not write data
        assert api_for(users[role]).post(url, {"dataset_name": "x"}, format="json").status_code == 404
    with pytest.raises(ApplicationError) as error:
        study_votes_export(study=open_study, dataset_name="empty")
    assert error.value.message == "no comparison of this study has a preferred answer yet (only ties, or no votes)"
    assert Dataset.objects.filter(name__in=["x", "empty"]).count() == 0


def test_the_export_form_on_the_study_page(open_study, users):
    from django.test import Client
    from django.urls import reverse

    comparison = Comparison.objects.filter(study=open_study).order_by("order").first()
    vote_as_stored(comparison=comparison, rater=users["crowd_annotator"], choice="right")
    engineer, manager = Client(), Client()
    engineer.force_login(users["ml_engineer"])
    manager.force_login(users["product_manager"])
    page = reverse("evaluation:study-detail", args=[open_study.pk])
    assert 'id="export-form"' in engineer.get(page).content.decode()
    assert 'id="export-form"' not in manager.get(page).content.decode()
    response = engineer.post(
        reverse("evaluation:study-export", args=[open_study.pk]), {"dataset_name": "from the page"}, follow=True
    )
    assert "Exported 1 preference pair as from the page v1." in response.content.decode()
    assert (
        manager.post(reverse("evaluation:study-export", args=[open_study.pk]), {"dataset_name": "no"}).status_code
        == 404
    )

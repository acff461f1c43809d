"""Fields beside the labels: a rating (1..N) and a free-text answer per schema, through submit, export and agreement."""

import krippendorff
import numpy as np
import pytest

from annotation.models import Annotation
from annotation.dashboard import project_dashboard
from annotation.services import annotation_project_export, annotation_submit, assignment_claim_next, label_schema_create
from annotation.tests.fixtures import TOPIC_TREE, label_id
from common.errors import ApplicationError
from common.models import HistoryEvent


@pytest.fixture
def rated_schema(workspace, users):
    return label_schema_create(
        workspace=workspace,
        name="Rated",
        tree=TOPIC_TREE,
        rating_scale=5,
        rating_question="How helpful is it?",
        free_text_question="What is missing?",
        created_by=users["ml_engineer"],
    )


def _submit(project, user, path, **fields):
    assignment = assignment_claim_next(project=project, annotator=user)
    return annotation_submit(
        assignment=assignment, label_ids=[label_id(project.schema, path)], time_spent_ms=1, submitted_by=user, **fields
    )


def test_schema_create_checks_the_fields(workspace):
    for fields, message in [
        ({"rating_scale": 1}, "rating_scale: must be 0 (no rating) or a whole number from 2 to 10"),
        ({"rating_scale": 11}, "rating_scale: must be 0 (no rating) or a whole number from 2 to 10"),
        ({"rating_question": "Good?"}, "rating_question: a rating question needs a rating scale"),
        ({"free_text_question": "x" * 301}, "free_text_question: longer than 300 characters"),
    ]:
        with pytest.raises(ApplicationError) as refused:
            label_schema_create(workspace=workspace, name="Bad", tree=TOPIC_TREE, **fields)
        assert str(refused.value) == message
    schema = label_schema_create(
        workspace=workspace, name="Good", tree=TOPIC_TREE, rating_scale=3, rating_question="  Clear?  "
    )
    assert (schema.rating_scale, schema.rating_question, schema.free_text_question) == (3, "Clear?", "")


def test_submit_stores_rating_and_free_text_and_checks_them(
    annotation_project_factory, rated_schema, topic_schema, users
):
    project = annotation_project_factory(n=3, schema=rated_schema)
    person = users["crowd_annotator"]
    for fields, message in [({"rating": 6}, "rating: must be a whole number from 1 to 5"),
                            ({"rating": 0}, "rating: must be a whole number from 1 to 5"),
                            ({"rating": True}, "rating: must be a whole number from 1 to 5"),
                            ({"free_text": "x" * 5001}, "free_text: longer than 5000 characters")]:
        with pytest.raises(ApplicationError) as refused:
            _submit(project, person, "billing/refund", **fields)
        assert str(refused.value) == message
    assert Annotation.objects.count() == 0
    annotation = _submit(project, person, "billing/refund", rating=4, free_text="  The refund window.  ")
    annotation.refresh_from_db()
    assert (annotation.rating, annotation.free_text) == (4, "The refund window.")
    after = HistoryEvent.objects.get(verb="submitted", target_id=annotation.pk).after
    assert (after["rating"], after["free_text"]) == (4, True)
    # Both fields are optional.
    unrated = _submit(project, person, "account/login")
    unrated.refresh_from_db()
    assert (unrated.rating, unrated.free_text) == (None, "")
    # A schema without them refuses them.
    plain = annotation_project_factory(n=1, schema=topic_schema, name="Plain")
    for fields, message in [({"rating": 3}, "rating: the schema Topic v1 has no rating"),
                            ({"free_text": "hi"}, "free_text: the schema Topic v1 has no free-text question")]:
        with pytest.raises(ApplicationError) as refused:
            _submit(plain, person, "billing/refund", **fields)
        assert str(refused.value) == message


def test_export_adds_the_median_rating_as_a_label_and_keeps_free_text(annotation_project_factory, rated_schema, users):
    project = annotation_project_factory(n=3, overlap=3, schema=rated_schema)
    people = [users["crowd_annotator"], users["staff_annotator"], users["expert_annotator"]]
    for person, rating, text in zip(people, [5, 2, 4], ["Dates.", "", "The refund window."], strict=True):
        _submit(project, person, "billing/refund", rating=rating, free_text=text)
    # Second item: two ratings (lower middle of 2 and 3 is 2) and one unrated answer.
    for person, rating in zip(people, [3, None, 2], strict=True):
        _submit(project, person, "account/login", rating=rating)
    version = annotation_project_export(project=project, created_by=users["ml_engineer"])
    entries = list(version.entries.order_by("record_id").values_list("record_id", "labels"))
    source = list(project.dataset_version.entries.order_by("pk").values_list("record_id", flat=True))
    assert entries == [
        (source[0], ["billing/refund", "rating:4"]),
        (source[1], ["account/login", "rating:2"]),
        (source[2], []),
    ]
    assert version.operation_detail["free_text"] == {str(source[0]): ["Dates.", "The refund window."]}
    assert version.operation_detail["rated"] == 2
    assert HistoryEvent.objects.get(verb="exported").after["free_text"] == 1


def test_dashboard_rating_agreement_equals_the_reference_package(annotation_project_factory, rated_schema, users):
    project = annotation_project_factory(n=4, overlap=3, schema=rated_schema)
    people = [users["crowd_annotator"], users["staff_annotator"], users["expert_annotator"]]
    table = [[5, 4, 5], [2, 2, 1], [3, 4, None], [1, 1, 1]]
    for row in table:
        for person, rating in zip(people, row, strict=True):
            _submit(project, person, "billing/refund", rating=rating)
    dashboard = project_dashboard(project=project)
    data = np.array([[np.nan if r is None else r for r in row] for row in table], dtype=float).T
    assert dashboard.rating_units == 4
    assert dashboard.alpha_rating_ordinal == pytest.approx(
        krippendorff.alpha(reliability_data=data, level_of_measurement="ordinal"), abs=1e-9
    )
    assert dashboard.alpha_rating_interval == pytest.approx(
        krippendorff.alpha(reliability_data=data, level_of_measurement="interval"), abs=1e-9
    )
    assert dashboard.alpha_rating_interval == pytest.approx(0.8972602739726028, abs=1e-9)


def test_dashboard_rating_gap_to_people_by_hand(annotation_project_factory, rated_schema, users, workspace):
    """Each annotator's mean |own rating - mean of the other people's ratings|; an AI's ratings never count as
    people's."""
    from annotation.services import ai_annotator_create
    from annotation.tests.fixtures import project_mode_set
    from llm.services.endpoints import model_endpoint_create

    project = project_mode_set(annotation_project_factory(n=2, overlap=3, schema=rated_schema), "ai_assists")
    endpoint = model_endpoint_create(workspace=workspace, name="local", base_url="http://model.invalid/v1", model="m")
    ai = ai_annotator_create(project=project, name="Rater", endpoint=endpoint).user
    crowd, staff = users["crowd_annotator"], users["staff_annotator"]
    # Item 1: crowd 5, staff 3, AI 1. Item 2: crowd 2, staff 2, AI 4.
    for row in [(5, 3, 1), (2, 2, 4)]:
        for person, rating in zip((crowd, staff, ai), row, strict=True):
            _submit(project, person, "billing/refund", rating=rating)
    gaps = {row.username: row.rating_gap for row in project_dashboard(project=project).annotators}
    # crowd: |5-3|, |2-2| -> 1; staff: |3-5|, |2-2| -> 1; AI: |1-4|, |4-2| -> 2.5 (against the mean of the two people).
    assert gaps == {
        crowd.username: pytest.approx(1.0),
        staff.username: pytest.approx(1.0),
        ai.username: pytest.approx(2.5),
    }

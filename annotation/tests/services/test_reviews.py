import pytest

from annotation.models import Annotation, AnnotationTask, Review
from annotation.services import annotation_project_layers_set, assignment_claim_next, review_claim_next, review_decide
from annotation.services.queue_paths import task_disagreement
from annotation.services.reviews import annotator_quality
from annotation.tests.fixtures import label_id, submit_as
from common.errors import ApplicationError
from common.models import HistoryEvent

LAYERS = {
    "review_rate": 0.0,
    "spot_check_rate": 0.0,
    "gold_rate": 0.0,
    "disagreement_threshold": 0.5,
    "blind": True,
    "label_pools": [],
}


def _layers(project, **changes):
    return annotation_project_layers_set(project=project, **{**LAYERS, **changes})


def _label_all(project, annotator, path):
    while (assignment := assignment_claim_next(project=project, annotator=annotator)) is not None:
        submit_as(annotator, assignment, path)


def test_review_rate_one_sends_every_annotation_to_the_re_check_queue(annotation_project_factory, users):
    project = _layers(annotation_project_factory(n=3), review_rate=1.0)
    _label_all(project, users["crowd_annotator"], "billing/refund")
    reviews = list(Review.objects.order_by("pk"))
    assert [(r.layer, r.status, r.sampled_because) for r in reviews] == [("review", "pending", "review rate 100%")] * 3
    assert [r.annotation.annotator for r in reviews] == [users["crowd_annotator"]] * 3


def test_review_rate_samples_about_the_share_and_zero_samples_nothing(annotation_project_factory, users):
    project = _layers(annotation_project_factory(n=40), review_rate=0.25)
    _label_all(project, users["crowd_annotator"], "billing/refund")
    assert 4 <= Review.objects.filter(layer="review").count() <= 16
    quiet = annotation_project_factory(n=5, name="Quiet")
    _label_all(quiet, users["crowd_annotator"], "billing/refund")
    assert Review.objects.filter(task__project=quiet).count() == 0


def test_reviewer_claims_then_rejects_with_a_reason_and_cannot_decide_twice(annotation_project_factory, users):
    project = _layers(annotation_project_factory(n=2), review_rate=1.0)
    _label_all(project, users["crowd_annotator"], "billing/refund")
    reviewer = users["reviewer"]
    first = review_claim_next(project=project, reviewer=reviewer, layer="review")
    assert review_claim_next(project=project, reviewer=reviewer, layer="review") == first
    with pytest.raises(ApplicationError) as error:
        review_decide(review=first, reviewer=reviewer, verdict="reject")
    assert (error.value.where, error.value.message) == ("reason", "say why the answer is rejected")
    decided = review_decide(review=first, reviewer=reviewer, verdict="reject", reason="It is about login.")
    assert (decided.status, decided.reason, decided.decided_at is not None) == ("rejected", "It is about login.", True)
    with pytest.raises(ApplicationError) as error:
        review_decide(review=first, reviewer=reviewer, verdict="accept")
    assert error.value.code == "decided"
    second = review_claim_next(project=project, reviewer=reviewer, layer="review")
    assert second.pk != first.pk
    # Someone else cannot decide a check the reviewer holds.
    with pytest.raises(ApplicationError) as error:
        review_decide(review=second, reviewer=users["expert_annotator"], verdict="accept")
    assert error.value.code == "not_yours"
    assert review_decide(review=second, reviewer=reviewer, verdict="accept").status == "accepted"
    assert review_claim_next(project=project, reviewer=reviewer, layer="review") is None
    assert HistoryEvent.objects.filter(verb__in=["rejected", "accepted"]).count() == 2


def test_fix_takes_the_right_labels_and_reviewers_never_check_their_own_work(
    annotation_project_factory, users, topic_schema
):
    project = _layers(annotation_project_factory(n=1), review_rate=1.0)
    _label_all(project, users["expert_annotator"], "billing/refund")
    assert review_claim_next(project=project, reviewer=users["expert_annotator"], layer="review") is None
    review = review_claim_next(project=project, reviewer=users["reviewer"], layer="review")
    with pytest.raises(ApplicationError) as error:
        review_decide(review=review, reviewer=users["reviewer"], verdict="fix", label_ids=[])
    assert error.value.where == "label_ids"
    fixed = review_decide(
        review=review, reviewer=users["reviewer"], verdict="fix", label_ids=[label_id(topic_schema, "account/login")]
    )
    assert (fixed.status, [label.path for label in fixed.fixed_labels.all()]) == ("fixed", ["account/login"])


def test_gold_items_are_drawn_from_labelled_entries_and_scored_on_submit(
    annotation_project_factory, annotation_version_factory, users
):
    rows = [
        {
            "kind": "sft",
            "labels": ["billing/refund"],
            "messages": [{"role": "user", "content": f"Refund {i}?"}, {"role": "assistant", "content": "Yes."}],
        }
        for i in range(4)
    ]
    version = annotation_version_factory(rows=rows)
    from datahub.models import VersionRecord

    VersionRecord.objects.filter(version=version).update(labels=["billing/refund"])
    project = _layers(annotation_project_factory(version=version), gold_rate=1.0)
    assert AnnotationTask.objects.filter(project=project, is_gold=True, gold_labels=["billing/refund"]).count() == 4
    annotator = users["crowd_annotator"]
    for path in ["billing/refund", "account/login", "account/login", "account/login"]:
        submit_as(annotator, assignment_claim_next(project=project, annotator=annotator), path)
    assert list(Annotation.objects.order_by("pk").values_list("gold_correct", flat=True)) == [True, False, False, False]
    assert annotator_quality(project=project, annotator=annotator) == {
        "gold_n": 4,
        "gold_accuracy": 0.25,
        "agreement_n": 0,
        "agreement": None,
    }


def test_low_gold_accuracy_doubles_the_spot_check_rate(annotation_project_factory, annotation_version_factory, users):
    from datahub.models import VersionRecord

    version = annotation_version_factory(n=8)
    VersionRecord.objects.filter(version=version).update(labels=["billing/refund"])
    project = _layers(annotation_project_factory(version=version), gold_rate=1.0, spot_check_rate=0.5)
    annotator = users["crowd_annotator"]
    _label_all(project, annotator, "account/login")
    checks = list(Review.objects.filter(layer="spot_check").order_by("pk").values_list("sampled_because", flat=True))
    # From the fourth submit on the annotator has 3 wrong gold answers: every later one is checked (rate 100%).
    assert checks[-5:] == ["gold accuracy 0%"] * 5


def test_disagreement_above_the_threshold_goes_to_an_expert(annotation_project_factory, users):
    project = _layers(annotation_project_factory(n=2, overlap=2), disagreement_threshold=0.4)
    crowd, staff = users["crowd_annotator"], users["staff_annotator"]
    a = assignment_claim_next(project=project, annotator=crowd)
    b = assignment_claim_next(project=project, annotator=staff)
    submit_as(crowd, a, "billing/refund")
    submit_as(staff, b, "account/login")
    review = Review.objects.get()
    assert (review.layer, review.task_id, review.annotation, review.sampled_because) == (
        "disagreement",
        a.task_id,
        None,
        "disagreement 0.50",
    )
    assert task_disagreement(task=review.task) == 0.5
    c = assignment_claim_next(project=project, annotator=crowd)
    d = assignment_claim_next(project=project, annotator=staff)
    submit_as(crowd, c, "billing/refund")
    submit_as(staff, d, "billing/refund")
    assert Review.objects.count() == 1
    # The annotators of the item cannot settle it; an expert who did not label it can.
    assert review_claim_next(project=project, reviewer=crowd, layer="disagreement") is None
    assert review_claim_next(project=project, reviewer=users["expert_annotator"], layer="disagreement") == review


def test_layers_are_checked_and_pools_limit_who_labels(annotation_project_factory, users):
    project = annotation_project_factory(n=2)
    for field, value in [("review_rate", 1.5), ("gold_rate", -0.1), ("spot_check_rate", "x")]:
        with pytest.raises(ApplicationError) as error:
            _layers(project, **{field: value})
        assert (error.value.where, error.value.message) == (field, "must be a share between 0 and 1")
    with pytest.raises(ApplicationError) as error:
        _layers(project, label_pools=["robots"])
    assert error.value.where == "label_pools"
    _layers(project, label_pools=["expert"])
    with pytest.raises(ApplicationError) as error:
        assignment_claim_next(project=project, annotator=users["crowd_annotator"])
    assert (error.value.code, error.value.message) == (
        "not_in_pool",
        "this project is labelled by expert annotators only",
    )
    assert assignment_claim_next(project=project, annotator=users["expert_annotator"]) is not None


def test_export_drops_rejected_answers_and_applies_fixes(annotation_project_factory, users, topic_schema):
    from annotation.services import annotation_project_export
    from datahub.models import VersionRecord

    project = _layers(annotation_project_factory(n=3), review_rate=1.0)
    _label_all(project, users["crowd_annotator"], "billing/refund")
    reviewer = users["reviewer"]
    verdicts = [
        ("reject", {"reason": "wrong"}),
        ("fix", {"label_ids": [label_id(topic_schema, "account/delete")]}),
        ("accept", {}),
    ]
    for verdict, extra in verdicts:
        review = review_claim_next(project=project, reviewer=reviewer, layer="review")
        review_decide(review=review, reviewer=reviewer, verdict=verdict, **extra)
    version = annotation_project_export(project=project)
    labels = list(VersionRecord.objects.filter(version=version).order_by("record_id").values_list("labels", flat=True))
    assert labels == [[], ["account/delete"], ["billing/refund"]]
    assert (version.operation_detail["annotated"], version.operation_detail["fixed_by_review"]) == (2, 1)

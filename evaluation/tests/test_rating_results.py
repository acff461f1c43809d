"""study_rating_summary: what a rating study's results say, from ratings recorded through the services."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from evaluation.models import RatingItem
from evaluation.rating_results import study_rating_summary
from evaluation.services import rating_item_gold_set, study_rater_exclude
from evaluation.statistics.ratings import mean_interval, rating_alpha
from evaluation.tests.fixtures import rate_item

# Per rater: (candidate's scores, baseline's scores) on every prompt.
SCORES = {
    "crowd_annotator": ({"helpfulness": 5, "accuracy": 4}, {"helpfulness": 2, "accuracy": 4}),
    "staff_annotator": ({"helpfulness": 4, "accuracy": 3}, {"helpfulness": 2, "accuracy": 3}),
    "expert_annotator": ({"helpfulness": 3, "accuracy": 3}, {"helpfulness": 3, "accuracy": 3}),
}


def _rate_all(study, users, raters=("crowd_annotator", "staff_annotator")):
    for item in RatingItem.objects.filter(study=study, repeat_of=None).select_related("answer__arm"):
        for name in raters:
            candidate, baseline = SCORES[name]
            rate_item(item=item, rater=users[name], scores=baseline if item.answer.arm.is_baseline else candidate)


def test_the_summary_has_means_intervals_tests_and_agreement(make_study, answer_studies, users):
    study = make_study(kind="rating", rubric=["helpfulness", "accuracy"], significance_level=0.2)
    answer_studies()
    study.refresh_from_db()
    _rate_all(study, users)
    summary = study_rating_summary(study=study)
    assert (summary.criteria, summary.significance_level, summary.confidence) == (["helpfulness", "accuracy"], 0.2, 0.8)
    assert (summary.counted_ratings, summary.raters) == (16, 2)
    baseline, candidate = summary.arms
    assert (baseline.name, baseline.is_baseline, candidate.name) == ("baseline-arm", True, "candidate-arm")
    assert candidate.criteria["helpfulness"] == mean_interval([4.5] * 4, confidence=0.8)
    assert candidate.criteria["helpfulness"].as_dict() == {"n": 4, "mean": 4.5, "low": 4.5, "high": 4.5}
    assert baseline.criteria["accuracy"].mean == 3.5
    helpfulness = summary.comparison(candidate.arm_id, "helpfulness")
    # Four prompts, all better: the exact Wilcoxon p is 2 / 2^4; a constant difference makes the t-test's p zero.
    assert helpfulness.tests.as_dict() == {"n": 4, "mean_difference": 2.5, "wilcoxon_p": 0.125, "t_test_p": 0.0}
    assert (helpfulness.wilcoxon_p_adjusted, helpfulness.significant, helpfulness.direction) == (0.125, True, "better")
    accuracy = summary.comparison(candidate.arm_id, "accuracy")
    assert (accuracy.tests.wilcoxon_p, accuracy.significant, accuracy.direction) == (1.0, False, "same")
    # On accuracy the two raters are always one point apart (worse than chance: alpha below zero); on helpfulness
    # they agree on the baseline and differ by one on the candidate.
    assert summary.agreement["accuracy"] == rating_alpha([[4, 3]] * 8) == pytest.approx(-0.875)
    assert summary.agreement["helpfulness"] == rating_alpha([[5, 4]] * 4 + [[2, 2]] * 4) == pytest.approx(19 / 24)
    assert [(q.username, q.ratings, q.gold_ratings, q.flagged) for q in summary.rater_quality] == [
        ("crowd_annotator", 8, 0, False), ("staff_annotator", 8, 0, False)]


def test_at_the_default_level_four_prompts_cannot_be_significant_by_wilcoxon(open_rating_study, users):
    _rate_all(open_rating_study, users)
    summary = study_rating_summary(study=open_rating_study)
    candidate = summary.arms[1]
    assert summary.comparison(candidate.arm_id, "helpfulness").significant is False


def test_gold_ratings_score_raters_and_exclusions_leave_the_results(open_rating_study, users):
    study = open_rating_study
    gold = RatingItem.objects.filter(study=study, answer__arm__is_baseline=True).order_by("pk").first()
    rating_item_gold_set(item=gold, scores={"helpfulness": 5, "accuracy": 4}, actor=users["product_manager"])
    _rate_all(study, users)
    study_rater_exclude(study=study, rater=users["staff_annotator"], actor=users["product_manager"])
    summary = study_rating_summary(study=study)
    assert (summary.counted_ratings, summary.raters) == (7, 1)  # the crowd annotator's, less the gold item
    quality = {q.username: q for q in summary.rater_quality}
    # Gold says helpfulness 5; both gave the baseline 2: three points off, so no gold rating agrees.
    assert (quality["crowd_annotator"].gold_ratings, quality["crowd_annotator"].gold_agreement) == (1, 0.0)
    assert quality["crowd_annotator"].flagged and quality["staff_annotator"].excluded
    assert summary.arms[0].criteria["helpfulness"].n == 3


def test_results_by_the_labels_the_prompts_carry(make_study, answer_studies, users, workspace):
    from datahub.models import DatasetVersion, Record
    from datahub.services.datasets import dataset_create
    from datahub.services.records import records_bulk_create
    from datahub.services.versions import dataset_version_create
    from evaluation.tests.fixtures import EVAL_ROWS

    dataset = dataset_create(workspace=workspace, name="labelled prompts")
    records_bulk_create(dataset=dataset, rows=EVAL_ROWS[:4])
    ids = list(Record.objects.filter(dataset=dataset).order_by("pk").values_list("pk", flat=True))
    labels = [["shipping"], ["shipping", "billing"], ["returns"], []]
    version = dataset_version_create(dataset=dataset, entries=[(pk, "test", lab) for pk, lab in zip(ids, labels)],
                                     operation=DatasetVersion.Operation.FREEZE)
    study = make_study(kind="rating", rubric=["helpfulness", "accuracy"], significance_level=0.2)
    study.dataset_version = version  # the same prompts, from the labelled version
    study.save(update_fields=["dataset_version"])
    record_of = dict(zip(Record.objects.filter(pk__in=study.prompts.values("record_id")).order_by("pk")
                         .values_list("pk", flat=True), ids))
    for prompt in study.prompts.all():
        prompt.record_id = record_of[prompt.record_id]
        prompt.save(update_fields=["record_id"])
    answer_studies()
    _rate_all(study, users)
    summary = study_rating_summary(study=study)
    by_label = {row.label: row for row in summary.labels}
    assert [(row.label, row.prompts) for row in summary.labels] == [("billing", 1), ("returns", 1), ("shipping", 2)]
    candidate = summary.arms[1].arm_id
    shipping = by_label["shipping"]
    assert shipping.arms[1].criteria["helpfulness"].mean == 4.5
    # Two prompts: the exact Wilcoxon p is 2 / 2^2 = 0.5, so the data did not (yet) show it helped.
    assert shipping.comparisons[0].tests.wilcoxon_p == 0.5
    assert shipping.helped == {candidate: "no_difference"}


def test_the_summary_costs_the_same_queries_for_one_rating_and_sixteen(open_rating_study, users):
    item = RatingItem.objects.filter(study=open_rating_study).first()
    rate_item(item=item, rater=users["crowd_annotator"], scores={"helpfulness": 3, "accuracy": 3})
    with CaptureQueriesContext(connection) as one:
        study_rating_summary(study=open_rating_study)
    _rate_all(open_rating_study, users, raters=("staff_annotator", "expert_annotator"))
    with CaptureQueriesContext(connection) as many:
        study_rating_summary(study=open_rating_study)
    # arms, counted ratings, every rating, exclusions, raters' names, the prompts' records, their labels
    assert len(one) == len(many) == 7

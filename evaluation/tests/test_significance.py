"""Significance between arms: automatic metrics with a paired bootstrap and Holm, and the support rate by the labels
the prompts carry. Answers are recorded through study_answers_record (no model), votes through the services."""

import pytest
from sklearn.metrics import f1_score

from datahub.models import DatasetVersion, Record
from datahub.services.datasets import dataset_create
from datahub.services.records import records_bulk_create
from datahub.services.versions import dataset_version_create
from evaluation.models import Study
from evaluation.selectors import study_arms, study_vote_rows
from evaluation.services import study_answers_record, study_comparisons_build, study_create
from evaluation.significance import study_metric_comparisons, study_support_by_prompt_label
from evaluation.tests.fixtures import vote_as_stored

QUESTIONS = ["Where is my parcel?", "Can I get my money back?", "Why was I charged twice?", "Is delivery late?",
             "Refund please", "Wrong invoice"]
LABELS = ["shipping", "refund", "billing", "shipping", "refund", "billing"]


def _version(workspace, answers: list[str], labels: list[list[str]]) -> DatasetVersion:
    dataset = dataset_create(workspace=workspace, name="labelled")
    records_bulk_create(dataset=dataset, rows=[
        {"kind": "sft", "messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}]}
        for q, a in zip(QUESTIONS, answers)])
    ids = list(Record.objects.filter(dataset=dataset).order_by("pk").values_list("pk", flat=True))
    return dataset_version_create(dataset=dataset, entries=[(pk, "test", lab) for pk, lab in zip(ids, labels)],
                                  operation=DatasetVersion.Operation.FREEZE)


def _study(workspace, version, tiny_base_model, candidate_base_model, *, candidate: dict, baseline: dict,
           **options) -> Study:
    """A study over `version` whose arms answer each prompt (by question) with the given texts."""
    arms = [{"name": "baseline-arm", "base_model": tiny_base_model, "is_baseline": True},
            {"name": "candidate-arm", "base_model": candidate_base_model}]
    study = study_create(workspace=workspace, name="Significance", dataset_version=version, arms=arms, **options)
    prompts = list(study.prompts.order_by("order"))
    for arm, texts in ((study.arms.get(is_baseline=True), baseline), (study.arms.get(is_baseline=False), candidate)):
        study_answers_record(study=study, arm=arm, progress=0.5,
                             answers=[(p, texts[p.messages[-1]["content"]]) for p in prompts])
    study_comparisons_build(study=study)
    study.refresh_from_db()
    return study


def test_free_text_metrics_are_compared_with_a_paired_bootstrap(workspace, tiny_base_model, candidate_base_model):
    references = [f"Your request number {i} has been handled today; you will hear from us soon." for i in range(6)]
    version = _version(workspace, references, [[label] for label in LABELS])
    study = _study(workspace, version, tiny_base_model, candidate_base_model,
                   candidate=dict(zip(QUESTIONS, references)), baseline={q: "I do not know." for q in QUESTIONS})
    result = study_metric_comparisons(study=study, rounds=2000)
    assert (result.label_like, result.significance_level, result.resamples) == (False, 0.05, 2000)
    exact = {row.metric: row for row in result.comparisons}
    assert list(exact) == ["exact_match", "bleu", "rouge_l"]
    em = exact["exact_match"].difference
    # Every prompt: the candidate matches, the baseline does not; every resample's difference is 1, none as far from
    # it as 1 is from 0: p = 1 / (1 + rounds).
    assert (em.n, em.candidate, em.baseline, em.difference, em.low, em.high) == (6, 1.0, 0.0, 1.0, 1.0, 1.0)
    assert em.p_value == 1 / 2001 and exact["exact_match"].significant and exact["exact_match"].direction == "better"
    assert exact["bleu"].difference.candidate == pytest.approx(100.0) and exact["bleu"].significant
    assert exact["rouge_l"].difference.difference == pytest.approx(1.0)
    by_label = {row.label: row for row in result.labels}
    assert [(row.label, row.prompts) for row in result.labels] == [("billing", 2), ("refund", 2), ("shipping", 2)]
    # Two prompts a label: p = 1 / 2001 still (no resample differs), so the data helped on each.
    assert by_label["refund"].helped == {study.arms.get(is_baseline=False).pk: "helped"}


def test_label_answers_are_compared_on_accuracy_and_macro_f1_equal_to_scikit_learn(workspace, tiny_base_model,
                                                                                  candidate_base_model):
    version = _version(workspace, LABELS, [[] for _ in LABELS])
    candidate = ["shipping", "refund", "billing", "shipping", "billing", "billing"]
    baseline = ["shipping", "shipping", "shipping", "shipping", "shipping", "refund"]
    study = _study(workspace, version, tiny_base_model, candidate_base_model, candidate=dict(zip(QUESTIONS, candidate)),
                   baseline=dict(zip(QUESTIONS, baseline)), significance_level=0.2)
    result = study_metric_comparisons(study=study, rounds=2000)
    assert result.label_like and [row.metric for row in result.comparisons] == ["accuracy", "macro_f1"]
    accuracy, macro_f1 = result.comparisons
    assert (accuracy.difference.candidate, accuracy.difference.baseline) == (5 / 6, 2 / 6)
    assert macro_f1.difference.candidate == pytest.approx(f1_score(LABELS, candidate, average="macro"))
    assert macro_f1.difference.baseline == pytest.approx(f1_score(LABELS, baseline, average="macro"))
    assert result.labels == []  # no prompt carries a label
    assert study_metric_comparisons(study=study, rounds=2000) == result  # seeded by the study: the same again


def test_holm_adjusts_over_several_candidates(workspace, tiny_base_model, candidate_base_model, tiny_model_dir):
    from training.services.base_models import base_model_register

    references = [f"Answer number {i} is here, with every detail you asked for." for i in range(6)]
    version = _version(workspace, references, [[] for _ in LABELS])
    third = base_model_register(workspace=workspace, name="tiny-third", path=str(tiny_model_dir))
    arms = [{"name": "baseline-arm", "base_model": tiny_base_model, "is_baseline": True},
            {"name": "candidate-arm", "base_model": candidate_base_model}, {"name": "third-arm", "base_model": third}]
    study = study_create(workspace=workspace, name="Three arms", dataset_version=version, arms=arms)
    prompts = list(study.prompts.order_by("order"))
    wrong = {p.pk: "No." for p in prompts}
    right = {p.pk: p_ref for p, p_ref in zip(prompts, references)}
    half = {p.pk: (references[i] if i % 2 else "No.") for i, p in enumerate(prompts)}
    for arm, texts in zip(study.arms.order_by("-is_baseline", "name"), (wrong, right, half)):
        study_answers_record(study=study, arm=arm, progress=0.5, answers=[(p, texts[p.pk]) for p in prompts])
    result = study_metric_comparisons(study=study, rounds=2000)
    exact = [row for row in result.comparisons if row.metric == "exact_match"]
    raw = [row.difference.p_value for row in exact]
    smaller, larger = sorted(raw)
    assert sorted(row.p_adjusted for row in exact) == pytest.approx(sorted([2 * smaller, max(2 * smaller, larger)]))


def test_support_rate_by_prompt_label_says_where_the_data_helped(workspace, tiny_base_model, candidate_base_model,
                                                                 users):
    references = [f"Reply {i}." for i in range(6)]
    labels = [["shipping"], ["shipping"], ["refund"], [], [], []]
    version = _version(workspace, references, labels)
    study = _study(workspace, version, tiny_base_model, candidate_base_model,
                   candidate={q: f"Good answer {i}" for i, q in enumerate(QUESTIONS)},
                   baseline={q: f"Poor answer {i}" for i, q in enumerate(QUESTIONS)}, votes_per_comparison=4)
    comparisons = study.comparisons.select_related("left_answer__arm", "prompt")
    for comparison in comparisons:
        candidate_side = "right" if comparison.left_answer.arm.is_baseline else "left"
        for rater in ("reviewer", "expert_annotator", "staff_annotator", "crowd_annotator"):
            vote_as_stored(comparison=comparison, rater=users[rater], choice=candidate_side)
    arms = study_arms(study=study)
    rows = study_support_by_prompt_label(study=study, arms=arms, rows=study_vote_rows(study=study))
    assert [(r.label, r.summary.votes, r.summary.support_rate, r.helped) for r in rows] == [
        ("refund", 4, 1.0, "no_difference"),  # four wins: the sign test's p is 2 / 16 = 0.125
        ("shipping", 8, 1.0, "helped")]  # eight wins: p = 2 / 256
    assert rows[1].p_adjusted == pytest.approx(2 / 256)

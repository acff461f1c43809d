"""Paraphrase and back-translation against the project's own model server (a tiny random model: gibberish replies).

Gibberish drifts in meaning, so no reply may pass; each verdict must agree exactly with the thresholds on its stored
scores, and every reply is cached, so running again sends no request.
"""

import pytest

from augmentation import filters
from augmentation.services.runs import augmentation_run_create, augmentation_run_execute
from common.text_similarity import mostly_cjk
from llm.models import ModelCall

pytestmark = pytest.mark.django_db(transaction=True)
T = filters.THRESHOLDS_DEFAULT


def _reason_from_scores(method: str, scores: dict) -> str:
    if method == "back_translation":
        if scores["cosine"] < T["back_translation_cosine_min"]:
            return "too_far"
        return "same_words" if scores["jaccard"] > T["back_translation_jaccard_max"] else "kept"
    if scores["cosine"] < T["paraphrase_cosine_min"]:
        return "too_far"
    if scores["cosine"] >= T["paraphrase_cosine_max"]:
        return "too_close"
    return "rouge_overlap" if scores["rouge_l"] > T["paraphrase_rouge_l_max"] else "kept"


def _check(run):
    for c in run.candidates.all():
        assert c.split == "train"
        if c.reason in ("empty", "unchanged", "invalid", "duplicate_original", "duplicate_candidate"):
            assert c.scores == {}
        #the tiny model's gibberish is often CJK, which the English-only model cannot judge
        elif c.reason == "unreadable":
            assert c.scores == {} and (mostly_cjk(c.text) or mostly_cjk(c.original_text))
        else:
            assert c.reason == _reason_from_scores(c.method, c.scores)
        assert c.is_passing == (c.reason == "kept")


def test_paraphrase_two_variants_per_train_record(version, tiny_endpoint, model_server):
    options = {"paraphrase_n": 2, "max_tokens": 12, "seed": 5}
    run = augmentation_run_create(version=version, methods=["paraphrase"], options=options, endpoint=tiny_endpoint,
                                  run_in_background=False)
    run = augmentation_run_execute(run=run)
    assert run.status == "succeeded", run.error
    assert run.candidate_count == 6  # 3 train records x 2; the test record is never sent
    assert ModelCall.objects.filter(endpoint=tiny_endpoint, cached=False).count() == 6
    assert list(run.candidates.values_list("operation", flat=True).order_by("pk")) == ["variant 1", "variant 2"] * 3
    assert run.embedding_model.endswith("all-MiniLM-L6-v2") or "minilm" in run.embedding_model.lower()
    _check(run)
    again = augmentation_run_execute(
        run=augmentation_run_create(
            version=version, methods=["paraphrase"], options=options, endpoint=tiny_endpoint, run_in_background=False
        )
    )
    assert ModelCall.objects.filter(endpoint=tiny_endpoint, cached=False).count() == 6
    assert ModelCall.objects.filter(endpoint=tiny_endpoint, cached=True).count() == 6
    assert list(again.candidates.values_list("text", "reason")) == list(run.candidates.values_list("text", "reason"))


def test_back_translation_through_a_pivot(version, tiny_endpoint, model_server):
    options = {"pivot_language": "French", "max_tokens": 12}
    run = augmentation_run_create(
        version=version, methods=["back_translation"], options=options, endpoint=tiny_endpoint, run_in_background=False
    )
    run = augmentation_run_execute(run=run)
    assert run.status == "succeeded", run.error
    assert run.candidate_count == 3
    # Two calls a record: to the pivot and back.
    assert ModelCall.objects.filter(endpoint=tiny_endpoint).count() == 6
    assert set(run.candidates.values_list("operation", flat=True)) == {"French"}
    _check(run)


def test_a_failing_endpoint_fails_the_run_with_its_reason(version, make_endpoint, model_server):
    broken = make_endpoint(model="no-such-model", max_retries=0)
    run = augmentation_run_create(version=version, methods=["paraphrase"], endpoint=broken, run_in_background=False)
    run = augmentation_run_execute(run=run)
    assert run.status == "failed"
    assert "3 of 6 requests failed" in run.error or "requests failed" in run.error
    assert run.candidates.count() == 0

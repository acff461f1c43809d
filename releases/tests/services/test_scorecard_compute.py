"""The scorecard job: evidence found, speed and deployability measured through the server's engine, each dimension
scored by its rule, missing evidence shown as missing."""

import pytest

from evaluation.general.selectors import general_eval_report
from releases import scoring
from releases.models import Scorecard
from releases.services.scorecards import release_policy_set, scorecard_compute, scorecard_create

GB = 1024**3


def _by_key(scorecard) -> dict:
    return {d["key"]: d for d in scorecard.dimensions}


@pytest.mark.slow
def test_a_full_scorecard_scores_every_dimension_from_its_evidence(
    users, workspace, tiny_artifact, voted_study, general_check, merged_artifact, run_peak_memory,
):
    run_peak_memory(3 * GB)
    scorecard = scorecard_compute(scorecard=scorecard_create(artifact=tiny_artifact,
                                                             created_by=users["product_manager"]))
    assert scorecard.status == Scorecard.Status.DONE, scorecard.error
    dims = _by_key(scorecard)

    task = dims["task"]
    assert (task["score"], task["figures"]["band"], task["figures"]["support_rate"]) == (5, "marked_improvement", 1.0)
    assert task["evidence"] == [{"kind": "study", "id": voted_study.pk, "name": voted_study.name}]

    overall = general_eval_report(general_eval=general_check).overall
    expected = scoring.general_score(overall.verdict, overall.change, general_check.tolerance).score
    assert dims["general"]["score"] == expected and expected in (3, 4, 5)
    assert dims["general"]["evidence"] == [{"kind": "general_eval", "id": general_check.pk, "name": "Toys"}]

    speed = dims["speed"]["figures"]
    assert speed["candidate"]["requests"] == speed["baseline"]["requests"] == 4
    assert speed["candidate"]["tokens_per_s"] > 0 and speed["baseline"]["p95_ms"] > 0
    assert dims["speed"]["score"] == scoring.speed_score(speed["tokens_per_s_ratio"], speed["p95_ratio"]).score

    resources = dims["resources"]
    assert resources["figures"]["peak_memory_bytes"] == 3 * GB
    assert 0 < resources["figures"]["serving_bytes"] < GB
    assert resources["score"] == 5  # 3 GB of peak memory (≤ 8 GB) and a tiny model on disk (≤ 2 GB)
    deploy = dims["deployability"]
    assert (deploy["score"], deploy["figures"]["formats"], deploy["figures"]["merged_answers"]) == (
        4, ["adapter", "merged"], True)

    scores = {key: d["score"] for key, d in dims.items()}
    assert scorecard.is_complete
    assert scorecard.total == pytest.approx(sum(scoring.DEFAULT_WEIGHTS[k] * scores[k] for k in scoring.DIMENSIONS))
    assert scorecard.is_ready_to_ship == (scorecard.total >= 4)


@pytest.mark.django_db(transaction=True)
def test_missing_evidence_is_missing_not_one(users, workspace, tiny_artifact, run_jobs):
    """Through the job, as a worker runs it."""
    release_policy_set(workspace=workspace, weights={"task": 0.5, "general": 0.2, "speed": 0.1, "resources": 0.1,
                                                     "deployability": 0.1}, updated_by=users["admin"])
    scorecard = scorecard_create(artifact=tiny_artifact, created_by=users["product_manager"])
    run_jobs()
    scorecard.refresh_from_db()
    dims = _by_key(scorecard)
    assert scorecard.weights["task"] == 0.5
    assert (dims["task"]["score"], dims["task"]["missing"]) == (None, "no blind study of this model against its base")
    assert dims["general"]["score"] is None
    assert dims["resources"]["missing"] == "the training run recorded no peak memory"
    assert dims["deployability"]["score"] == 2  # no merged export; the adapter answers
    assert (scorecard.total, scorecard.is_complete, scorecard.is_ready_to_ship) == (None, False, False)

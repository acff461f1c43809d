import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from evaluation.tests.fixtures import vote_as_stored


def test_study_report_of_a_missing_study_names_the_problem(db):
    with pytest.raises(CommandError) as error:
        call_command("study_report", "--study", "999999")
    assert str(error.value) == "--study 999999: no study with this id"


def test_study_report_of_a_generating_study_says_so_and_prints_empty_results(make_study):
    study = make_study()
    out, err = StringIO(), StringIO()
    call_command("study_report", "--study", str(study.pk), stdout=out, stderr=err)
    assert err.getvalue().strip() == f"study {study.pk} is still generating (0% of answers generated); no votes yet"
    report = json.loads(out.getvalue())
    assert report["counts"] == {
        "comparisons": 0,
        "identical": 0,
        "gold": 0,
        "repeats": 0,
        "votes": 0,
        "counted_votes": 0,
        "prompts": 4,
    }
    assert report["results"][0]["verdict"]["text"] == "not yet conclusive — no votes yet"


def test_study_report_prints_the_results_as_json(open_study, users):
    for comparison in open_study.comparisons.select_related("left_answer__arm").order_by("order")[:3]:
        side = "left" if comparison.left_answer.arm.name == "candidate-arm" else "right"
        vote_as_stored(comparison=comparison, rater=users["crowd_annotator"], choice=side)
    out = StringIO()
    call_command("study_report", "--study", str(open_study.pk), stdout=out)
    report = json.loads(out.getvalue())
    assert report["study"] == {"id": open_study.pk, "name": "Support answers", "status": "open", "question": "",
                               "labels": [], "gold_rate": 0.0, "repeat_rate": 0.0, "gold_threshold": 0.7}
    assert [(arm["name"], arm["is_baseline"], arm["model_name"]) for arm in report["arms"]] == [
        ("baseline-arm", True, "tiny-chat"), ("candidate-arm", False, "tiny-chat-other")]
    [result] = report["results"]
    assert (result["baseline"], result["candidate"], result["wins"], result["losses"], result["votes"]) == (
        "baseline-arm", "candidate-arm", 3, 0, 3)
    assert (result["support_rate"], result["sign_test_p"]) == (1.0, 0.25)
    assert result["verdict"]["band"] == "inconclusive"
    # Three unanimous prompts: every bootstrap resample says 100%; one vote per comparison: no agreement to measure.
    assert (result["bootstrap_low"], result["bootstrap_high"]) == (1.0, 1.0)
    assert result["agreement"] == {
        "items": 0,
        "pairs": 0,
        "agreement": None,
        "decisive_pairs": 0,
        "decisive_agreement": None,
        "alpha": None,
    }
    assert (result["length"]["votes"], result["length"]["raw_rate"], result["labels"]) == (3, 1.0, [])
    # Every test record has a reference answer (its last assistant turn, or the chosen answer): four per arm.
    assert [(m["arm"], m["count"]) for m in report["metrics"]] == [("baseline-arm", 4), ("candidate-arm", 4)]
    assert all(
        0 <= m["exact_match"] <= 1 and 0 <= m["rouge_l"] <= 1 and 0 <= m["bleu"] <= 100 for m in report["metrics"]
    )
    assert report["ranking"] == []  # two arms: the support rate says it all
    # One rater, no gold and no repeats: reliability has only the count of votes and their time.
    [rater] = report["raters"]
    assert (rater["username"], rater["votes"], rater["counted_votes"], rater["gold_votes"], rater["gold_accuracy"],
            rater["repeats"], rater["consistency"], rater["median_seconds"], rater["flagged"], rater["excluded"]) == (
        "crowd_annotator", 3, 3, 0, None, 0, None, None, False, False)

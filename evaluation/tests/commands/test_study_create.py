"""study_create and study_report on the command line, for pairwise and rating studies."""

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from evaluation.models import RatingItem, Study
from evaluation.tests.fixtures import rate_item


def test_study_create_makes_a_rating_study_with_its_rubric(workspace, eval_version, tiny_base_model,
                                                           candidate_base_model, users,
                                                           django_capture_on_commit_callbacks):
    out = StringIO()
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        call_command("study_create", "--workspace", workspace.name, "--name", "Rated", "--version-id",
                     str(eval_version.pk), "--baseline", f"base_model:{tiny_base_model.pk}", "--candidate",
                     f"base_model:{candidate_base_model.pk}", "--kind", "rating", "--criterion",
                     "helpfulness: does it solve the problem?", "--criterion", "tone", "--significance-level", "0.01",
                     "--user", users["product_manager"].username, stdout=out)
    study = Study.objects.get()
    assert out.getvalue() == f"created rating study {study.pk} (4 prompts); a worker generates the answers\n"
    assert (study.kind, study.significance_level, study.created_by) == ("rating", 0.01, users["product_manager"])
    assert study.rubric == [{"name": "helpfulness", "description": "does it solve the problem?"},
                            {"name": "tone", "description": ""}]
    assert list(study.arms.order_by("-is_baseline").values_list("name", flat=True)) == ["tiny-chat", "tiny-chat-other"]
    assert len(callbacks) == 1  # the generation job, queued after commit


@pytest.mark.parametrize(("arguments", "message"), [
    (["--kind", "rating", "--criterion", "a", "--criterion", "a"], "rubric[1].name: the criterion 'a' is given twice"),
    (["--significance-level", "0.7"], "significance_level: must be a number above 0 and below 0.5; got 0.7"),
    (["--candidate", "artifact:999999"], "--candidate artifact:999999: no such model in workspace 'Acme support'"),
    (["--candidate", "model:1"], "--candidate model:1: expected base_model:ID, artifact:ID or endpoint:ID"),
])
def test_study_create_says_what_is_wrong_and_creates_nothing(workspace, eval_version, tiny_base_model,
                                                             candidate_base_model, arguments, message):
    base = ["--workspace", workspace.name, "--name", "Rated", "--version-id", str(eval_version.pk), "--baseline",
            f"base_model:{tiny_base_model.pk}"]
    if "--candidate" not in arguments:
        base += ["--candidate", f"base_model:{candidate_base_model.pk}"]
    with pytest.raises(CommandError) as error:
        call_command("study_create", *base, *arguments)
    assert str(error.value) == message
    assert not Study.objects.exists()


def test_study_report_prints_a_rating_studys_summary(open_rating_study, users):
    for item in RatingItem.objects.filter(study=open_rating_study):
        rate_item(item=item, rater=users["crowd_annotator"], scores={"helpfulness": 4, "accuracy": 3})
    out = StringIO()
    call_command("study_report", "--study", str(open_rating_study.pk), stdout=out)
    report = json.loads(out.getvalue())
    assert (report["criteria"], report["counted_ratings"], report["raters"]) == (["helpfulness", "accuracy"], 8, 1)
    assert report["arms"][1]["criteria"]["helpfulness"] == {"n": 4, "mean": 4.0, "low": 4.0, "high": 4.0}
    assert report["comparisons"][0]["wilcoxon_p"] == 1.0 and report["comparisons"][0]["significant"] is False

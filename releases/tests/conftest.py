"""Fixtures of the releases tests.

voted_study      (function) a blind study of `tiny_artifact` against its base `tiny-chat`, answered by answer_studies
                 and voted by ten reviewers: every vote for the candidate (support 100%, a marked improvement)
general_check    (function) a general-capability check of `tiny_artifact` against `tiny-chat`, scored for real
merged_artifact  (function) `tiny_artifact` merged for real (training.services.merging)
run_peak_memory  (function) write the peak memory into the artifact's run's result.json, as the runner does
"""

import json

import pytest

from evaluation.tests.fixtures import vote_as_stored

TEST_CSV = b"Q1,a,b,c,d,A\nQ2,a,b,c,d,B\nQ3,a,b,c,d,C\nQ4,a,b,c,d,D\n"
DEV_CSV = b"D1,a,b,c,d,C\n"
RATERS = 10


@pytest.fixture
def voted_study(make_study, answer_studies, tiny_artifact, make_user, workspace):
    from evaluation.models import Comparison

    study = make_study(candidate_artifact=tiny_artifact, votes_per_comparison=RATERS)
    answer_studies()
    study.refresh_from_db()
    assert study.status == "open", study.error
    raters = [make_user(f"rater{i}", role="reviewer", workspace=workspace) for i in range(RATERS)]
    for comparison in Comparison.objects.filter(study=study, is_identical=False).select_related(
            "left_answer__arm"):
        winner = "left" if comparison.left_answer.arm.artifact_id == tiny_artifact.pk else "right"
        for rater in raters:
            vote_as_stored(comparison=comparison, rater=rater, choice=winner)
    return study


@pytest.fixture
def general_check(workspace, tiny_base_model, tiny_artifact):
    from evaluation.services.general_eval import general_eval_create, general_eval_run

    check = general_eval_create(workspace=workspace, name="Toys", baseline=tiny_base_model, candidate=tiny_artifact,
                                shots=1, test_uploads=[("toys_test.csv", TEST_CSV)],
                                dev_uploads=[("toys_dev.csv", DEV_CSV)])
    return general_eval_run(general_eval=check)


@pytest.fixture
def merged_artifact(tiny_artifact):
    from training.services.merging import model_artifact_merge

    return model_artifact_merge(artifact=tiny_artifact)


@pytest.fixture
def run_peak_memory(tiny_artifact):
    from training.runner.files import RESULT_FILE
    from training.services.base_models import model_directory

    def write(peak_bytes: int) -> None:
        directory = model_directory(tiny_artifact.run.output_dir)
        directory.mkdir(parents=True, exist_ok=True)
        (directory / RESULT_FILE).write_text(json.dumps({"global_step": 3, "peak_memory_bytes": peak_bytes}))

    return write


@pytest.fixture
def make_artifacts(workspace, tiny_base_model, sft_version, tiny_adapter_dir):
    """n more trained artifacts of tiny-chat on `sft_version`, registered through the training services."""
    from training.models import TrainingRun
    from training.services.artifacts import model_artifact_register
    from training.services.runs import training_run_create, training_run_finish, training_run_start

    def make(n: int) -> list:
        artifacts = []
        for i in range(n):
            run = training_run_start(run=training_run_create(workspace=workspace, name=f"tuned-{i}",
                                                             base_model=tiny_base_model, dataset_version=sft_version))
            artifacts.append(model_artifact_register(run=run, path=str(tiny_adapter_dir)))
            training_run_finish(run=run, status=TrainingRun.Status.SUCCEEDED)
        return artifacts

    return make

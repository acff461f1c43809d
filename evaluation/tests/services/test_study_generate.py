import pytest

from common.models import HistoryEvent
from evaluation.models import Answer, Comparison, Study
from evaluation.services import study_generate
from training.services.base_models import base_model_register

# The real worker closes the connection between jobs, which only a transactional test survives on PostgreSQL.
pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_generation_job_answers_every_prompt_and_builds_blinded_comparisons(generated_study):
    arms = {arm.name: arm for arm in generated_study.arms.all()}
    assert generated_study.progress == 1.0
    assert generated_study.error == ""
    assert Answer.objects.filter(prompt__study=generated_study, arm=arms["baseline-arm"]).count() == 4
    assert Answer.objects.filter(prompt__study=generated_study, arm=arms["candidate-arm"]).count() == 4
    comparisons = list(Comparison.objects.filter(study=generated_study).select_related("left_answer", "right_answer"))
    assert len(comparisons) == 4
    for comparison in comparisons:
        assert {comparison.left_answer.arm_id, comparison.right_answer.arm_id} == {
            arms["baseline-arm"].pk,
            arms["candidate-arm"].pk,
        }
        assert comparison.left_answer.prompt_id == comparison.right_answer.prompt_id == comparison.prompt_id
        assert comparison.is_identical == (comparison.left_answer.text.strip() == comparison.right_answer.text.strip())
    assert sorted(c.order for c in comparisons) == [0, 1, 2, 3]
    assert len({c.token for c in comparisons}) == 4
    assert list(
        HistoryEvent.objects.filter(target_type="evaluation.study", target_id=generated_study.pk)
        .values_list("verb", flat=True)
        .order_by("pk")
    ) == ["created", "opened"]


def test_the_two_tiny_models_answer_differently(generated_study):
    assert Comparison.objects.filter(study=generated_study, is_identical=False).count() == 4


def test_identical_answers_are_flagged_and_never_shown(make_study, tiny_base_model, run_jobs, users):
    from evaluation.services import showing_serve

    # Both arms are the same model: greedy decoding gives the same answer to every prompt.
    study = make_study(candidate=tiny_base_model)
    run_jobs()
    study.refresh_from_db()
    assert study.status == "open"
    assert Comparison.objects.filter(study=study).count() == 4
    assert Comparison.objects.filter(study=study, is_identical=True).count() == 4
    assert showing_serve(study=study, rater=users["crowd_annotator"]) is None


def test_a_failing_arm_fails_the_study_with_the_reason_and_leaves_no_answers(
    make_study, workspace, tiny_model_dir, tmp_path, run_jobs
):
    import shutil

    copy = shutil.copytree(tiny_model_dir, tmp_path / "vanishing-model")
    vanishing = base_model_register(workspace=workspace, name="vanishing", path=str(copy))
    shutil.rmtree(copy)
    study = make_study(candidate=vanishing)
    run_jobs()
    study.refresh_from_db()
    assert study.status == "failed"
    assert study.error.startswith("generating the answers of arm 'candidate-arm' failed: ")
    assert Answer.objects.filter(prompt__study=study).count() == 0
    assert Comparison.objects.filter(study=study).count() == 0
    assert list(
        HistoryEvent.objects.filter(target_type="evaluation.study", target_id=study.pk)
        .values_list("verb", flat=True)
        .order_by("pk")
    ) == ["created", "failed"]


def test_generating_again_changes_nothing_once_open(generated_study):
    tokens = set(Comparison.objects.filter(study=generated_study).values_list("token", flat=True))
    assert study_generate(study=generated_study).status == Study.Status.OPEN
    assert set(Comparison.objects.filter(study=generated_study).values_list("token", flat=True)) == tokens
    assert Answer.objects.filter(prompt__study=generated_study).count() == 8


def test_the_stored_sides_and_order_are_drawn_afresh_not_replayed_from_the_seed(open_study):
    """Rebuilding the comparisons of the same study and seed draws their stored sides and order again (`secrets`)."""
    from evaluation.services import study_comparisons_build

    builds = set()
    for _ in range(8):  # the same 4 sides and order 8 times in a row would happen once in 384 ** 7
        Comparison.objects.filter(study=open_study).delete()
        assert study_comparisons_build(study=open_study) == 4
        builds.add(tuple(Comparison.objects.filter(study=open_study).order_by("prompt__order")
                         .values_list("left_answer__arm__name", "order")))
    assert len(builds) > 1


def test_a_trained_artifact_arm_answers_through_its_adapter(make_study, tiny_artifact, run_jobs):
    study = make_study(candidate_artifact=tiny_artifact)
    run_jobs()
    study.refresh_from_db()
    assert study.status == "open", study.error
    candidate = study.arms.get(name="candidate-arm")
    assert (candidate.artifact, candidate.base_model) == (tiny_artifact, None)
    assert Answer.objects.filter(arm=candidate).count() == 4
    # The adapter changes the base model's replies, so the comparisons are shown.
    assert Comparison.objects.filter(study=study, is_identical=False).count() == 4

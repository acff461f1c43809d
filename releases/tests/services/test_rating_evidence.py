"""The scorecard's task dimension reads the newest blind rating study of the model: the mean of its criteria's means."""

from evaluation.models import RatingItem
from evaluation.tests.fixtures import rate_item
from releases.evidence import latest_study_against_base, task_evidence, task_rating_study_mean


def test_the_rating_study_mean_is_the_task_evidence_beside_the_pairwise_study(
    make_study, answer_studies, users, tiny_artifact, voted_study
):
    assert task_rating_study_mean(artifact=tiny_artifact) == (None, None)
    study = make_study(name="Rated", kind="rating", rubric=["helpfulness", "accuracy"],
                       candidate_artifact=tiny_artifact)
    answer_studies()
    study.refresh_from_db()
    for item in RatingItem.objects.filter(study=study, repeat_of=None).select_related("answer__arm"):
        scores = {"helpfulness": 2, "accuracy": 2} if item.answer.arm.is_baseline else {"helpfulness": 5, "accuracy": 4}
        rate_item(item=item, rater=users["staff_annotator"], scores=scores)

    mean, reference = task_rating_study_mean(artifact=tiny_artifact)
    assert (mean, reference["kind"], reference["id"]) == (4.5, "study", study.pk)
    # The support rate still comes from the pairwise study, never from the newer rating study.
    assert latest_study_against_base(artifact=tiny_artifact)[0] == voted_study
    evidence = task_evidence(artifact=tiny_artifact)
    assert evidence.figures["rating_mean"] == 4.5
    assert [r["id"] for r in evidence.refs] == [voted_study.pk, study.pk]


def test_verified_exports_count_among_the_formats_and_failed_ones_do_not(tiny_artifact):
    from releases.evidence import PORTABLE_FORMATS, export_formats
    from training.models import ModelExport

    def export(format, status, verified):
        ModelExport.objects.create(workspace=tiny_artifact.workspace, artifact=tiny_artifact, format=format,
                                   status=status, is_verified=verified)

    assert export_formats(artifact=tiny_artifact, merged=None) == ["adapter"]
    export("onnx", "failed", None)
    export("vllm", "succeeded", False)
    assert export_formats(artifact=tiny_artifact, merged=None) == ["adapter"]
    ModelExport.objects.filter(format="onnx").update(status="succeeded", is_verified=True)
    formats = export_formats(artifact=tiny_artifact, merged=None)
    assert formats == ["adapter", "onnx"] and [f for f in formats if f in PORTABLE_FORMATS] == ["onnx"]

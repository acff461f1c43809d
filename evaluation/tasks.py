"""Background jobs of the evaluation app: they take ids, load rows and call a service."""

from django_tasks import task

from evaluation.models import Study
from evaluation.services import study_generate


@task(queue_name="default")
def study_generate_task(*, study_id: int) -> None:
    """Generate a study's answers and build its comparisons (the service records any failure on the study)."""
    study = Study.objects.filter(pk=study_id).first()
    if study is None:  # deleted while queued: nothing to do
        return
    study_generate(study=study)


@task(queue_name="default")
def judge_run_task(*, judge_id: int) -> None:
    """Run an LLM judge over its study's comparisons (the service records any failure on the judge)."""
    from evaluation.models import Judge
    from evaluation.services import judge_run

    judge = Judge.objects.select_related("study", "endpoint").filter(pk=judge_id).first()
    if judge is not None:
        judge_run(judge=judge)


@task(queue_name="gpu")
def general_eval_run_task(*, general_eval_id: int) -> None:
    """Score a general-capability check's items with its models (the service records any failure on the check)."""
    from evaluation.models import GeneralEval
    from evaluation.services.general_eval import general_eval_run

    general_eval = (GeneralEval.objects.select_related("baseline_base_model", "baseline_artifact__base_model",
                                                       "candidate_base_model", "candidate_artifact__base_model")
                    .filter(pk=general_eval_id).first())
    if general_eval is not None:
        general_eval_run(general_eval=general_eval)

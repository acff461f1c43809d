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

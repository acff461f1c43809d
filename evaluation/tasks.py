"""Background jobs of the evaluation app: they take ids, load rows and call a service."""

from django_tasks import task

from evaluation.models import Study
from evaluation.services import study_generate as study_generate_service


@task(queue_name="default")
def study_generate(*, study_id: int) -> None:
    """Generate a study's answers and build its comparisons (the service records any failure on the study)."""
    study = Study.objects.filter(pk=study_id).first()
    if study is None:  # deleted while queued: nothing to do
        return
    study_generate_service(study=study)

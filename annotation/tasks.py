"""Background jobs of the annotation app: they take ids, load rows and call a service; nothing else."""

from django_tasks import task


@task(queue_name="default")
def ai_run_execute_task(*, ai_run_id: int) -> None:
    """Run a queued AI annotator run (the service records any failure on the run; a run not queued is left as it is)."""
    from annotation.models import AIRun
    from annotation.services.ai_annotators import ai_run_execute

    run = AIRun.objects.filter(pk=ai_run_id).first()
    if run is not None:
        ai_run_execute(run=run)

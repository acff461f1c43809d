"""Background jobs of augmentation, mixing and grading: they take ids, load rows and call a service; nothing else."""

from django_tasks import task


@task(queue_name="default")
def augmentation_run_execute_task(*, run_id: int) -> None:
    """Generate and filter a run's candidates. Idempotent: a run that is not queued is left as it is."""
    # Imported here: the service modules enqueue these tasks, so top-level imports would be circular.
    from augmentation.models import AugmentationRun
    from augmentation.services.runs import augmentation_run_execute

    run = AugmentationRun.objects.filter(pk=run_id).first()
    if run is not None:
        augmentation_run_execute(run=run)


@task(queue_name="default")
def mix_run_execute_task(*, run_id: int) -> None:
    from augmentation.models import MixRun
    from augmentation.services.mixing import mix_run_execute

    run = MixRun.objects.filter(pk=run_id).first()
    if run is not None:
        mix_run_execute(run=run)


@task(queue_name="default")
def grading_run_execute_task(*, run_id: int) -> None:
    from augmentation.models import GradingRun
    from augmentation.services.grading import grading_run_execute

    run = GradingRun.objects.filter(pk=run_id).first()
    if run is not None:
        grading_run_execute(run=run)

"""Background jobs of dedupe runs: they take ids, load rows and call a service; nothing else."""

from django_tasks import task


@task(queue_name="default")
def dedupe_run_execute_task(*, dedupe_run_id: int) -> None:
    """Run a queued dry run. Idempotent: a run that is not queued any more is left as it is."""
    # Imported here: the service module enqueues this task, so a top-level import would be circular.
    from dedupe.models import DedupeRun
    from dedupe.services import dedupe_run_execute

    run = DedupeRun.objects.filter(pk=dedupe_run_id).first()
    if run is not None:
        dedupe_run_execute(run=run)

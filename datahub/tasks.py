"""Background jobs of the datahub: they take ids, load rows and call a service; nothing else."""

from django_tasks import task


@task(queue_name="default")
def import_job_run_task(*, import_job_id: int) -> None:
    """Run a queued import. Idempotent: a job that is not queued any more is left as it is."""
    # Imported here: the service module enqueues this task, so a top-level import would be circular.
    from datahub.models import ImportJob
    from datahub.services.imports import import_job_run

    job = ImportJob.objects.filter(pk=import_job_id).first()
    if job is not None:
        import_job_run(job=job)

"""Background jobs of the training app. Each takes ids and calls a service."""

from django_tasks import task

from training.models import TrainingRun
from training.services.execution import training_run_supervise, training_runs_fail_stale


@task(queue_name="gpu")
def training_run_execute(run_id: int) -> None:
    """Train one queued run on a worker of the "gpu" queue (a CPU does for tiny models).

    First it fails the runs whose worker died silently, so no run stays "running" for ever.
    """
    training_runs_fail_stale()
    run = TrainingRun.objects.filter(pk=run_id).first()
    if run is None:
        return
    training_run_supervise(run=run)

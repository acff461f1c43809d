"""Background jobs of the training app. Each takes ids and calls a service."""

from django_tasks import task

from training.models import TrainingRun
from training.services.execution import training_run_supervise, training_runs_fail_stale


@task(queue_name="gpu")
def training_run_supervise_task(*, run_id: int) -> None:
    """Train one queued run on a worker of the "gpu" queue (a CPU does for tiny models).

    First it fails the runs whose worker died silently, so no run stays "running" for ever.
    """
    training_runs_fail_stale()
    run = TrainingRun.objects.filter(pk=run_id).first()
    if run is None:
        return
    training_run_supervise(run=run)


@task(queue_name="gpu")
def model_artifact_merge_task(*, artifact_id: int, user_id: int | None = None) -> None:
    """Merge one adapter into its base (training.services.merging); an artifact gone or already merged is left alone."""
    from django.contrib.auth import get_user_model

    from common.errors import ApplicationError
    from training.models import ModelArtifact
    from training.services.merging import model_artifact_merge

    artifact = ModelArtifact.objects.select_related("base_model", "run", "workspace").filter(pk=artifact_id).first()
    if artifact is None:
        return
    user = get_user_model().objects.filter(pk=user_id).first() if user_id else None
    try:
        model_artifact_merge(artifact=artifact, merged_by=user)
    except ApplicationError:
        # Terminal, not retryable: merged meanwhile, or not mergeable. The request already said why when it was refused.
        return


@task(queue_name="gpu")
def model_export_run_task(*, export_id: int) -> None:
    """Make and verify one export (training.services.exports); an export gone or no longer queued is left alone."""
    from training.models import ModelExport
    from training.services.exports import model_export_run

    export = ModelExport.objects.select_related("artifact__base_model", "artifact__workspace").filter(
        pk=export_id).first()
    if export is None:
        return
    model_export_run(export=export)

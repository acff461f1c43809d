"""Background jobs of the releases app: they take ids, load rows and call a service."""

from django_tasks import task

from releases.models import Scorecard


@task(queue_name="gpu")
def scorecard_compute_task(*, scorecard_id: int) -> None:
    """Compute a scorecard; it loads the candidate and its base to measure them, hence the gpu queue (the service
    records any failure on the scorecard)."""
    from releases.services.scorecards import scorecard_compute

    scorecard = Scorecard.objects.filter(pk=scorecard_id).first()
    if scorecard is not None:
        scorecard_compute(scorecard=scorecard)

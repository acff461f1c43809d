"""Background jobs of monitoring: they take ids, load rows and call a service."""

from datetime import date

from django_tasks import task

from monitoring.models import AlertDelivery
from releases.models import Deployment


@task()
def monitoring_check_task(*, deployment_id: int, day: str) -> None:
    """Check one slot on one day (ISO date); checking the same day again raises nothing new."""
    from monitoring.services import monitoring_check

    deployment = Deployment.objects.filter(pk=deployment_id).first()
    if deployment is not None:
        monitoring_check(deployment=deployment, day=date.fromisoformat(day))


@task()
def alert_deliver_task(*, delivery_id: int) -> None:
    from monitoring.services import alert_deliver

    delivery = AlertDelivery.objects.select_related("alert__deployment").filter(pk=delivery_id).first()
    if delivery is not None:
        alert_deliver(delivery=delivery)

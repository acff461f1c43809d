"""Real event streams through the ingest API, the daily check run as the command and the job: a stable month raises
nothing; a like-ratio drop raises one alert within the rule's window; checking a day again raises nothing new."""

import pytest
from django.core import mail
from django.core.management import call_command

from monitoring.models import AlertDelivery, DriftAlert
from monitoring.services import monitoring_rule_update
from monitoring.tasks import monitoring_check_task
from monitoring.tests.streams import day_of, send_day

pytestmark = pytest.mark.postgres  # the reply id is read out of the events' JSONB metadata

STABLE = [(30, 10), (29, 11), (31, 9)]  # likes, dislikes: about 75%, varying day to day


def _stable_month(client, slot, model, *, drop_from: int | None = None) -> None:
    for n in range(30):
        likes, dislikes = (15, 25) if drop_from is not None and n >= drop_from else STABLE[n % 3]
        send_day(client, slot, model, n, likes=likes, dislikes=dislikes)


def test_a_stable_month_raises_nothing(ingest_client, slot, tiny_base_model):
    _stable_month(ingest_client, slot, tiny_base_model)
    for n in range(30):
        call_command("monitoring_check", day=day_of(n).isoformat(), slot=slot.pk, stdout=open("/dev/null", "w"))
    assert DriftAlert.objects.count() == 0


@pytest.mark.django_db(transaction=True)  # the job worker commits
def test_a_drop_raises_one_alert_within_the_window_and_sends_it(ingest_client, slot, tiny_base_model, settings,
                                                                 run_jobs):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    monitoring_rule_update(deployment=slot, email="pm@example.com")
    _stable_month(ingest_client, slot, tiny_base_model, drop_from=20)
    for n in range(30):
        monitoring_check_task.enqueue(deployment_id=slot.pk, day=day_of(n).isoformat())
        run_jobs()
    run_jobs()  # the same day again (and the deliveries queued by the checks)
    monitoring_check_task.enqueue(deployment_id=slot.pk, day=day_of(21).isoformat())
    run_jobs()

    alert = DriftAlert.objects.get()
    assert (alert.series, alert.model_name, alert.prompt_version) == ("like_ratio", "tiny-chat", "")
    # Window 19-21 holds 30+15+15 likes of 120: Wilson upper 58.8% < the first week's lower bound (210/280 → 69.6%).
    assert alert.raised_on == day_of(21)
    assert alert.figures["window_n"] == 120 and alert.figures["baseline_n"] == 280
    assert alert.figures["window_high"] < alert.figures["baseline_low"]
    assert round(alert.figures["baseline_low"], 3) == 0.696
    assert alert.closed_on is None
    delivery = AlertDelivery.objects.get()
    assert (delivery.channel, delivery.status, delivery.attempts) == ("email", "delivered", 1)
    assert len(mail.outbox) == 1
    assert "like ratio" in mail.outbox[0].body.lower() and "tiny-chat" in mail.outbox[0].body

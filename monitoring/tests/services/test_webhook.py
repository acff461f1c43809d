"""Webhook delivery: the body signed with HMAC-SHA256, a 5xx retried through the job queue with backoff, each
attempt in the delivery log; an address the outbound policy refuses is refused when saved."""

import hashlib
import hmac
import json
from datetime import timedelta

import pytest
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from common.errors import ApplicationError
from llm.tests.listener import Listener
from monitoring.models import AlertDelivery, DriftAlert, MonitoringRule
from monitoring.services import BACKOFF_SECONDS, monitoring_check, monitoring_rule_update
from monitoring.tests.streams import day_of, send_day

SECRET = "s3cret-key"


def test_a_webhook_the_outbound_policy_refuses_is_refused_when_saved(slot, settings):
    settings.OUTBOUND_PRIVATE_ALLOWED = []
    with pytest.raises(ApplicationError) as refused:
        monitoring_rule_update(deployment=slot, webhook_url="http://127.0.0.1:9/hook", webhook_secret=SECRET)
    assert refused.value.where == "webhook_url"
    assert MonitoringRule.objects.count() == 0  # nothing saved


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)  # the job worker commits
def test_a_signed_webhook_is_retried_with_backoff_until_it_is_delivered(ingest_client, slot, tiny_base_model,
                                                                         settings, run_jobs):
    answers = [(503, {}, b"busy"), (200, {}, b"ok")]
    with Listener(answer=lambda method, path: answers.pop(0)) as hook:
        settings.OUTBOUND_PRIVATE_ALLOWED = [hook.address]
        monitoring_rule_update(deployment=slot, webhook_url=f"{hook.url}/alerts", webhook_secret=SECRET,
                               baseline_days=2, window_days=1, min_events=20)
        for n in range(4):
            send_day(ingest_client, slot, tiny_base_model, n, likes=30 if n < 3 else 5, dislikes=10 if n < 3 else 35)
        (alert,) = monitoring_check(deployment=slot, day=day_of(3))
        run_jobs()
        delivery = AlertDelivery.objects.get()
        assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("pending", 1, 503)
        assert delivery.last_error == "the webhook answered HTTP 503"
        retry = DBTaskResult.objects.filter(status="READY").get()
        wait = (retry.run_after - timezone.now()).total_seconds()
        assert BACKOFF_SECONDS - 5 < wait <= BACKOFF_SECONDS
        DBTaskResult.objects.filter(pk=retry.pk).update(run_after=timezone.now() - timedelta(seconds=1))
        run_jobs()
        delivery.refresh_from_db()
        assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("delivered", 2, 200)
        assert len(hook.requests) == 2
        body = hook.requests[1]["body"].encode()
        expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        assert hook.requests[1]["headers"]["X-Whetstone-Signature"] == expected
        payload = json.loads(body)
        assert (payload["series"], payload["model"], payload["slot"]) == ("like_ratio", "tiny-chat", "support-bot")
        assert payload["figures"]["window_n"] == 40 and payload["figures"]["baseline_n"] == 80
    assert DriftAlert.objects.get().pk == alert.pk


@pytest.mark.postgres
def test_two_workers_holding_the_same_delivery_send_it_once(ingest_client, slot, tiny_base_model, settings):
    from django.core import mail

    from monitoring.services import alert_deliver

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    monitoring_rule_update(deployment=slot, email="pm@example.com", baseline_days=2, window_days=1, min_events=20)
    for n in range(4):
        send_day(ingest_client, slot, tiny_base_model, n, likes=30 if n < 3 else 5, dislikes=10 if n < 3 else 35)
    monitoring_check(deployment=slot, day=day_of(3))
    first, second = AlertDelivery.objects.get(), AlertDelivery.objects.get()  # two workers' copies of one row
    assert alert_deliver(delivery=first).status == "delivered"
    assert (alert_deliver(delivery=second).status, second.attempts) == ("delivered", 1)
    assert len(mail.outbox) == 1
    assert mail.outbox[0].subject == "Whetstone drift alert: support-bot"

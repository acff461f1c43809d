"""The slot's monitoring page: the series with their intervals, the stated rule, the alerts with their delivery log,
a fixed number of queries whatever the days of data; the thresholds form for release managers only."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from monitoring.models import MonitoringRule
from monitoring.services import monitoring_check, monitoring_rule_update
from monitoring.tests.streams import send_day

pytestmark = pytest.mark.postgres  # the reply id is read out of the events' JSONB metadata


def _page(client, slot):
    with CaptureQueriesContext(connection) as queries:
        response = client.get(reverse("monitoring:slot", args=[slot.pk]))
    assert response.status_code == 200
    return response, len(queries)


def _days(client, slot, model, start, days, *, bad) -> None:
    for n in days:
        send_day(client, slot, model, n, likes=5 if bad(n) else 30, dislikes=35 if bad(n) else 10, start=start)
        monitoring_check(deployment=slot, day=start + timedelta(days=n))


def test_the_series_and_their_intervals(client, users, ingest_client, slot, tiny_base_model):
    client.force_login(users["product_manager"])
    start = timezone.localdate() - timedelta(days=12)
    send_day(ingest_client, slot, tiny_base_model, 0, likes=30, dislikes=10, start=start)
    first, _queries = _page(client, slot)
    assert b"No drift alerts." in first.content
    chart = first.context["charts"]["series"]
    assert [(line["model"], line["value"], line["n"]) for line in chart["like_ratio"]] == [("tiny-chat", [0.75], [40])]
    assert round(chart["like_ratio"][0]["low"][0], 3) == 0.598  # Wilson 30 of 40
    assert [line["value"] for line in chart["pick_share"]] == [[0.6]]  # 3 of 5 picks
    assert [line["value"] for line in chart["edit_rate"]] == [[2 / 47]]
    # the replies are recorded today (their feedback is dated 12 days ago, when the slot served none)
    assert [(line["days"][-1], line["value"]) for line in chart["volume"]] == [(timezone.localdate().isoformat(),
                                                                                 [0, 47])]
    assert [(line["value"], line["low"], line["high"]) for line in chart["latency_p95"]] == [([206.0], [205.0],
                                                                                              [206.0])]


def test_the_page_costs_the_same_queries_for_one_alert_and_for_ten(client, users, ingest_client, slot,
                                                                   tiny_base_model):
    client.force_login(users["product_manager"])
    monitoring_rule_update(deployment=slot, baseline_days=3, window_days=1, min_events=20, email="pm@example.com")
    start = timezone.localdate() - timedelta(days=26)
    _days(ingest_client, slot, tiny_base_model, start, range(7), bad=lambda n: n == 6)
    _first, one_alert = _page(client, slot)
    _days(ingest_client, slot, tiny_base_model, start, range(7, 25), bad=lambda n: n % 2 == 0)  # closes, re-raises
    page, ten_alerts = _page(client, slot)
    assert len(page.context["data"]["alerts"]) == 10
    # session, user, the slot (access), the manage capability, events, their replies' authors, replies per day, the
    # rule, alerts, their deliveries, the menu's roles
    assert one_alert == ten_alerts == 11
    html = page.content.decode()
    assert html.count("E-mail: Pending (0 attempts)") == 10 and html.count("badge failed") == 1
    assert "Wilson 95% upper bound of the last 1 days below the model&#x27;s lower bound over its first 3 days" in html


def test_only_release_managers_change_thresholds(client, users, slot):
    client.force_login(users["ml_engineer"])
    assert _page(client, slot)[0].context["form"] is None
    refused = client.post(reverse("monitoring:slot", args=[slot.pk]), {"baseline_days": 2, "window_days": 1,
                                                                     "min_events": 5, "latency_factor": 2})
    assert refused.status_code == 404
    assert MonitoringRule.objects.count() == 0
    client.force_login(users["product_manager"])
    saved = client.post(reverse("monitoring:slot", args=[slot.pk]), {"baseline_days": 2, "window_days": 1,
                                                                   "min_events": 5, "latency_factor": 2})
    assert saved.status_code == 302
    rule = MonitoringRule.objects.get()
    assert (rule.baseline_days, rule.window_days, rule.min_events, rule.latency_factor) == (2, 1, 5, 2.0)
    outsider = client
    outsider.force_login(users["outsider"])
    assert outsider.get(reverse("monitoring:slot", args=[slot.pk])).status_code == 404


def test_check_now_queues_yesterdays_check_for_release_managers_only(client, users, slot,
                                                                     django_capture_on_commit_callbacks):
    from django_tasks_db.models import DBTaskResult

    client.force_login(users["ml_engineer"])
    with django_capture_on_commit_callbacks(execute=True):
        refused = client.post(reverse("monitoring:slot-check", args=[slot.pk]))
    assert refused.status_code == 403
    assert DBTaskResult.objects.count() == 0
    client.force_login(users["product_manager"])
    with django_capture_on_commit_callbacks(execute=True):
        queued = client.post(reverse("monitoring:slot-check", args=[slot.pk]))
    assert queued.status_code == 302
    job = DBTaskResult.objects.get()
    yesterday = (timezone.localdate() - timedelta(days=1)).isoformat()
    assert (job.task_path, job.args_kwargs["kwargs"]) == ("monitoring.tasks.monitoring_check_task",
                                                          {"deployment_id": slot.pk, "day": yesterday})

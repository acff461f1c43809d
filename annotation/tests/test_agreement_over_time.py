"""Agreement over time (Krippendorff's alpha per day or week): the selector, the dashboard, the API and the command."""

from datetime import date, datetime, timezone as dt_timezone
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from annotation.models import Annotation
from annotation.dashboard import agreement_over_time, AgreementPoint
from annotation.services import assignment_claim_next
from annotation.tests.fixtures import submit_as

R, L = "billing/refund", "account/login"
# Item -> (when both annotations came in, crowd's answer, staff's answer). Week of 2 November: both items agree (alpha
# 1); week of 9 November: the two items are swapped disagreements. Alpha by hand: observed 4 (each unit gives the pairs
# (r, l) and (l, r) weight 1), expected (2*2 + 2*2) / (4 - 1) = 8/3, alpha = 1 - 4 / (8/3) = -0.5. One item alone on a
# day: all one value, alpha undefined; one disagreeing item: observed 2, expected 2, alpha 0.
ITEMS = [
    (datetime(2026, 11, 2, 12, tzinfo=dt_timezone.utc), R, R),
    (datetime(2026, 11, 4, 12, tzinfo=dt_timezone.utc), L, L),
    (datetime(2026, 11, 10, 12, tzinfo=dt_timezone.utc), R, L),
    (datetime(2026, 11, 11, 12, tzinfo=dt_timezone.utc), L, R),
]


@pytest.fixture
def dated_project(annotation_project_factory, users):
    project = annotation_project_factory(n=4, overlap=2)
    for position, name in ((1, "crowd_annotator"), (2, "staff_annotator")):
        for item in ITEMS:
            user = users[name]
            annotation = submit_as(user, assignment_claim_next(project=project, annotator=user), item[position])
            # Moved to the item's date: the submits above all happen now.
            Annotation.objects.filter(pk=annotation.pk).update(created_at=item[0])
    return project


def test_alpha_by_week_and_by_day(dated_project):
    weekly = agreement_over_time(project=dated_project)
    assert [(p.start, p.items) for p in weekly] == [(date(2026, 11, 2), 2), (date(2026, 11, 9), 2)]
    assert weekly[0].alpha == 1.0
    assert weekly[1].alpha == pytest.approx(-0.5, abs=1e-12)
    assert agreement_over_time(project=dated_project, period="day") == [
        AgreementPoint(date(2026, 11, 2), 1, None), AgreementPoint(date(2026, 11, 4), 1, None),
        AgreementPoint(date(2026, 11, 10), 1, 0.0), AgreementPoint(date(2026, 11, 11), 1, 0.0)]


def test_an_item_counts_when_its_last_annotation_came_in(dated_project):
    last = (
        Annotation.objects.filter(task__project=dated_project).order_by("task_id", "pk").values_list("pk", flat=True)[1]
    )
    Annotation.objects.filter(pk=last).update(created_at=datetime(2026, 11, 12, 9, tzinfo=dt_timezone.utc))
    assert [(p.start, p.items) for p in agreement_over_time(project=dated_project)] == [
        (date(2026, 11, 2), 1),
        (date(2026, 11, 9), 3),
    ]


def test_dashboard_draws_it_by_week_or_day(dated_project, client, users, django_assert_num_queries):
    client.force_login(users["ml_engineer"])
    url = reverse("annotation:project-dashboard", args=[dated_project.pk])
    with django_assert_num_queries(11):
        page = client.get(url).content.decode()
    assert 'id="chart-agreement-time"' in page and 'id="period-day"' in page
    assert "<tr><td>2026-11-02</td><td>2</td><td>1.000</td></tr>" in page
    assert "<tr><td>2026-11-09</td><td>2</td><td>-0.500</td></tr>" in page
    daily = client.get(url + "?period=day").content.decode()
    assert "<tr><td>2026-11-04</td><td>1</td><td>—</td></tr>" in daily and 'id="period-week"' in daily


def test_api_answers_managers_and_refuses_others(dated_project, api_for, users):
    url = f"/api/v1/annotation/projects/{dated_project.pk}/agreement/"
    body = api_for(users["ml_engineer"]).get(url).json()
    assert body["period"] == "week"
    assert [(p["start"], p["items"]) for p in body["points"]] == [("2026-11-02", 2), ("2026-11-09", 2)]
    assert body["points"][0]["alpha"] == 1.0 and body["points"][1]["alpha"] == pytest.approx(-0.5)
    daily = api_for(users["reviewer"]).get(url, {"period": "day"}).json()
    assert [p["alpha"] for p in daily["points"]] == [None, None, 0.0, 0.0]
    assert api_for(users["ml_engineer"]).get(url, {"period": "month"}).status_code == 400
    assert api_for(users["crowd_annotator"]).get(url).status_code == 404
    assert api_for(users["outsider"]).get(url).status_code == 404


def test_command_prints_the_table_and_refuses_a_bad_period(dated_project):
    out = StringIO()
    call_command("annotation_agreement", "--project", str(dated_project.pk), stdout=out)
    assert out.getvalue() == "week of       items  alpha\n2026-11-02        2  1.000\n2026-11-09        2  -0.500\n"
    with pytest.raises(CommandError) as error:
        call_command("annotation_agreement", "--project", str(dated_project.pk), "--period", "month")
    assert str(error.value) == "--period: must be one of day, week"

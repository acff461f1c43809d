"""The significance page and endpoint: result readers only, and a fixed number of queries whatever the votes."""

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from evaluation.tests.fixtures import vote_as_stored


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.mark.parametrize(("role", "status"), [("ml_engineer", 200), ("product_manager", 200),
                                              ("crowd_annotator", 404), ("outsider", 404)])
def test_only_result_readers_see_the_significance_page(open_study, users, role, status):
    response = _client(users[role]).get(reverse("evaluation:study-significance", args=[open_study.pk]))
    assert response.status_code == status


def test_the_significance_page_compares_the_metrics_at_a_fixed_query_cost(open_study, users):
    client = _client(users["ml_engineer"])
    url = reverse("evaluation:study-significance", args=[open_study.pk])
    with CaptureQueriesContext(connection) as before:
        client.get(url)
    for comparison in open_study.comparisons.select_related("left_answer__arm"):
        vote_as_stored(comparison=comparison, rater=users["crowd_annotator"], choice="left")
    with CaptureQueriesContext(connection) as after:
        response = client.get(url)
    assert len(before) == len(after)
    html = response.content.decode()
    assert 'id="metric-table"' in html and "ROUGE-L" in html and "candidate-arm" in html
    # The fixed answers match no reference: exact match 0 against 0, no evidence either way.
    exact = response.context["metrics"].comparisons[0]
    assert (exact.metric, exact.difference.difference, exact.difference.p_value, exact.significant) == (
        "exact_match", 0.0, 1.0, False)


def test_the_significance_endpoint(open_study, users, api_for):
    response = api_for(users["ml_engineer"]).get(f"/api/v1/studies/{open_study.pk}/significance/")
    body = response.json()
    assert (response.status_code, body["significance_level"], body["resamples"], body["label_like"]) == (
        200, 0.05, 10000, False)
    assert [row["metric"] for row in body["metrics"]] == ["exact_match", "bleu", "rouge_l"]
    assert (body["metrics_by_label"], body["support_by_label"]) == ([], [])
    assert api_for(users["crowd_annotator"]).get(f"/api/v1/studies/{open_study.pk}/significance/").status_code == 404

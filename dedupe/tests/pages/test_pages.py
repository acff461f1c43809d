"""The dedupe pages: run list and form, review page (histogram, pairs side by side, clusters), override, apply."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.models import Role
from datahub.models import DatasetVersion
from datahub.services.records import records_bulk_create
from dedupe.models import DedupeDecision, DedupeRun
from dedupe.services import dedupe_run_create, dedupe_run_execute
from dedupe.tests.conftest import chat

EDITORS = {"admin", "ml_engineer"}
VIEWERS = {"admin", "ml_engineer", "product_manager"}


def logged_in(client, user):
    client.force_login(user)
    return client


def finished_run(dataset, **options) -> DedupeRun:
    return dedupe_run_execute(run=dedupe_run_create(dataset=dataset, run_in_background=False, **options))


def test_the_form_starts_a_dry_run_after_commit(client, users, support_dataset, django_capture_on_commit_callbacks):
    page = logged_in(client, users["ml_engineer"])
    url = reverse("dedupe:run-list", args=[support_dataset.pk])
    assert 'id="dedupe-form"' in page.get(url).content.decode()
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = page.post(
            url, {"use_exact": "on", "use_near": "on", "near_threshold": "0.8", "cosine_threshold": "0.95", "seed": "0"}
        )
    run = DedupeRun.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("dedupe:run-detail", args=[run.pk])
    assert (run.use_exact, run.use_near, run.use_semantic, run.status) == (True, True, False, "queued")
    assert len(callbacks) == 1  # the job was enqueued once the run was committed


def test_a_form_error_is_shown_and_nothing_is_created(client, users, support_dataset):
    response = logged_in(client, users["ml_engineer"]).post(
        reverse("dedupe:run-list", args=[support_dataset.pk]),
        {"near_threshold": "0.8", "cosine_threshold": "0.95", "seed": "0"},
    )
    assert response.status_code == 400
    assert "choose at least one stage" in response.content.decode()
    assert DedupeRun.objects.count() == 0


def test_review_page_shows_pairs_side_by_side_clusters_and_the_apply_button(client, users, support_dataset):
    run = finished_run(support_dataset)
    html = logged_in(client, users["ml_engineer"]).get(reverse("dedupe:run-detail", args=[run.pk])).content.decode()
    assert 'id="dedupe-histogram"' in html and 'id="dedupe-chart"' in html
    assert html.count('class="card dedupe-pair"') == 4  # four duplicates, no near-miss above the floors
    assert html.count('<div class="side-by-side">') == 4
    assert html.count('class="dedupe-decision"') == 8 + 8  # each record in a pair, and each in its cluster row
    assert 'id="apply-button"' in html
    assert "我的包裹什么时候到？" in html
    assert "These records have no splits yet" in html


def test_review_page_escapes_record_text(client, users, support_dataset, forum):
    records_bulk_create(dataset=support_dataset, source=forum, rows=[
        chat({"instruction": "<script>alert(1)</script> How do I reset my password?", "output": "x"}),
        chat({"instruction": "<script>alert(1)</script> how do I reset my password", "output": "x"})])
    run = finished_run(support_dataset, use_semantic=False)
    html = logged_in(client, users["ml_engineer"]).get(reverse("dedupe:run-detail", args=[run.pk])).content.decode()
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_a_product_manager_sees_the_review_without_buttons(client, users, support_dataset):
    run = finished_run(support_dataset, use_semantic=False)
    html = logged_in(client, users["product_manager"]).get(reverse("dedupe:run-detail", args=[run.pk])).content.decode()
    assert 'id="apply-button"' not in html and 'class="flip"' not in html
    list_html = client.get(reverse("dedupe:run-list", args=[support_dataset.pk])).content.decode()
    assert 'id="dedupe-form"' not in list_html and f'id="dedupe-run-{run.pk}"' in list_html


@pytest.mark.parametrize("role", [*Role.values, "outsider"])
def test_override_and_apply_pages_check_permissions(client, users, support_dataset, role):
    run = finished_run(support_dataset, use_semantic=False)
    decision = DedupeDecision.objects.filter(run=run, action="drop").first()
    page = logged_in(client, users[role])
    override = page.post(
        reverse("dedupe:decision-override", args=[decision.pk]), {"action": "keep"}, HTTP_HX_REQUEST="true"
    )
    apply = page.post(reverse("dedupe:run-apply", args=[run.pk]))
    expected = (200, 302) if role in EDITORS else (403, 403) if role in VIEWERS else (404, 404)
    assert (override.status_code, apply.status_code) == expected
    decision.refresh_from_db()
    assert decision.action == ("keep" if role in EDITORS else "drop")
    assert DatasetVersion.objects.count() == (1 if role in EDITORS else 0)
    if role in EDITORS:
        assert 'data-action="keep"' in override.content.decode()
        version = DatasetVersion.objects.get()
        assert apply["Location"] == reverse("datahub:version-detail", args=[version.pk])
        assert sum(version.counts.values()) == 11 - 2


def test_the_flip_button_toggles_without_an_action(client, users, support_dataset):
    run = finished_run(support_dataset, use_semantic=False)
    decision = DedupeDecision.objects.filter(run=run, action="keep").first()
    page = logged_in(client, users["ml_engineer"])
    url = reverse("dedupe:decision-override", args=[decision.pk])
    assert 'data-action="drop"' in page.post(url, HTTP_HX_REQUEST="true").content.decode()
    assert 'data-action="keep"' in page.post(url, HTTP_HX_REQUEST="true").content.decode()


def _queries(client, url) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return len(captured)


def test_pages_cost_the_same_for_one_row_and_ten(client, users, support_dataset, forum):
    page = logged_in(client, users["ml_engineer"])
    one = finished_run(support_dataset, use_near=False, use_semantic=False)
    counts_one = (_queries(page, reverse("dedupe:run-list", args=[support_dataset.pk])),
                  _queries(page, reverse("dedupe:run-detail", args=[one.pk])))
    rows = [chat({"instruction": f"Question {n}", "output": f"The answer to question number {n}."}) for n in range(9)]
    rows += [chat({"instruction": f"question {n}!", "output": f"the answer to question number {n}"}) for n in range(9)]
    records_bulk_create(dataset=support_dataset, rows=rows, source=forum)
    for _ in range(8):
        finished_run(support_dataset, use_near=False, use_semantic=False)
    ten = finished_run(support_dataset, use_near=False, use_semantic=False)
    assert ten.cluster_count == 10 and DedupeRun.objects.count() == 10
    counts_ten = (_queries(page, reverse("dedupe:run-list", args=[support_dataset.pk])),
                  _queries(page, reverse("dedupe:run-detail", args=[ten.pk])))
    assert counts_one == counts_ten


def test_progress_card_polls_while_queued_and_refreshes_the_page_when_done(client, users, support_dataset):
    run = dedupe_run_create(dataset=support_dataset, use_semantic=False, run_in_background=False)
    page = logged_in(client, users["product_manager"])
    url = reverse("dedupe:run-progress", args=[run.pk]) + "?poll=1"
    queued = page.get(url)
    assert 'hx-trigger="every 1s"' in queued.content.decode() and "HX-Refresh" not in queued
    dedupe_run_execute(run=run)
    done = page.get(url)
    assert done["HX-Refresh"] == "true" and "11 records, 3 clusters, 3 to drop." in done.content.decode()

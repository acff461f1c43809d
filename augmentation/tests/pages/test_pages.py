"""The augmentation pages: the same services as the API, escaped text, fixed query counts, permissions."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from augmentation.models import AugmentationRun, GradingRun, MixRun
from augmentation.services.grading import grading_run_create, grading_run_execute
from augmentation.services.review import candidates_accept_passing
from augmentation.services.runs import augmentation_run_create, augmentation_run_execute
from datahub.models import DatasetVersion

pytestmark = pytest.mark.django_db


def _run(version, **options):
    return augmentation_run_execute(run=augmentation_run_create(version=version, methods=["eda"], options=options,
                                                                    run_in_background=False))


def test_start_a_run_from_the_form(client, users, version, django_capture_on_commit_callbacks):
    client.force_login(users["ml_engineer"])
    page = client.get(reverse("augmentation:run-create", args=[version.pk]))
    assert page.status_code == 200 and b"augment-form" in page.content
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("augmentation:run-create", args=[version.pk]),
                               {"methods": ["eda"], "seed": 0, "limit": 0, "eda_variants": 2, "eda_alpha": 0.1,
                                "eda_operations": ["synonym", "swap"], "paraphrase_n": 2, "pivot_language": "German"})
    run = AugmentationRun.objects.get()
    assert response.status_code == 302 and response.url == reverse("augmentation:run-detail", args=[run.pk])
    assert run.options["eda_operations"] == ["synonym", "swap"] and run.options["eda_variants"] == 2


def test_paraphrase_without_endpoint_shows_the_error_beside_the_field(client, users, version):
    client.force_login(users["ml_engineer"])
    response = client.post(reverse("augmentation:run-create", args=[version.pk]),
                           {"methods": ["paraphrase"], "seed": 0, "limit": 0, "eda_variants": 4, "eda_alpha": 0.1,
                            "eda_operations": ["synonym"], "paraphrase_n": 2, "pivot_language": "German"})
    assert response.status_code == 400
    assert "need a model endpoint" in response.content.decode()
    assert AugmentationRun.objects.count() == 0


def test_review_page_escapes_and_decides_by_htmx(client, users, make_version):
    version = make_version(train=[("<script>alert(1)</script> please help me", "ok.")])
    run = _run(version)
    client.force_login(users["ml_engineer"])
    page = client.get(reverse("augmentation:review", args=[run.pk])).content.decode()
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    candidate = run.candidates.order_by("pk").first()
    row = client.post(reverse("augmentation:candidate-decide", args=[run.pk, candidate.pk]), {"decision": "accepted"},
                      HTTP_HX_REQUEST="true")
    assert row.status_code == 200 and "decision-accepted" in row.content.decode()
    response = client.post(reverse("augmentation:run-accept", args=[run.pk]))
    new = DatasetVersion.objects.get(operation="augmentation")
    assert response.url == reverse("datahub:version-detail", args=[new.pk])


def test_review_page_cost_is_flat(client, users, make_version, django_assert_num_queries):
    client.force_login(users["ml_engineer"])
    one = _run(make_version(train=[("Please help me", "ok.")], name="One"), eda_variants=1)
    ten = _run(make_version(train=[("Please help me", "ok.")], name="Ten"), eda_variants=10)
    with CaptureQueriesContext(connection) as first:
        assert (
            client.get(reverse("augmentation:review", args=[one.pk])).content.decode().count('class="candidate ') == 1
        )
    with django_assert_num_queries(len(first.captured_queries)):
        assert (
            client.get(reverse("augmentation:review", args=[ten.pk])).content.decode().count('class="candidate ') == 10
        )


def test_dataset_runs_page_cost_is_flat(client, users, version, django_assert_num_queries):
    client.force_login(users["ml_engineer"])
    url = reverse("augmentation:dataset-runs", args=[version.dataset_id])
    _run(version)
    with CaptureQueriesContext(connection) as first:
        client.get(url)
    for _ in range(9):
        _run(version)
    with django_assert_num_queries(len(first.captured_queries)):
        assert client.get(url).content.decode().count("/augment/runs/") == 10


def test_a_product_manager_sees_but_cannot_change(client, users, version):
    run = _run(version)
    client.force_login(users["product_manager"])
    assert client.get(reverse("augmentation:review", args=[run.pk])).status_code == 200
    assert b"accept-run-form" not in client.get(reverse("augmentation:review", args=[run.pk])).content
    assert client.post(reverse("augmentation:accept-passing", args=[run.pk])).status_code == 403
    assert client.get(reverse("augmentation:run-create", args=[version.pk])).status_code == 403
    assert (
        client.post(reverse("augmentation:mix-create", args=[version.dataset_id]), {"total_size": 2}).status_code == 403
    )
    assert run.candidates.filter(decision="accepted").count() == 0
    assert MixRun.objects.count() == 0


def test_an_outsider_gets_404(client, users, version, aug_source):
    run = _run(version)
    client.force_login(users["outsider"])
    for url in (
        reverse("augmentation:review", args=[run.pk]),
        reverse("augmentation:source-quality", args=[aug_source.pk]),
        reverse("augmentation:dataset-runs", args=[version.dataset_id]),
    ):
        assert client.get(url).status_code == 404


def test_mix_from_the_form(client, users, version, aug_source, django_capture_on_commit_callbacks):
    client.force_login(users["ml_engineer"])
    assert client.get(reverse("augmentation:mix-create", args=[version.dataset_id])).status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("augmentation:mix-create", args=[version.dataset_id]),
                               {"total_size": 2, "seed": 0, f"source_{aug_source.pk}": 1.0})
    run = MixRun.objects.get()
    assert response.url == reverse("augmentation:mix-detail", args=[run.pk])
    assert run.ingredients == [{"kind": "source", "id": aug_source.pk, "ratio": 1.0, "name": "Help desk"}]


def test_quality_report_page(client, users, version, aug_source, django_assert_num_queries):
    grading_run_execute(run=grading_run_create(source=aug_source, run_in_background=False))
    client.force_login(users["ml_engineer"])
    url = reverse("augmentation:source-quality", args=[aug_source.pk])
    page = client.get(url).content.decode()
    assert 'id="quality-chart"' in page and 'id="worst-records"' in page and "plotly.min.js" in page
    assert '<dd id="suggested-tier">A</dd>' in page
    with CaptureQueriesContext(connection) as first:
        client.get(url)
    for _ in range(3):
        grading_run_execute(run=grading_run_create(source=aug_source, run_in_background=False))
    with django_assert_num_queries(len(first.captured_queries)):
        client.get(url)
    response = client.post(reverse("augmentation:source-tier", args=[aug_source.pk]), {"quality_tier": "C"})
    assert response.status_code == 302
    aug_source.refresh_from_db()
    assert aug_source.quality_tier == "C"
    assert GradingRun.objects.count() == 4


def test_accept_passing_from_the_page(client, users, version):
    run = _run(version, seed=1)
    client.force_login(users["ml_engineer"])
    client.post(reverse("augmentation:accept-passing", args=[run.pk]))
    assert run.candidates.filter(decision="accepted").count() == 12
    assert candidates_accept_passing(run=run) == 0

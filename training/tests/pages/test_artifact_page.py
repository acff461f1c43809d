"""The trained model's page: its exports with their checks, the buttons that queue them, fixed queries."""

import pytest
from django.urls import reverse

from training.models import ModelExport
from training.services.exports import _export_finish, model_export_request

pytestmark = pytest.mark.django_db


def test_export_buttons_queue_an_export_and_hide_its_format(client, users, tiny_artifact,
                                                            django_capture_on_commit_callbacks):
    client.force_login(users["ml_engineer"])
    url = reverse("training:artifact-detail", args=[tiny_artifact.pk])
    page = client.get(url).content.decode()
    assert page.count('name="format"') == 3
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("training:artifact-export", args=[tiny_artifact.pk]), {"format": "onnx"})
    assert response.status_code == 302
    assert ModelExport.objects.get().status == ModelExport.Status.QUEUED
    page = client.get(url).content.decode()
    assert page.count('name="format"') == 2
    assert 'value="onnx"' not in page
    assert 'hx-trigger="every 3s"' in page  # follows the queued export


def test_a_verified_export_shows_both_answers_escaped(client, users, tiny_artifact):
    export = model_export_request(artifact=tiny_artifact, format="vllm", enqueue=False)
    ModelExport.objects.filter(pk=export.pk).update(status=ModelExport.Status.RUNNING)
    _export_finish(export, status=ModelExport.Status.SUCCEEDED, command="vllm serve /m",
                   verification={"prompt": "Hi", "source_tokens": [5], "export_tokens": [5], "source_text": "<b>x",
                                 "export_text": "<b>x", "runtime": "transformers", "same": True})
    client.force_login(users["product_manager"])
    page = client.get(reverse("training:artifact-detail", args=[tiny_artifact.pk])).content.decode()
    assert "same tokens" in page
    assert page.count("&lt;b&gt;x") == 2
    assert "vllm serve /m" in page
    assert 'name="format"' not in page  # a product manager may look, not export
    assert "hx-trigger" not in page


def test_a_product_manager_cannot_export_and_an_outsider_cannot_see(client, users, tiny_artifact):
    client.force_login(users["product_manager"])
    assert client.post(reverse("training:artifact-export", args=[tiny_artifact.pk]), {"format": "onnx"}).status_code \
        == 403
    client.force_login(users["outsider"])
    assert client.get(reverse("training:artifact-detail", args=[tiny_artifact.pk])).status_code == 404
    assert ModelExport.objects.count() == 0


def test_artifact_page_costs_the_same_for_1_and_3_exports(client, users, tiny_artifact, django_assert_num_queries):
    client.force_login(users["ml_engineer"])
    url = reverse("training:artifact-detail", args=[tiny_artifact.pk])
    model_export_request(artifact=tiny_artifact, format="vllm", enqueue=False)
    client.get(url)
    # session, user, the artifact through access, the exports, the user's memberships (the launch check, the menu)
    with django_assert_num_queries(6) as one:
        client.get(url)
    model_export_request(artifact=tiny_artifact, format="onnx", enqueue=False)
    model_export_request(artifact=tiny_artifact, format="merged_bf16", enqueue=False)
    with django_assert_num_queries(6):
        client.get(url)
    assert sum('FROM "training_modelexport"' in query["sql"] for query in one.captured_queries) == 1

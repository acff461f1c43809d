"""The exports API: who may list and queue exports, what a queued export looks like, fixed queries."""

import pytest

from training.models import ModelExport
from training.services.exports import model_export_request

VIEWERS = {"admin", "ml_engineer", "product_manager"}
LAUNCHERS = {"admin", "ml_engineer"}
ALL = ["admin", "ml_engineer", "product_manager", "reviewer", "crowd_annotator", "outsider"]

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("who", ALL)
def test_queue_an_export_by_role(who, users, api_for, tiny_artifact, django_capture_on_commit_callbacks):
    from django_tasks_db.models import DBTaskResult

    DBTaskResult.objects.all().delete()
    with django_capture_on_commit_callbacks(execute=True):
        response = api_for(users[who]).post(f"/api/v1/model-artifacts/{tiny_artifact.pk}/exports/",
                                            {"format": "onnx"}, format="json")
    if who in LAUNCHERS:
        export = ModelExport.objects.get()
        assert response.status_code == 202
        assert {key: response.json()[key] for key in ("id", "artifact", "format", "status", "is_verified")} == {
            "id": export.pk, "artifact": tiny_artifact.pk, "format": "onnx", "status": "queued", "is_verified": None}
        job = DBTaskResult.objects.get()
        assert (job.task_path, job.queue_name, job.args_kwargs["kwargs"]) == (
            "training.tasks.model_export_run_task", "gpu", {"export_id": export.pk})
    else:
        assert response.status_code == (403 if who in VIEWERS else 404)
        assert ModelExport.objects.count() == 0
        assert DBTaskResult.objects.count() == 0


def test_an_unknown_format_and_a_repeated_export_are_refused_saying_where(users, api_for, tiny_artifact):
    client = api_for(users["ml_engineer"])
    url = f"/api/v1/model-artifacts/{tiny_artifact.pk}/exports/"
    response = client.post(url, {"format": "gguf"}, format="json")
    assert response.status_code == 400
    assert response.json()["where"] == "format"
    assert client.post(url, {"format": "vllm"}, format="json").status_code == 202
    again = client.post(url, {"format": "vllm"}, format="json")
    assert again.status_code == 409
    assert (again.json()["where"], again.json()["code"]) == ("format", "conflict")
    assert ModelExport.objects.count() == 1


def test_export_list_costs_the_same_for_1_and_3_exports(users, api_for, tiny_artifact, django_assert_num_queries):
    client = api_for(users["product_manager"])
    url = f"/api/v1/model-artifacts/{tiny_artifact.pk}/exports/"
    model_export_request(artifact=tiny_artifact, format="vllm", enqueue=False)
    with django_assert_num_queries(3):  # token auth, the artifact through access, the exports
        assert [row["format"] for row in client.get(url).json()] == ["vllm"]
    model_export_request(artifact=tiny_artifact, format="onnx", enqueue=False)
    model_export_request(artifact=tiny_artifact, format="merged_bf16", enqueue=False)
    with django_assert_num_queries(3):
        assert [row["format"] for row in client.get(url).json()] == ["merged_bf16", "onnx", "vllm"]

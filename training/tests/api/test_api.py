import pytest

from training.models import BaseModel, ModelArtifact, TrainingRun
from training.services.runs import training_run_create

VIEWERS = {"admin", "ml_engineer", "product_manager"}
LAUNCHERS = {"admin", "ml_engineer"}
ALL = [
    "admin",
    "ml_engineer",
    "product_manager",
    "reviewer",
    "expert_annotator",
    "staff_annotator",
    "crowd_annotator",
    "outsider",
]


def launch(workspace, base_model, version, name="run"):
    return training_run_create(workspace=workspace, name=name, base_model=base_model, dataset_version=version,
                               hyperparameters={"max_steps": 2})


@pytest.fixture
def run(workspace, tiny_base_model, sft_version):
    return launch(workspace, tiny_base_model, sft_version)


@pytest.mark.parametrize("who", ALL)
def test_run_list_and_detail_by_role(who, users, api_for, run):
    client = api_for(users[who])
    listed = client.get("/api/v1/training/runs/").json()
    detail = client.get(f"/api/v1/training/runs/{run.pk}/")
    metrics = client.get(f"/api/v1/training/runs/{run.pk}/metrics/")
    if who in VIEWERS:
        assert [r["id"] for r in listed["results"]] == [run.pk]
        assert (detail.status_code, metrics.status_code) == (200, 200)
    else:
        assert listed["results"] == []
        assert (detail.status_code, metrics.status_code) == (404, 404)


@pytest.mark.parametrize("who", ALL)
def test_run_launch_by_role(
    who, users, api_for, workspace, tiny_base_model, sft_version, django_capture_on_commit_callbacks
):
    body = {
        "workspace": workspace.pk,
        "name": "api run",
        "base_model": tiny_base_model.pk,
        "dataset_version": sft_version.pk,
        "hyperparameters": {"learning_rate": 5e-5, "max_steps": 3},
    }
    with django_capture_on_commit_callbacks(execute=False):
        response = api_for(users[who]).post("/api/v1/training/runs/", body, format="json")
    if who in LAUNCHERS:
        assert response.status_code == 201
        run = TrainingRun.objects.get()
        assert response.json()["id"] == run.pk
        assert (run.name, run.created_by, run.hyperparameters["learning_rate"], run.hyperparameters["max_steps"]) == (
            "api run", users[who], 5e-5, 3)
    else:
        assert response.status_code == (403 if who == "product_manager" else 404)
        assert TrainingRun.objects.count() == 0


@pytest.mark.parametrize("who", ALL)
def test_run_cancel_by_role(who, users, api_for, run):
    response = api_for(users[who]).post(f"/api/v1/training/runs/{run.pk}/cancel/")
    run.refresh_from_db()
    if who in LAUNCHERS:
        assert response.status_code == 200
        assert response.json()["status"] == "cancelled"
        assert run.status == TrainingRun.Status.CANCELLED
    else:
        assert response.status_code == (403 if who == "product_manager" else 404)
        assert run.status == TrainingRun.Status.QUEUED


@pytest.mark.parametrize("who", ALL)
def test_base_model_register_by_role(who, users, api_for, workspace, tiny_model_dir):
    response = api_for(users[who]).post(
        "/api/v1/base-models/", {"workspace": workspace.pk, "name": "tiny", "path": str(tiny_model_dir)}, format="json"
    )
    if who in LAUNCHERS:
        assert response.status_code == 201
        body = response.json()
        assert (body["name"], body["architecture"], body["has_chat_template"], body["warnings"]) == (
            "tiny",
            "LlamaForCausalLM",
            True,
            [],
        )
        assert BaseModel.objects.count() == 1
    else:
        assert response.status_code == (403 if who == "product_manager" else 404)
        assert BaseModel.objects.count() == 0


@pytest.mark.parametrize("who", ALL)
def test_base_model_and_artifact_lists_by_role(who, users, api_for, tiny_artifact):
    client = api_for(users[who])
    base_models = client.get("/api/v1/base-models/").json()["results"]
    artifacts = client.get("/api/v1/model-artifacts/").json()["results"]
    if who in VIEWERS:
        assert [m["name"] for m in base_models] == ["tiny-chat"]
        assert [(a["id"], a["kind"], a["run"], a["base_model_name"]) for a in artifacts] == [
            (tiny_artifact.pk, "adapter", tiny_artifact.run_id, "tiny-chat")]
    else:
        assert (base_models, artifacts) == ([], [])


def test_launch_names_the_bad_field(users, api_for, workspace, tiny_base_model, sft_version):
    body = {"workspace": workspace.pk, "name": "x", "base_model": tiny_base_model.pk, "dataset_version": sft_version.pk,
            "hyperparameters": {"lora_r": 0}}
    response = api_for(users["ml_engineer"]).post("/api/v1/training/runs/", body, format="json")
    assert response.status_code == 400
    assert response.json() == {
        "detail": "lora_r must be between 1 and 1024, not 0",
        "where": "hyperparameters.lora_r",
        "code": "invalid",
    }


def test_launch_with_a_base_model_of_another_workspace_is_unknown(
    users, api_for, workspace, other_workspace, sft_version, tiny_model_dir
):
    from training.services.base_models import base_model_register

    foreign = base_model_register(workspace=other_workspace, name="theirs", path=str(tiny_model_dir))
    body = {"workspace": workspace.pk, "name": "x", "base_model": foreign.pk, "dataset_version": sft_version.pk}
    response = api_for(users["ml_engineer"]).post("/api/v1/training/runs/", body, format="json")
    assert response.json() == {"detail": "unknown base model", "where": "base_model", "code": "invalid"}


def test_register_a_missing_path_names_it(users, api_for, workspace, tmp_path):
    response = api_for(users["ml_engineer"]).post(
        "/api/v1/base-models/", {"workspace": workspace.pk, "name": "x", "path": str(tmp_path)}, format="json"
    )
    assert response.status_code == 400
    assert response.json() == {"detail": f"no config.json in {tmp_path}", "where": "path", "code": "invalid"}


def test_cancel_a_finished_run_is_a_clear_error(users, api_for, run):
    client = api_for(users["ml_engineer"])
    client.post(f"/api/v1/training/runs/{run.pk}/cancel/")
    response = client.post(f"/api/v1/training/runs/{run.pk}/cancel/")
    assert response.status_code == 409
    assert response.json() == {
        "detail": "run 'run' has already finished (cancelled)",
        "where": "status",
        "code": "conflict",
    }


def test_metrics_returns_points_after_an_id_and_the_series(users, api_for, run):
    from training.services.execution import metric_points_ingest

    metric_points_ingest(run=run, rows=[{"step": 1, "epoch": 0.5, "values": {"loss": 2.5}},
                                        {"step": 2, "epoch": 1.0, "values": {"loss": 2.0, "eval_loss": 2.2}}])
    client = api_for(users["product_manager"])
    body = client.get(f"/api/v1/training/runs/{run.pk}/metrics/").json()
    assert body["series"] == {"loss": {"step": [1, 2], "value": [2.5, 2.0]}, "eval_loss": {"step": [2], "value": [2.2]}}
    assert body["status"] == "queued"
    first_id = body["points"][0]["id"]
    later = client.get(f"/api/v1/training/runs/{run.pk}/metrics/?after={first_id}").json()
    assert [p["step"] for p in later["points"]] == [2]
    assert later["last_id"] == body["last_id"] == first_id + 1
    nothing_new = client.get(f"/api/v1/training/runs/{run.pk}/metrics/?after={body['last_id']}").json()
    assert (nothing_new["points"], nothing_new["last_id"]) == ([], body["last_id"])


def test_run_detail_carries_the_log_tail(users, api_for, run, settings):
    log = settings.STORAGE_ROOT / run.output_dir / "log.txt"
    log.parent.mkdir(parents=True)
    log.write_text("".join(f"line {i}\n" for i in range(100)))
    body = api_for(users["ml_engineer"]).get(f"/api/v1/training/runs/{run.pk}/").json()
    assert body["log_tail"] == "\n".join(f"line {i}" for i in range(60, 100))
    assert (body["base_model_name"], body["dataset_version_name"], body["artifact"]) == (
        "tiny-chat",
        "support v1",
        None,
    )


def test_run_list_costs_the_same_for_1_and_10_rows(
    users, api_for, workspace, tiny_base_model, sft_version, django_assert_num_queries
):
    client = api_for(users["ml_engineer"])
    launch(workspace, tiny_base_model, sft_version, name="r0")
    with django_assert_num_queries(3):  # token auth, count, page: nothing per row
        assert len(client.get("/api/v1/training/runs/").json()["results"]) == 1
    for i in range(1, 10):
        launch(workspace, tiny_base_model, sft_version, name=f"r{i}")
    with django_assert_num_queries(3):
        assert len(client.get("/api/v1/training/runs/").json()["results"]) == 10


def test_artifact_and_base_model_lists_cost_the_same_for_1_and_10_rows(
    users, api_for, workspace, tiny_artifact, tiny_adapter_dir, tiny_model_dir, django_assert_num_queries
):
    from training.services.artifacts import model_artifact_register
    from training.services.base_models import base_model_register

    client = api_for(users["ml_engineer"])
    with django_assert_num_queries(3):
        assert len(client.get("/api/v1/model-artifacts/").json()["results"]) == 1
    with django_assert_num_queries(3):
        assert len(client.get("/api/v1/base-models/").json()["results"]) == 1
    for i in range(9):
        base_model = base_model_register(workspace=workspace, name=f"m{i}", path=str(tiny_model_dir))
        run = launch(workspace, base_model, tiny_artifact.dataset_version, name=f"r{i}")
        model_artifact_register(run=run, path=str(tiny_adapter_dir))
    with django_assert_num_queries(3):
        assert len(client.get("/api/v1/model-artifacts/").json()["results"]) == 10
    with django_assert_num_queries(3):
        assert len(client.get("/api/v1/base-models/").json()["results"]) == 10
    assert ModelArtifact.objects.count() == 10


@pytest.mark.parametrize("who", ALL)
def test_preflight_by_role_shows_memory_and_preview_and_creates_nothing(who, users, api_for, workspace, tiny_base_model,
                                                                        sft_version, settings):
    settings.TRAINING_DEVICE_MEMORY_GB = 16
    body = {"workspace": workspace.pk, "base_model": tiny_base_model.pk, "dataset_version": sft_version.pk,
            "hyperparameters": {"assistant_only_loss": True, "max_length": 128}}
    response = api_for(users[who]).post("/api/v1/training/runs/preflight/", body, format="json")
    assert TrainingRun.objects.count() == 0
    if who not in LAUNCHERS:
        assert response.status_code == (403 if who == "product_manager" else 404)
        return
    assert response.status_code == 200
    body = response.json()
    assert set(body["memory"]["parts"]) == {"weights", "trainable", "activations", "logits", "overhead", "total"}
    assert (body["memory"]["device_gib"], body["memory"]["fits"]) == (16.0, True)
    assert body["hyperparameters"]["max_length"] == 128
    assert [s["state"] for s in body["preview"]["examples"][0]["segments"]] == ["masked", "trained", "masked"]
    assert body["preview"]["lengths"]["count"] == 10
    assert body["preview"]["warnings"] == []


def test_launch_that_does_not_fit_is_refused_unless_overridden(
    users, api_for, workspace, tiny_base_model, sft_version, settings, django_capture_on_commit_callbacks
):
    settings.TRAINING_DEVICE_MEMORY_GB = 0.5
    client = api_for(users["ml_engineer"])
    body = {
        "workspace": workspace.pk,
        "name": "big",
        "base_model": tiny_base_model.pk,
        "dataset_version": sft_version.pk,
    }

    refused = client.post("/api/v1/training/runs/", body, format="json")
    assert refused.status_code == 400
    assert (refused.json()["where"], refused.json()["code"]) == ("memory", "memory")
    assert TrainingRun.objects.count() == 0

    with django_capture_on_commit_callbacks(execute=False):
        launched = client.post("/api/v1/training/runs/", {**body, "override_memory": True}, format="json")
    assert launched.status_code == 201
    assert (launched.json()["memory_override"], launched.json()["memory_estimate"]["fits"]) == (True, False)


@pytest.mark.parametrize("who", ALL)
def test_retry_by_role(who, users, api_for, run):
    from training.services.runs import training_run_cancel

    training_run_cancel(run=run)
    response = api_for(users[who]).post(
        f"/api/v1/training/runs/{run.pk}/retry/", {"hyperparameters": {"lora_r": 4}}, format="json"
    )
    if who in LAUNCHERS:
        assert response.status_code == 201
        body = response.json()
        assert (body["parent"], body["resume_from_step"], body["hyperparameters"]["lora_r"], body["name"]) == (
            run.pk, None, 4, "run (retry)")
        assert TrainingRun.objects.count() == 2
    else:
        assert response.status_code == (403 if who == "product_manager" else 404)
        assert TrainingRun.objects.count() == 1


def test_resume_without_a_checkpoint_names_the_reason(users, api_for, run):
    from training.services.runs import training_run_cancel

    training_run_cancel(run=run)
    response = api_for(users["ml_engineer"]).post(
        f"/api/v1/training/runs/{run.pk}/retry/", {"resume": True}, format="json"
    )
    assert response.status_code == 400
    assert (response.json()["where"], response.json()["detail"]) == (
        "resume",
        "run 'run' left no checkpoint to resume from",
    )


def test_run_detail_lists_checkpoints(users, api_for, run, settings):
    from training.services.execution import checkpoints_record

    for step in (2, 4):
        directory = settings.STORAGE_ROOT / run.output_dir / "checkpoints" / f"checkpoint-{step}"
        directory.mkdir(parents=True)
        (directory / "trainer_state.json").write_text("{}")
    checkpoints_record(run=run)
    body = api_for(users["product_manager"]).get(f"/api/v1/training/runs/{run.pk}/").json()
    run_dir = f"workspaces/{run.workspace_id}/runs/{run.pk}"
    assert body["checkpoints"] == [{"step": 2, "path": f"{run_dir}/checkpoints/checkpoint-2"},
                                   {"step": 4, "path": f"{run_dir}/checkpoints/checkpoint-4"}]


@pytest.mark.parametrize("who", ALL)
def test_artifact_download_streams_a_zip_by_role(who, users, api_for, tiny_artifact, tiny_adapter_dir):
    import io
    import zipfile

    response = api_for(users[who]).get(f"/api/v1/model-artifacts/{tiny_artifact.pk}/download/")
    if who not in VIEWERS:
        assert response.status_code == 404
        return
    assert response.status_code == 200
    assert response["Content-Disposition"] == f'attachment; filename="tiny-tuned-{tiny_artifact.pk}.zip"'
    archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
    expected = sorted(
        f"tiny-tuned/{p.relative_to(tiny_adapter_dir).as_posix()}" for p in tiny_adapter_dir.rglob("*") if p.is_file()
    )
    assert sorted(archive.namelist()) == expected
    assert archive.read("tiny-tuned/adapter_config.json") == (tiny_adapter_dir / "adapter_config.json").read_bytes()


@pytest.mark.parametrize("who", ALL)
def test_merge_request_by_role_queues_the_job(who, users, api_for, tiny_artifact, django_capture_on_commit_callbacks):
    from django_tasks_db.models import DBTaskResult

    DBTaskResult.objects.all().delete()
    with django_capture_on_commit_callbacks(execute=True):
        response = api_for(users[who]).post(f"/api/v1/model-artifacts/{tiny_artifact.pk}/merge/")
    if who in LAUNCHERS:
        assert (response.status_code, response.json()) == (202, {"artifact": tiny_artifact.pk, "status": "queued"})
        job = DBTaskResult.objects.get()
        assert (job.task_path, job.queue_name) == ("training.tasks.model_artifact_merge_task", "gpu")
    else:
        assert response.status_code == (403 if who == "product_manager" else 404)
        assert DBTaskResult.objects.count() == 0


@pytest.mark.parametrize("who", ALL)
def test_recommend_by_role(who, users, api_for, settings, tiny_base_model, sft_version):
    settings.TRAINING_DEVICE_MEMORY_GB = 24
    response = api_for(users[who]).get(
        f"/api/v1/training/runs/recommend/?version={sft_version.pk}&base_model={tiny_base_model.pk}&lora_r=64")
    if who in VIEWERS:
        assert response.status_code == 200
        body = response.json()
        assert (body["goal"], body["adapter"], body["facts"]["records"]) == ("knowledge", "lora", 10)
        assert body["hyperparameters"]["lora_r"] == 16
        assert body["warnings"] == [
            "10 examples will not teach a model knowledge; the brief suggests 3,000–10,000 for knowledge",
            "rank 64 is high for 10 records: the adapter can memorise them; 8–16 is enough"]
    else:
        assert response.status_code == 404


def test_recommend_names_a_bad_goal(users, api_for, tiny_base_model, sft_version):
    response = api_for(users["ml_engineer"]).get(
        f"/api/v1/training/runs/recommend/?version={sft_version.pk}&base_model={tiny_base_model.pk}&goal=poetry")
    assert response.status_code == 400
    assert (response.json()["where"], response.json()["detail"]) == ("goal", '"poetry" is not a valid choice.')

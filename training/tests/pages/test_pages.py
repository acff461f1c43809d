"""The training pages: they call the same services, show errors where they belong, escape data, and cost fixed
queries."""

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from training.models import BaseModel, TrainingRun
from training.services.artifacts import model_artifact_register
from training.services.execution import metric_points_ingest
from training.services.runs import training_run_create, training_run_finish, training_run_start


@pytest.fixture
def browser(client):
    def login(user):
        client.force_login(user)
        return client

    return login


def launch(workspace, base_model, version, name="first run", **hyperparameters):
    return training_run_create(workspace=workspace, name=name, base_model=base_model, dataset_version=version,
                               hyperparameters=hyperparameters)


def run_new_form(base_model, version, **overrides) -> dict:
    return {
        "name": "from the form",
        "base_model": base_model.pk,
        "dataset_version": version.pk,
        "method": "sft",
        "adapter": "lora",
        "learning_rate": "5e-5",
        "num_train_epochs": "3",
        "lora_r": "8",
        "lora_alpha": "16",
        **overrides,
    }


def test_nav_url_name_exists():
    assert reverse("training:run-list") == "/training/"


def test_run_list_shows_runs_artifacts_and_base_models(browser, users, tiny_artifact):
    page = browser(users["product_manager"]).get(reverse("training:run-list"))
    content = page.content.decode()
    assert page.status_code == 200
    assert '<span class="badge succeeded">Succeeded</span>' in content
    assert reverse("training:run-detail", args=[tiny_artifact.run_id]) in content
    assert 'id="artifacts"' in content and 'id="base-models"' in content
    # A product manager watches; launching and registering are for ML engineers.
    assert reverse("training:run-new") not in content
    assert 'id="base-model-create"' not in content


def test_run_list_is_empty_for_annotators(browser, users, tiny_artifact):
    content = browser(users["crowd_annotator"]).get(reverse("training:run-list")).content.decode()
    assert "No training runs yet." in content
    assert "tiny-chat" not in content


def test_run_list_costs_the_same_for_1_and_10_rows(
    browser, users, workspace, tiny_base_model, sft_version, tiny_adapter_dir
):
    client = browser(users["ml_engineer"])

    def add(i):
        run = launch(workspace, tiny_base_model, sft_version, name=f"run {i}")
        model_artifact_register(run=run, path=str(tiny_adapter_dir))

    add(0)
    with CaptureQueriesContext(connection) as one:
        assert client.get(reverse("training:run-list")).status_code == 200
    for i in range(1, 10):
        add(i)
    with CaptureQueriesContext(connection) as ten:
        content = client.get(reverse("training:run-list")).content.decode()
    assert content.count('<span class="badge queued">') == 10
    assert len(ten.captured_queries) == len(one.captured_queries)


def test_run_new_launches_through_the_service(
    browser, users, tiny_base_model, sft_version, django_capture_on_commit_callbacks
):
    client = browser(users["ml_engineer"])
    page = client.get(reverse("training:run-new") + f"?dataset_version={sft_version.pk}")
    content = page.content.decode()
    assert page.status_code == 200
    assert (
        "5e-5 – 1e-4 for LoRA" in content and "8 – 64" in content and "1 – 2 × rank" in content and "2 – 8" in content
    )
    assert f'<option value="{sft_version.pk}" selected>' in content

    # Post back what the page shows, as a browser would, with a name and two values changed.
    shown = dict(re.findall(r'<input type="number" name="(\w+)" value="([^"]*)"', content))
    assert shown["learning_rate"] == "0.0001" and "max_length" not in shown
    with django_capture_on_commit_callbacks(execute=False):
        response = client.post(reverse("training:run-new"), {**shown, **run_new_form(tiny_base_model, sft_version)})

    run = TrainingRun.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("training:run-detail", args=[run.pk])
    assert (run.name, run.created_by, run.hyperparameters["learning_rate"], run.hyperparameters["lora_r"]) == (
        "from the form", users["ml_engineer"], 5e-5, 8)
    # Left empty, max_length took the tiny model's context.
    assert (run.hyperparameters["max_length"], run.hyperparameters["gradient_accumulation_steps"]) == (512, 4)


def test_run_new_starts_with_a_version_that_fits_the_method(
    browser, users, tiny_base_model, sft_version, preference_version, kto_version, workspace
):
    from datahub.services.datasets import dataset_create

    dataset_create(workspace=workspace, name="empty one")  # no version: never offered
    client = browser(users["ml_engineer"])
    content = client.get(reverse("training:run-new")).content.decode()
    # SFT by default, with the (older) conversations version rather than the newest version, of preference pairs.
    assert f'<option value="{sft_version.pk}" selected>' in content and '<option value="sft" selected>' in content
    assert "support v1 (10 train, 2 validation) · Conversation (SFT)" in content
    assert "support preferences v1 (10 train, 2 validation) · Preference (DPO)" in content
    # Asking for a method picks a version of its kind; asking for a version picks the method its records fit.
    content = client.get(reverse("training:run-new") + "?method=kto").content.decode()
    assert f'<option value="{kto_version.pk}" selected>' in content and '<option value="kto" selected>' in content
    content = client.get(reverse("training:run-new") + f"?dataset_version={preference_version.pk}").content.decode()
    assert (
        f'<option value="{preference_version.pk}" selected>' in content and '<option value="dpo" selected>' in content
    )
    # What the page starts with passes the checks the preflight panel runs on load: no red error.
    shown = {
        "name": "x",
        "base_model": tiny_base_model.pk,
        "dataset_version": preference_version.pk,
        "method": "dpo",
        "adapter": "lora",
    }
    panel = client.post(reverse("training:run-preflight"), shown).content.decode()
    assert "trains on" not in panel


def test_run_new_shows_the_service_error_beside_its_field(browser, users, tiny_base_model, sft_version):
    response = browser(users["ml_engineer"]).post(reverse("training:run-new"),
                                                  run_new_form(tiny_base_model, sft_version, max_length="4096"))
    assert response.status_code == 400
    assert (
        "max_length 4096 is longer than the 512 tokens base model &#x27;tiny-chat&#x27; was built for"
        in response.content.decode()
    )
    assert TrainingRun.objects.count() == 0


def test_run_new_is_refused_to_a_product_manager(browser, users, tiny_base_model, sft_version):
    client = browser(users["product_manager"])
    assert client.get(reverse("training:run-new")).status_code == 302
    client.post(reverse("training:run-new"), run_new_form(tiny_base_model, sft_version))
    assert TrainingRun.objects.count() == 0


def test_run_detail_of_a_running_run_polls_and_offers_cancel(browser, users, workspace, tiny_base_model, sft_version):
    run = training_run_start(run=launch(workspace, tiny_base_model, sft_version, max_steps=10))
    client = browser(users["ml_engineer"])
    content = client.get(reverse("training:run-detail", args=[run.pk])).content.decode()
    assert f'hx-get="{reverse("training:run-status", args=[run.pk])}"' in content
    assert f'data-metrics-url="{reverse("api-training-run-metrics", args=[run.pk])}"' in content
    assert 'id="run-cancel"' in content
    assert "vendor/plotly/plotly.min.js" in content
    assert reverse("datahub:version-detail", args=[sft_version.pk]) in content

    response = client.post(reverse("training:run-cancel", args=[run.pk]))
    run.refresh_from_db()
    assert response.status_code == 302 and run.cancel_requested is True
    panel = client.get(reverse("training:run-status", args=[run.pk])).content.decode()
    assert "cancelling after the current step" in panel


def test_run_detail_of_a_failed_run_shows_why_escaped_and_stops_polling(
    browser, users, workspace, tiny_base_model, sft_version
):
    run = training_run_start(run=launch(workspace, tiny_base_model, sft_version))
    training_run_finish(
        run=run, status=TrainingRun.Status.FAILED, error="ValueError: <script>alert(1)</script> is not a model"
    )
    content = browser(users["product_manager"]).get(reverse("training:run-detail", args=[run.pk])).content.decode()
    assert "ValueError: &lt;script&gt;alert(1)&lt;/script&gt; is not a model" in content
    assert "hx-trigger" not in content
    assert 'id="run-cancel"' not in content


def test_run_detail_of_a_succeeded_run_shows_its_artifact(browser, users, tiny_artifact):
    content = (
        browser(users["ml_engineer"]).get(reverse("training:run-detail", args=[tiny_artifact.run_id])).content.decode()
    )
    assert 'id="run-artifact"' in content
    assert "Adapter “tiny-tuned”" in content


def test_run_detail_costs_the_same_however_many_metric_points(browser, users, workspace, tiny_base_model, sft_version):
    run = training_run_start(run=launch(workspace, tiny_base_model, sft_version))
    client = browser(users["ml_engineer"])
    metric_points_ingest(run=run, rows=[{"step": 1, "epoch": 0.1, "values": {"loss": 3.0}}])
    with CaptureQueriesContext(connection) as few:
        client.get(reverse("training:run-detail", args=[run.pk]))
    metric_points_ingest(
        run=run, rows=[{"step": s, "epoch": s / 10, "values": {"loss": 3.0 - s / 100}} for s in range(2, 50)]
    )
    with CaptureQueriesContext(connection) as many:
        client.get(reverse("training:run-detail", args=[run.pk]))
    assert len(many.captured_queries) == len(few.captured_queries)


def test_run_detail_is_hidden_from_outsiders_and_annotators(browser, users, workspace, tiny_base_model, sft_version):
    run = launch(workspace, tiny_base_model, sft_version)
    for who in ("outsider", "reviewer", "staff_annotator"):
        assert browser(users[who]).get(reverse("training:run-detail", args=[run.pk])).status_code == 404


def test_cancel_is_refused_to_a_product_manager(browser, users, workspace, tiny_base_model, sft_version):
    run = launch(workspace, tiny_base_model, sft_version)
    assert browser(users["product_manager"]).post(reverse("training:run-cancel", args=[run.pk])).status_code == 403
    run.refresh_from_db()
    assert run.status == TrainingRun.Status.QUEUED


def test_register_a_base_model_from_the_page(browser, users, workspace, tiny_model_dir, tmp_path):
    client = browser(users["ml_engineer"])
    response = client.post(
        reverse("training:base-model-create"),
        {"base_model-workspace": workspace.pk, "base_model-name": "tiny", "base_model-path": str(tiny_model_dir)},
    )
    assert response.status_code == 302
    assert BaseModel.objects.get().name == "tiny"
    refused = client.post(
        reverse("training:base-model-create"),
        {"base_model-workspace": workspace.pk, "base_model-name": "empty", "base_model-path": str(tmp_path)},
    )
    assert refused.status_code == 400
    assert f"no config.json in {tmp_path}" in refused.content.decode()
    assert BaseModel.objects.count() == 1


def test_register_a_base_model_with_warnings_shows_them(browser, users, workspace, tiny_model_dir, tmp_path):
    import shutil

    bare = tmp_path / "bare"
    shutil.copytree(tiny_model_dir, bare)
    (bare / "chat_template.jinja").unlink()
    client = browser(users["ml_engineer"])
    response = client.post(
        reverse("training:base-model-create"),
        {"base_model-workspace": workspace.pk, "base_model-name": "bare", "base_model-path": str(bare)},
        follow=True,
    )
    assert "The tokenizer has no chat template" in response.content.decode()
    assert BaseModel.objects.get().has_chat_template is False


def test_run_new_page_loads_the_before_launch_panel_with_htmx(browser, users, tiny_base_model, sft_version):
    content = browser(users["ml_engineer"]).get(reverse("training:run-new")).content.decode()
    assert f'hx-post="{reverse("training:run-preflight")}"' in content
    assert 'hx-trigger="load, change from:#run-new delay:300ms"' in content
    assert 'name="override_memory"' in content and 'name="assistant_only_loss"' in content


def test_preflight_panel_shows_memory_parts_and_the_masked_training_text(
    browser, users, tiny_base_model, sft_version, settings
):
    settings.TRAINING_DEVICE_MEMORY_GB = 16
    response = browser(users["ml_engineer"]).post(
        reverse("training:run-preflight"),
        run_new_form(tiny_base_model, sft_version, name="", assistant_only_loss="on", max_length="40"),
    )
    content = response.content.decode()
    assert response.status_code == 200
    assert "it fits." in content
    for part in ("Weights", "Trainable parameters and optimizer", "Activations", "Logits", "Runtime overhead"):
        assert f"<td>{part}</td>" in content
    assert '<span class="seg masked">&lt;|im_start|&gt;system\nYou are a helpful support assistant.' in content
    assert '<span class="seg trained">' in content and '<span class="seg cut">' in content
    assert re.search(r"\d+ examples are longer than max length 40 and will be cut.", content)


def test_preflight_panel_warns_when_the_run_will_not_fit(browser, users, tiny_base_model, sft_version, settings):
    settings.TRAINING_DEVICE_MEMORY_GB = 0.5
    content = browser(users["ml_engineer"]).post(reverse("training:run-preflight"),
                                                 run_new_form(tiny_base_model, sft_version)).content.decode()
    assert "but the device has 0.5 GiB: this run will not fit." in content


def test_preflight_panel_names_a_bad_field(browser, users, tiny_base_model, sft_version):
    content = (
        browser(users["ml_engineer"])
        .post(reverse("training:run-preflight"), run_new_form(tiny_base_model, sft_version, max_length="4096"))
        .content.decode()
    )
    assert "max_length 4096 is longer than the 512 tokens" in content
    assert "memory-estimate" not in content


def test_launch_that_does_not_fit_needs_the_override_box(browser, users, tiny_base_model, sft_version, settings,
                                                         django_capture_on_commit_callbacks):
    settings.TRAINING_DEVICE_MEMORY_GB = 0.5
    client = browser(users["ml_engineer"])
    refused = client.post(reverse("training:run-new"), run_new_form(tiny_base_model, sft_version))
    assert refused.status_code == 400
    assert "but the training device has 0.50 GiB" in refused.content.decode()
    assert TrainingRun.objects.count() == 0
    with django_capture_on_commit_callbacks(execute=False):
        launched = client.post(
            reverse("training:run-new"), run_new_form(tiny_base_model, sft_version, override_memory="on")
        )
    assert launched.status_code == 302
    assert TrainingRun.objects.get().memory_override is True


def test_preflight_is_refused_to_a_product_manager(browser, users, tiny_base_model, sft_version):
    response = browser(users["product_manager"]).post(
        reverse("training:run-preflight"), run_new_form(tiny_base_model, sft_version)
    )
    assert "memory-estimate" not in response.content.decode()
    assert TrainingRun.objects.count() == 0


def test_run_new_launches_dpo_with_qlora(
    browser, users, tiny_base_model, preference_version, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False):
        response = browser(users["ml_engineer"]).post(reverse("training:run-new"), run_new_form(
            tiny_base_model, preference_version, method="dpo", adapter="qlora", beta="0.2"))
    assert response.status_code == 302
    run = TrainingRun.objects.get()
    assert (run.method, run.adapter, run.hyperparameters["beta"]) == ("dpo", "qlora", 0.2)


def test_run_detail_shows_the_memory_estimate(browser, users, workspace, tiny_base_model, sft_version):
    run = launch(workspace, tiny_base_model, sft_version)
    content = browser(users["ml_engineer"]).get(reverse("training:run-detail", args=[run.pk])).content.decode()
    assert f'{run.memory_estimate["parts"]["total"]} GiB of {run.memory_estimate["device_gib"]} GiB' in content


def finished(workspace, base_model, version, status=TrainingRun.Status.CANCELLED, **hyperparameters):
    run = training_run_start(run=launch(workspace, base_model, version, **hyperparameters))
    return training_run_finish(run=run, status=status)


def test_retry_page_prefills_the_run_and_launches_a_linked_run(browser, users, workspace, tiny_base_model, sft_version,
                                                               django_capture_on_commit_callbacks):
    run = finished(workspace, tiny_base_model, sft_version, lora_r=8)
    client = browser(users["ml_engineer"])
    page = client.get(reverse("training:run-retry", args=[run.pk])).content.decode()
    shown = dict(re.findall(r'<input type="number" name="(\w+)" value="([^"]*)"', page))
    assert (shown["lora_r"], shown["max_length"]) == ("8", "512")
    assert 'name="resume"' not in page  # no checkpoint to resume from

    with django_capture_on_commit_callbacks(execute=False):
        response = client.post(reverse("training:run-retry", args=[run.pk]), {**shown, "lora_r": "4"})
    retry = TrainingRun.objects.exclude(pk=run.pk).get()
    assert response.status_code == 302 and response["Location"] == reverse("training:run-detail", args=[retry.pk])
    assert (retry.parent, retry.hyperparameters["lora_r"], retry.name) == (run, 4, "first run (retry)")
    detail = client.get(reverse("training:run-detail", args=[retry.pk])).content.decode()
    assert f'<a href="{reverse("training:run-detail", args=[run.pk])}" id="run-parent">first run</a>' in detail


def test_resume_button_continues_from_the_last_checkpoint(
    browser, users, workspace, tiny_base_model, sft_version, settings, django_capture_on_commit_callbacks
):
    from training.services.execution import checkpoints_record

    run = finished(workspace, tiny_base_model, sft_version, status=TrainingRun.Status.FAILED)
    directory = settings.STORAGE_ROOT / run.output_dir / "checkpoints" / "checkpoint-3"
    directory.mkdir(parents=True)
    (directory / "trainer_state.json").write_text("{}")
    checkpoints_record(run=run)
    client = browser(users["ml_engineer"])
    detail = client.get(reverse("training:run-detail", args=[run.pk])).content.decode()
    assert "Resume from step 3" in detail and 'id="run-checkpoints">step 3</p>' in detail

    with django_capture_on_commit_callbacks(execute=False):
        response = client.post(reverse("training:run-resume", args=[run.pk]))
    resumed = TrainingRun.objects.exclude(pk=run.pk).get()
    assert response["Location"] == reverse("training:run-detail", args=[resumed.pk])
    assert (resumed.parent, resumed.resume_from.step) == (run, 3)


def test_resume_and_retry_are_refused_to_a_product_manager(browser, users, workspace, tiny_base_model, sft_version):
    run = finished(workspace, tiny_base_model, sft_version)
    client = browser(users["product_manager"])
    assert client.post(reverse("training:run-resume", args=[run.pk])).status_code == 403
    assert client.get(reverse("training:run-retry", args=[run.pk])).status_code == 403
    assert TrainingRun.objects.count() == 1


def test_partial_artifact_is_marked_and_downloads(
    browser, users, workspace, tiny_base_model, sft_version, tiny_adapter_dir
):
    run = training_run_start(run=launch(workspace, tiny_base_model, sft_version))
    artifact = model_artifact_register(run=run, path=str(tiny_adapter_dir), is_partial=True)
    training_run_finish(run=run, status=TrainingRun.Status.CANCELLED)
    client = browser(users["product_manager"])
    detail = client.get(reverse("training:run-detail", args=[run.pk])).content.decode()
    assert "partial: saved when the run was cancelled" in detail
    download = client.get(reverse("training:artifact-download", args=[artifact.pk]))
    assert download.status_code == 200 and download["Content-Type"] == "application/zip"
    assert b"".join(download.streaming_content)[:4] == b"PK\x03\x04"
    assert browser(users["outsider"]).get(reverse("training:artifact-download", args=[artifact.pk])).status_code == 404


def test_compare_overlays_the_runs_loss(browser, users, workspace, tiny_base_model, sft_version):
    first = launch(workspace, tiny_base_model, sft_version, name="lr high")
    second = launch(workspace, tiny_base_model, sft_version, name="lr <low>")
    metric_points_ingest(
        run=first, rows=[{"step": 1, "values": {"loss": 2.5}}, {"step": 2, "values": {"loss": 2.0, "eval_loss": 2.2}}]
    )
    metric_points_ingest(run=second, rows=[{"step": 1, "values": {"loss": 2.6}}])
    client = browser(users["product_manager"])
    assert f'name="run" value="{first.pk}"' in client.get(reverse("training:run-list")).content.decode()

    response = client.get(reverse("training:run-compare") + f"?run={second.pk}&run={first.pk}")
    content = response.content.decode()
    assert response.status_code == 200
    assert "lr &lt;low&gt;" in content and "<low>" not in content.replace("\\u003Clow\\u003E", "")
    assert (
        content.index("lr \\u003Clow\\u003E")
        < content.index("lr high")
        < content.index("lr &lt;low&gt;")
        < content.rindex("lr high")
    )
    assert (
        '"series": {"loss": {"step": [1, 2], "value": [2.5, 2.0]}, "eval_loss": {"step": [2], "value": [2.2]}}'
        in content
    )
    assert "<td class=\"num\">2.2000</td>" in content

    # Runs of other workspaces and unknown ids are left out.
    assert (
        "lr high"
        not in browser(users["outsider"]).get(reverse("training:run-compare") + f"?run={first.pk}").content.decode()
    )


def test_compare_api(users, api_for, workspace, tiny_base_model, sft_version):
    run = launch(workspace, tiny_base_model, sft_version)
    metric_points_ingest(run=run, rows=[{"step": 3, "values": {"loss": 1.5, "rewards/accuracies": 0.75}}])
    body = api_for(users["ml_engineer"]).get(f"/api/v1/training/runs/compare/?ids={run.pk},999999").json()
    assert [(r["id"], r["final"]) for r in body["runs"]] == [(run.pk, {"loss": 1.5, "rewards/accuracies": 0.75})]
    assert api_for(users["ml_engineer"]).get("/api/v1/training/runs/compare/?ids=a").status_code == 400


def test_run_new_takes_a_probe_set_one_prompt_per_line(browser, users, tiny_base_model, sft_version,
                                                       django_capture_on_commit_callbacks):
    client = browser(users["ml_engineer"])
    content = client.get(reverse("training:run-new")).content.decode()
    assert 'name="probe_prompts"' in content and 'name="probe_test_count"' in content

    with django_capture_on_commit_callbacks(execute=False):
        response = client.post(reverse("training:run-new"), run_new_form(
            tiny_base_model, sft_version, probe_prompts="Where is my order?\n\n  我想退货。 \n", probe_test_count="0"))

    run = TrainingRun.objects.get()
    assert response.status_code == 302
    assert run.probes == [
        {
            "messages": [{"role": "user", "content": "Where is my order?"}],
            "prompt": "Where is my order?",
            "base": None,
            "trained": None,
        },
        {
            "messages": [{"role": "user", "content": "我想退货。"}],
            "prompt": "我想退货。",
            "base": None,
            "trained": None,
        },
    ]
    page = client.get(reverse("training:run-detail", args=[run.pk])).content.decode()
    assert page.count("not answered yet") == 4


def test_run_new_shows_a_probe_set_error_beside_its_field(browser, users, tiny_base_model, sft_version):
    response = browser(users["ml_engineer"]).post(reverse("training:run-new"), run_new_form(
        tiny_base_model, sft_version, probe_test_count="3"))
    assert response.status_code == 400
    assert "the test split of dataset version support v1 has 0 conversations, not 3" in response.content.decode()
    assert TrainingRun.objects.count() == 0


# ---------------------------------------------------------------- real chat templates: traps on the launch page


REAL_TEMPLATE_SWITCHES = {"assistant_only_loss": "on", "keep_system_prompt": "on", "keep_reasoning": "on"}


def real_base_model(workspace, real_model_dirs, name):
    from training.services.base_models import base_model_register

    return base_model_register(workspace=workspace, name=name, path=str(real_model_dirs(name)))


@pytest.mark.slow
def test_launch_page_warns_that_mistral_drops_the_system_prompt_and_offers_the_fix(
    browser, users, workspace, real_model_dirs, sft_version
):
    base_model = real_base_model(workspace, real_model_dirs, "mistral-7b-instruct-v0.3")
    client = browser(users["ml_engineer"])
    switches = {**REAL_TEMPLATE_SWITCHES, "keep_system_prompt": ""}
    content = client.post(
        reverse("training:run-preflight"), run_new_form(base_model, sft_version, **switches)
    ).content.decode()
    assert "The chat template drops the system prompt from a conversation that ends with the reply" in content
    assert "10 of the 10 rows measured have one. This run trains without it." in content
    assert (
        '<button type="button" class="link" data-fix="keep_system_prompt" data-fix-value="on">Apply the fix</button>'
        in content
    )
    # Without the fix the conversations cannot be written as the model reads them when answering: the run is refused.
    assert 'id="template-mismatch"' in content and "This run would be refused" in content
    refused = client.post(reverse("training:run-new"), run_new_form(base_model, sft_version, **switches))
    assert refused.status_code == 400 and TrainingRun.objects.count() == 0

    fixed = client.post(
        reverse("training:run-preflight"), run_new_form(base_model, sft_version, **REAL_TEMPLATE_SWITCHES)
    ).content.decode()
    assert "This run puts it into the last user turn, as the template does when the model answers." in fixed
    assert "Fixed for this run." in fixed and 'id="template-mismatch"' not in fixed
    assert (
        '<span class="seg masked">&lt;s&gt;[INST] You are a helpful support assistant.\n\nI would like to return my order.[/INST]'
        in fixed
    )


@pytest.mark.slow
@pytest.mark.parametrize(
    ("name", "how"),
    [
        (
            "deepseek-r1-distill-qwen-7b",
            "This run trains with Whetstone&#x27;s copy of the template without the deletion, which keeps it.",
        ),
        (
            "deepseek-r1-distill-qwen-7b-current",
            "This run trains with TRL&#x27;s training template deepseek_r1_distill_training.jinja, which keeps it.",
        ),
    ],
)
def test_launch_page_warns_that_deepseek_deletes_the_reasoning_and_offers_the_fix(
    browser, users, workspace, real_model_dirs, reasoning_version, name, how
):
    base_model = real_base_model(workspace, real_model_dirs, name)
    client = browser(users["ml_engineer"])
    unfixed = client.post(
        reverse("training:run-preflight"),
        run_new_form(base_model, reasoning_version, **{**REAL_TEMPLATE_SWITCHES, "keep_reasoning": ""}),
    ).content.decode()
    assert (
        "The chat template deletes the reasoning (everything up to &lt;/think&gt;) from every assistant turn" in unfixed
    )
    assert "10 of the 10 rows measured carry reasoning. This run trains the replies without it." in unfixed
    assert 'data-fix="keep_reasoning" data-fix-value="on">Apply the fix</button>' in unfixed
    assert "The customer asks" not in unfixed

    fixed = client.post(reverse("training:run-preflight"),
                        run_new_form(base_model, reasoning_version, **REAL_TEMPLATE_SWITCHES)).content.decode()
    assert how in fixed and "Fixed for this run." in fixed
    # The reasoning is in the learned text of the answer.
    assert re.search(
        r'<span class="seg trained">[^<]*&lt;think&gt;\nThe customer asks: I would like to return my order.\n'
        r'&lt;/think&gt;\n\nSure.',
        fixed,
    )


@pytest.mark.slow
def test_base_model_page_shows_the_turn_end_stop_tokens_and_a_trained_conversation(
    browser, users, workspace, real_model_dirs
):
    client = browser(users["ml_engineer"])
    response = client.post(
        reverse("training:base-model-create"),
        {
            "base_model-workspace": workspace.pk,
            "base_model-name": "qwen",
            "base_model-path": str(real_model_dirs("qwen2.5-7b-instruct")),
        },
        follow=True,
    )
    content = response.content.decode()
    base_model = BaseModel.objects.get()
    assert response.redirect_chain == [(reverse("training:base-model-detail", args=[base_model.pk]), 302)]
    assert "A turn ends with &lt;|im_end|&gt;: generation stops there." in content
    assert '<dd id="turn-end">&lt;|im_end|&gt;</dd>' in content
    # Both ids of generation_config.json's eos list stop generation.
    assert (
        "<code>&lt;|endoftext|&gt;</code> <span class=\"muted\">(151643)</span>, <code>&lt;|im_end|&gt;</code>"
        in content
    )
    assert "TRL's training copy (qwen2_5_training.jinja)" in content
    assert (
        '<span class="seg trained">\n&lt;think&gt;\nTwo and two make four.\n&lt;/think&gt;\n\n4.&lt;|im_end|&gt;\n</span>'
        in content
    )


def test_base_model_page_is_hidden_from_outsiders(browser, users, tiny_base_model):
    page = browser(users["outsider"]).get(reverse("training:base-model-detail", args=[tiny_base_model.pk]))
    assert page.status_code == 404


def test_run_page_shows_what_trl_and_the_runner_warned_about_the_data(
    browser, users, workspace, tiny_base_model, sft_version
):
    import json

    from training.services.execution import run_directory, run_warnings_ingest

    run = training_run_start(run=launch(workspace, tiny_base_model, sft_version))
    run_dir = run_directory(run)
    run_dir.mkdir(parents=True)
    (run_dir / "warnings.jsonl").write_text(
        json.dumps({"source": "trl", "message": "The tokenized prompt is not a prefix <b>"}) + "\n", encoding="utf-8"
    )
    assert run_warnings_ingest(run=run, run_dir=run_dir) == [
        {"source": "trl", "message": "The tokenized prompt is not a prefix <b>"}
    ]
    content = browser(users["product_manager"]).get(reverse("training:run-detail", args=[run.pk])).content.decode()
    assert "Warnings about the training data" in content
    assert "The tokenized prompt is not a prefix &lt;b&gt; <span class=\"muted\">(TRL)</span>" in content

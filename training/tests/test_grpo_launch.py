"""GRPO launched the ways other methods are (service, API, command line, browser), checked before launch, and trained
end to end by the real job: each grader's reward, the KL and the lengths land in the run's metrics."""

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from graders.services import grader_create
from training.models import MetricPoint, ModelArtifact, TrainingRun
from training.services.runs import training_run_create, training_run_preflight

HAS_WORD = {"type": "string_check", "operation": "ilike", "reference": "package"}
QUICK = {"max_steps": 2, "logging_steps": 1, "per_device_train_batch_size": 4, "gradient_accumulation_steps": 1,
         "num_generations": 4, "max_completion_length": 8, "learning_rate": 1e-3}


@pytest.fixture
def has_word(workspace):
    return grader_create(workspace=workspace, name="has_word", definition=HAS_WORD)


def launch(workspace, base_model, version, graders, **hyperparameters):
    return training_run_create(workspace=workspace, name="grpo", base_model=base_model, dataset_version=version,
                               method="grpo", hyperparameters={**QUICK, **hyperparameters}, graders=graders)


@pytest.mark.django_db
def test_grpo_needs_runner_graders_and_whole_groups(workspace, other_workspace, tiny_base_model, sft_version,
                                                    has_word, preference_version):
    from common.errors import ApplicationError

    judge = grader_create(workspace=workspace, name="judge", definition={
        "type": "score_model", "model": "m", "input": [{"role": "user", "content": "{{sample.output_text}}"}]})
    foreign = grader_create(workspace=other_workspace, name="foreign", definition=HAS_WORD)
    cases = [
        (dict(graders=[]), "graders"),
        (dict(graders=[judge]), "graders"),
        (dict(graders=[foreign]), "graders"),
        (dict(graders=[has_word], num_generations=3), "hyperparameters.num_generations"),
        (dict(graders=[has_word], loss_type="ppo"), "hyperparameters.loss_type"),
    ]
    for arguments, where in cases:
        graders = arguments.pop("graders")
        with pytest.raises(ApplicationError) as raised:
            launch(workspace, tiny_base_model, sft_version, graders, **arguments)
        assert raised.value.where == where
    with pytest.raises(ApplicationError) as raised:
        launch(workspace, tiny_base_model, preference_version, [has_word])
    assert raised.value.where == "dataset_version"
    with pytest.raises(ApplicationError) as raised:
        training_run_create(workspace=workspace, name="sft", base_model=tiny_base_model, dataset_version=sft_version,
                            graders=[has_word])
    assert raised.value.where == "graders"
    assert TrainingRun.objects.count() == 0


def test_the_memory_estimate_counts_the_generations():
    from training.memory import ModelShape, memory_estimate

    # Llama-3-8B's sizes.
    shape = ModelShape(hidden=4096, kv_dim=1024, intermediate=14336, layers=32, vocab=128256)

    def estimate(**values):
        settings = {"shape": shape, "method": "grpo", "adapter": "lora", "batch_size": 8, "sequence_length": 512,
                    "completion_length": 256, "generation_batch": 8}
        return memory_estimate(**{**settings, **values})

    sft = memory_estimate(shape=shape, method="sft", adapter="lora", batch_size=8, sequence_length=512)
    grpo = estimate()
    kv_cache = 2 * 32 * 1024 * 8 * (512 + 256) * 2
    assert grpo.activations == memory_estimate(shape=shape, method="sft", adapter="lora", batch_size=8,
                                               sequence_length=768).activations + kv_cache
    assert grpo.total > sft.total
    # Generating 64 completions at once (batch 8 × accumulation 8) keeps 8 times the cache.
    assert estimate(generation_batch=64).activations - grpo.activations == 7 * kv_cache
    # Full training keeps a reference copy only when the KL term needs it.
    assert estimate(adapter="full").weights - estimate(adapter="full", kl_reference=False).weights == \
        shape.parameters * 2


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_the_job_trains_grpo_and_streams_each_graders_reward(workspace, tiny_base_model, sft_version, has_word,
                                                             run_jobs):
    run = launch(workspace, tiny_base_model, sft_version, [has_word], kl_beta=0.04)
    assert run.reward_graders == [has_word.definition]

    run_jobs()

    run.refresh_from_db()
    assert run.status == TrainingRun.Status.SUCCEEDED, run.error
    points = [p.values for p in MetricPoint.objects.filter(run=run).order_by("step") if "reward" in p.values]
    assert len(points) == 2
    assert {"rewards/has_word/mean", "kl", "completions/mean_length", "completions/clipped_ratio"} <= set(points[0])
    assert ModelArtifact.objects.get(run=run).kind == ModelArtifact.Kind.ADAPTER


@pytest.mark.django_db
def test_api_and_command_launch_grpo_with_graders(workspace, users, api_for, tiny_base_model, sft_version, has_word,
                                                  capsys):
    body = {"workspace": workspace.pk, "name": "from the api", "base_model": tiny_base_model.pk,
            "dataset_version": sft_version.pk, "method": "grpo", "graders": [has_word.pk],
            "hyperparameters": {**QUICK, "loss_type": "dr_grpo"}}
    client = api_for(users["ml_engineer"])
    response = client.post("/api/v1/training/runs/", body, format="json")
    assert response.status_code == 201, response.json()
    assert (response.json()["reward_graders"][0]["name"], response.json()["hyperparameters"]["loss_type"]) == (
        "has_word", "dr_grpo")
    unknown = client.post("/api/v1/training/runs/", {**body, "graders": [has_word.pk + 1000]}, format="json")
    assert (unknown.status_code, unknown.json()["where"]) == (400, "graders")

    call_command("train", workspace=workspace.name, base_model=tiny_base_model.name,
                 dataset=sft_version.dataset.name, version=sft_version.number, name="from the command",
                 method="grpo", grader=["has_word"], set=["num_generations=4", "per_device_train_batch_size=4",
                                                          "loss_type=bnpo"])
    run = TrainingRun.objects.get(name="from the command")
    assert (run.method, run.hyperparameters["loss_type"], [g["name"] for g in run.reward_graders]) == (
        "grpo", "bnpo", ["has_word"])
    with pytest.raises(CommandError, match="--grader: no grader named 'nope'"):
        call_command("train", workspace=workspace.name, base_model=tiny_base_model.name,
                     dataset=sft_version.dataset.name, version=sft_version.number, name="x", method="grpo",
                     grader=["nope"])


@pytest.mark.django_db
def test_the_browser_launches_grpo_and_the_run_page_charts_rewards(client, workspace, users, tiny_base_model,
                                                                   sft_version, has_word):
    client.force_login(users["ml_engineer"])
    page = client.get(reverse("training:run-new"))
    assert page.status_code == 200
    assert f'value="{has_word.pk}"' in page.content.decode()
    form = {"name": "browser grpo", "base_model": tiny_base_model.pk, "dataset_version": sft_version.pk,
            "method": "grpo", "adapter": "lora", "graders": [has_word.pk],
            **{key: str(value) for key, value in QUICK.items()}, "loss_type": "dapo"}
    response = client.post(reverse("training:run-new"), form)
    run = TrainingRun.objects.get(name="browser grpo")
    assert response.status_code == 302
    assert [g["name"] for g in run.reward_graders] == ["has_word"]
    detail = client.get(reverse("training:run-detail", args=[run.pk])).content.decode()
    assert 'id="reward-chart"' in detail and 'id="length-chart"' in detail and "<code>has_word</code>" in detail

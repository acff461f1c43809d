"""The probe set: built from typed prompts and the test split, answered by the base model before training and by the
trained model after it, shown by the API, the run page and the command."""

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from common.errors import ApplicationError
from datahub.models import DatasetVersion, Record
from datahub.services.datasets import dataset_create
from datahub.services.records import records_bulk_create
from datahub.services.versions import dataset_version_create
from training.models import ModelArtifact, TrainingRun
from training.services.generation import generate_replies
from training.services.probes import PROBE_MAX_NEW_TOKENS, probe_set_build
from training.services.runs import training_run_create, training_run_retry
from training.tests.fixtures import support_conversations

QUICK = {"max_steps": 3, "logging_steps": 1, "per_device_train_batch_size": 4, "gradient_accumulation_steps": 1,
         "learning_rate": 5e-3, "max_length": 128}
SYSTEM = {"role": "system", "content": "You are a helpful support assistant."}


@pytest.fixture
def version_with_test(workspace):
    """8 train and 4 test conversations, in the order of support_conversations()."""
    dataset = dataset_create(workspace=workspace, name="support with test")
    records_bulk_create(dataset=dataset, rows=support_conversations())
    ids = list(Record.objects.filter(dataset=dataset).order_by("pk").values_list("pk", flat=True))
    entries = [(pk, "test" if index in (2, 5, 8, 11) else "train", []) for index, pk in enumerate(ids)]
    return dataset_version_create(dataset=dataset, entries=entries, operation=DatasetVersion.Operation.FREEZE)


def test_probe_set_takes_typed_prompts_then_the_first_test_prompts(version_with_test):
    conversations = [row["messages"] for row in support_conversations()]

    probes = probe_set_build(
        dataset_version=version_with_test, prompts=["  Where is my parcel?  ", "", "你好"], test_count=2
    )

    assert probes == [
        {
            "messages": [{"role": "user", "content": "Where is my parcel?"}],
            "prompt": "Where is my parcel?",
            "base": None,
            "trained": None,
        },
        {"messages": [{"role": "user", "content": "你好"}], "prompt": "你好", "base": None, "trained": None},
        {"messages": conversations[2][:2], "prompt": conversations[2][1]["content"], "base": None, "trained": None},
        {"messages": conversations[5][:2], "prompt": conversations[5][1]["content"], "base": None, "trained": None},
    ]
    assert conversations[2][0] == SYSTEM


@pytest.mark.parametrize(("prompts", "test_count", "message", "where"), [
    (["a"] * 21, 0, "a probe set holds at most 20 prompts, not 21", "probe_prompts"),
    (["a"] * 18, 3, "a probe set holds at most 20 prompts, not 21", "probe_prompts"),
    (["x" * 4001], 0, "a probe prompt is 4001 characters; the limit is 4000", "probe_prompts"),
    ("one prompt", 0, "probe prompts must be a list of texts", "probe_prompts"),
    ([], -1, "the number of test prompts must be a whole number, 0 or more", "probe_test_count"),
    ([], 5, "the test split of dataset version support with test v1 has 4 conversations, not 5", "probe_test_count"),
])
def test_bad_probe_sets_are_refused_and_nothing_is_created(
    workspace, tiny_base_model, version_with_test, prompts, test_count, message, where
):
    with pytest.raises(ApplicationError) as error:
        training_run_create(
            workspace=workspace,
            name="probed",
            base_model=tiny_base_model,
            dataset_version=version_with_test,
            probe_prompts=prompts,
            probe_test_count=test_count,
        )
    assert (error.value.message, error.value.where) == (message, where)
    assert TrainingRun.objects.count() == 0


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_base_and_trained_model_answer_the_probe_set_shown_everywhere(
    workspace, tiny_base_model, version_with_test, run_jobs, users, api_for, client, capsys
):
    run = training_run_create(
        workspace=workspace,
        name="probed",
        base_model=tiny_base_model,
        dataset_version=version_with_test,
        hyperparameters=QUICK,
        probe_prompts=["我想退货。"],
        probe_test_count=1,
    )

    run_jobs()

    run.refresh_from_db()
    assert run.status == TrainingRun.Status.SUCCEEDED, run.error
    artifact = ModelArtifact.objects.get(run=run)
    conversations = [probe["messages"] for probe in run.probes]
    # Greedy, the same settings for both: the answers are exactly what each model says on its own.
    base = generate_replies(
        base_model=tiny_base_model, artifact=None, conversations=conversations, max_new_tokens=PROBE_MAX_NEW_TOKENS
    )
    trained = generate_replies(base_model=tiny_base_model, artifact=artifact, conversations=conversations,
                               max_new_tokens=PROBE_MAX_NEW_TOKENS)
    assert [probe["prompt"] for probe in run.probes] == [
        "我想退货。",
        support_conversations()[2]["messages"][1]["content"],
    ]
    assert [probe["base"] for probe in run.probes] == base
    assert [probe["trained"] for probe in run.probes] == trained
    assert run.probe_error == ""

    detail = api_for(users["product_manager"]).get(f"/api/v1/training/runs/{run.pk}/").json()
    assert [(probe["prompt"], probe["base"], probe["trained"]) for probe in detail["probes"]] == [
        (probe["prompt"], probe["base"], probe["trained"]) for probe in run.probes]
    assert detail["probe_error"] == ""

    client.force_login(users["ml_engineer"])
    page = client.get(reverse("training:run-detail", args=[run.pk])).content.decode()
    assert page.count('<td class="probe-prompt">') == 2
    assert '<td class="probe-prompt">我想退货。</td>' in page

    call_command("run_probes", run.pk)
    out = capsys.readouterr().out
    assert out.startswith(
        f"run {run.pk} 'probed' (succeeded): 2 probes\nprobe 1: 我想退货。\n  base    {base[0]}\n  trained {trained[0]}\n"
    )

    retry = training_run_retry(run=run)
    assert retry.probes == [{**probe, "base": None, "trained": None} for probe in run.probes]


def test_probe_set_is_launched_from_the_api_and_the_command(
    workspace, users, api_for, tiny_base_model, version_with_test, django_capture_on_commit_callbacks
):
    body = {
        "workspace": workspace.pk,
        "name": "api probed",
        "base_model": tiny_base_model.pk,
        "dataset_version": version_with_test.pk,
        "probe_prompts": ["Hello?"],
        "probe_test_count": 1,
    }
    with django_capture_on_commit_callbacks(execute=False):
        response = api_for(users["ml_engineer"]).post("/api/v1/training/runs/", body, format="json")
        call_command("train", workspace="Acme support", base_model="tiny-chat", dataset="support with test", version=1,
                     name="cli probed", probe=["Hi there"], probe_test=0)
    assert response.status_code == 201, response.json()
    api_run, cli_run = TrainingRun.objects.order_by("pk")
    assert [probe["prompt"] for probe in api_run.probes] == [
        "Hello?",
        support_conversations()[2]["messages"][1]["content"],
    ]
    assert [probe["prompt"] for probe in cli_run.probes] == ["Hi there"]


def test_command_refuses_a_run_without_probes(workspace, tiny_base_model, version_with_test):
    run = training_run_create(
        workspace=workspace, name="plain", base_model=tiny_base_model, dataset_version=version_with_test
    )
    with pytest.raises(CommandError) as error:
        call_command("run_probes", run.pk)
    assert str(error.value) == f"run {run.pk} 'plain' has no probe set"
    with pytest.raises(CommandError) as error:
        call_command("run_probes", 999999)
    assert str(error.value) == "no training run 999999"

"""From training to serving: a LoRA run trained by the real worker, its adapter registered, then answering through
Whetstone's own OpenAI-compatible server (training/server) on 127.0.0.1, called with the project's model client."""

import pytest

from llm.client import chat_complete
from training.models import ModelArtifact, TrainingRun
from training.server.registry import artifact_model_id, base_model_id
from training.services.generation import generate_replies
from training.services.runs import training_run_create

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

QUESTION = [
    {"role": "system", "content": "You are a helpful support assistant."},
    {"role": "user", "content": "我想退货。"},
]


def test_trained_adapter_answers_through_the_model_server(
    workspace, tiny_base_model, sft_version, run_jobs, make_endpoint
):
    run = training_run_create(
        workspace=workspace,
        name="served",
        base_model=tiny_base_model,
        dataset_version=sft_version,
        hyperparameters={
            "max_steps": 6,
            "logging_steps": 1,
            "per_device_train_batch_size": 5,
            "gradient_accumulation_steps": 1,
            "learning_rate": 1e-2,
            "max_length": 128,
        },
    )
    run_jobs()
    run.refresh_from_db()
    assert run.status == TrainingRun.Status.SUCCEEDED, run.error
    artifact = ModelArtifact.objects.get(run=run)
    assert (artifact.kind, artifact.is_partial) == (ModelArtifact.Kind.ADAPTER, False)

    served = make_endpoint(model=artifact_model_id(artifact), name="served adapter")
    base = make_endpoint(model=base_model_id(tiny_base_model), name="served base")
    answer = chat_complete(endpoint=served, messages=QUESTION, max_tokens=16, temperature=0.0)
    base_answer = chat_complete(endpoint=base, messages=QUESTION, max_tokens=16, temperature=0.0)

    # The server answers with the adapter on its base: exactly what the adapter says when loaded here, greedily,
    # and not what the base alone says.
    [expected] = generate_replies(
        base_model=tiny_base_model, artifact=artifact, conversations=[QUESTION], max_new_tokens=16
    )
    [expected_base] = generate_replies(
        base_model=tiny_base_model, artifact=None, conversations=[QUESTION], max_new_tokens=16
    )
    assert answer.model == artifact_model_id(artifact)
    assert answer.texts[0].strip() == expected
    assert base_answer.texts[0].strip() == expected_base
    assert expected != expected_base
    assert 1 <= answer.usage["completion_tokens"] <= 16

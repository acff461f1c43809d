import pytest

from training.services.generation import generate_replies

CONVERSATIONS = [
    [
        {"role": "system", "content": "You are a helpful support assistant."},
        {"role": "user", "content": "Where is my package?"},
    ],
    [{"role": "user", "content": "我想退货。"}],
    [{"role": "user", "content": "How much does shipping cost?"}],
]


@pytest.mark.slow
def test_generate_replies_from_the_base_model_is_deterministic(tiny_base_model):
    first = generate_replies(
        base_model=tiny_base_model, artifact=None, conversations=CONVERSATIONS, max_new_tokens=8, seed=3
    )
    again = generate_replies(
        base_model=tiny_base_model, artifact=None, conversations=CONVERSATIONS, max_new_tokens=8, seed=3
    )
    assert len(first) == 3
    assert all(isinstance(reply, str) for reply in first)
    assert first == again


@pytest.mark.slow
def test_generate_replies_sampling_is_seeded(tiny_base_model):
    replies = [
        generate_replies(
            base_model=tiny_base_model,
            artifact=None,
            conversations=CONVERSATIONS,
            max_new_tokens=8,
            seed=7,
            temperature=1.0,
        )
        for _ in range(2)
    ]
    assert replies[0] == replies[1]


def test_generate_replies_of_no_conversations_is_empty(tiny_base_model):
    assert generate_replies(base_model=tiny_base_model, artifact=None, conversations=[]) == []


@pytest.mark.slow
def test_generate_replies_with_an_adapter_differs_from_the_base(tiny_base_model, tiny_artifact):
    base = generate_replies(base_model=tiny_base_model, artifact=None, conversations=CONVERSATIONS, max_new_tokens=8)
    tuned = generate_replies(
        base_model=tiny_base_model, artifact=tiny_artifact, conversations=CONVERSATIONS, max_new_tokens=8
    )
    assert len(tuned) == 3
    assert all(isinstance(reply, str) for reply in tuned)
    assert tuned != base


@pytest.mark.slow
def test_generate_replies_from_full_weights_loads_them_in_place_of_the_base(
    workspace, tiny_base_model, sft_version, tiny_model_dir
):
    from training.models import ModelArtifact, TrainingRun
    from training.services.artifacts import model_artifact_register
    from training.services.runs import training_run_create, training_run_finish, training_run_start

    run = training_run_start(run=training_run_create(workspace=workspace, name="full", base_model=tiny_base_model,
                                                     dataset_version=sft_version, adapter="full"))
    # The base's own weights stand in for trained full weights: the replies must then be the base's.
    artifact = model_artifact_register(run=run, path=str(tiny_model_dir), kind=ModelArtifact.Kind.FULL)
    training_run_finish(run=run, status=TrainingRun.Status.SUCCEEDED)

    assert generate_replies(
        base_model=tiny_base_model, artifact=artifact, conversations=CONVERSATIONS, max_new_tokens=6
    ) == (generate_replies(base_model=tiny_base_model, artifact=None, conversations=CONVERSATIONS, max_new_tokens=6))

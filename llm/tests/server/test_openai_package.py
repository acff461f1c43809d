"""The official `openai` package, unchanged, against Whetstone's server on 127.0.0.1 with the tiny model."""

import openai
import pytest

from accounts.services import api_token_for
from training.server.registry import artifact_model_id, base_model_id

pytestmark = pytest.mark.django_db(transaction=True)

QUESTION = [{"role": "system", "content": "You are a helpful support assistant."},
            {"role": "user", "content": "How do I reset my password?"}]


@pytest.fixture
def connect(model_server):
    """connect(api_key) -> an openai.OpenAI client of the live server, closed after the test so that no keep-alive
    connection (and the server thread serving it) outlives the test."""
    clients = []

    def make(api_key: str) -> openai.OpenAI:
        clients.append(openai.OpenAI(base_url=model_server.base_url, api_key=api_key, max_retries=0))
        return clients[-1]

    yield make
    for client in clients:
        client.close()
    model_server.wait_idle()


@pytest.fixture
def client(connect, model_server_user):
    return connect(api_token_for(user=model_server_user))


def test_list_models_names_base_models_and_artifacts_of_visible_workspaces(
    client, tiny_artifact, other_workspace, tiny_model_dir
):
    from training.services.base_models import base_model_register

    base_model_register(workspace=other_workspace, name="hidden", path=str(tiny_model_dir))
    listed = client.models.list()
    assert [model.id for model in listed.data] == [
        base_model_id(tiny_artifact.base_model),
        artifact_model_id(tiny_artifact),
    ]
    assert {model.owned_by for model in listed.data} == {"Acme support"}
    assert client.models.retrieve(artifact_model_id(tiny_artifact)).id == artifact_model_id(tiny_artifact)


def test_completion_is_greedy_at_temperature_zero_and_counts_usage(client, tiny_base_model):
    model = base_model_id(tiny_base_model)
    first = client.chat.completions.create(model=model, messages=QUESTION, max_tokens=12, temperature=0)
    again = client.chat.completions.create(model=model, messages=QUESTION, max_tokens=12, temperature=0)
    assert first.object == "chat.completion"
    assert first.model == model
    assert first.choices[0].message.role == "assistant"
    assert first.choices[0].message.content == again.choices[0].message.content
    assert first.choices[0].finish_reason in ("stop", "length")
    assert first.usage.prompt_tokens > 0
    assert 1 <= first.usage.completion_tokens <= 12
    assert first.usage.total_tokens == first.usage.prompt_tokens + first.usage.completion_tokens


def test_n_choices_with_a_seed_are_reproducible(client, tiny_base_model):
    model = base_model_id(tiny_base_model)
    one = client.chat.completions.create(
        model=model, messages=QUESTION, max_tokens=8, temperature=1.0, top_p=0.9, seed=7, n=3
    )
    two = client.chat.completions.create(
        model=model, messages=QUESTION, max_tokens=8, temperature=1.0, top_p=0.9, seed=7, n=3
    )
    assert [choice.index for choice in one.choices] == [0, 1, 2]
    assert [c.message.content for c in one.choices] == [c.message.content for c in two.choices]


def test_streamed_completion_joins_to_the_plain_completion(client, tiny_base_model):
    model = base_model_id(tiny_base_model)
    plain = client.chat.completions.create(model=model, messages=QUESTION, max_tokens=16, temperature=0)
    stream = client.chat.completions.create(model=model, messages=QUESTION, max_tokens=16, temperature=0, stream=True,
                                            stream_options={"include_usage": True})
    chunks = list(stream)
    text = "".join(chunk.choices[0].delta.content or "" for chunk in chunks if chunk.choices)
    finish = [chunk.choices[0].finish_reason for chunk in chunks if chunk.choices and chunk.choices[0].finish_reason]
    assert text == plain.choices[0].message.content
    assert finish == [plain.choices[0].finish_reason]
    assert chunks[-1].choices == []
    assert chunks[-1].usage.completion_tokens == plain.usage.completion_tokens
    assert chunks[-1].usage.prompt_tokens == plain.usage.prompt_tokens


def test_stop_string_cuts_the_reply_plainly_and_streamed(client, tiny_base_model):
    model = base_model_id(tiny_base_model)
    full = (
        client.chat.completions.create(model=model, messages=QUESTION, max_tokens=16, temperature=0)
        .choices[0]
        .message.content
    )
    assert len(full) >= 4
    stop = full[2:4]
    cut = client.chat.completions.create(model=model, messages=QUESTION, max_tokens=16, temperature=0, stop=[stop])
    streamed = client.chat.completions.create(model=model, messages=QUESTION, max_tokens=16, temperature=0, stop=stop,
                                              stream=True)
    expected = full[:full.find(stop)]
    assert cut.choices[0].message.content == expected
    assert cut.choices[0].finish_reason == "stop"
    assert "".join(chunk.choices[0].delta.content or "" for chunk in streamed if chunk.choices) == expected


def test_adapter_model_answers_differently_from_its_base(client, tiny_artifact):
    base = client.chat.completions.create(
        model=base_model_id(tiny_artifact.base_model), messages=QUESTION, max_tokens=12, temperature=0
    )
    tuned = client.chat.completions.create(model=artifact_model_id(tiny_artifact), messages=QUESTION, max_tokens=12,
                                           temperature=0)
    assert tuned.model == artifact_model_id(tiny_artifact)
    assert tuned.choices[0].message.content != base.choices[0].message.content


def test_unknown_model_is_404_in_the_openai_error_shape(client, tiny_base_model):
    with pytest.raises(openai.NotFoundError) as caught:
        client.chat.completions.create(model=f"{tiny_base_model.workspace_id}/no-such-model", messages=QUESTION)
    assert caught.value.status_code == 404
    assert caught.value.code == "model_not_found"
    assert caught.value.param == "model"


def test_wrong_token_is_401(connect, tiny_base_model):
    client = connect("not-a-token")
    with pytest.raises(openai.AuthenticationError) as caught:
        client.models.list()
    assert caught.value.code == "invalid_api_key"


def test_model_of_another_workspace_is_not_found(connect, tiny_base_model, users):
    outsider = connect(api_token_for(user=users["outsider"]))
    assert outsider.models.list().data == []
    with pytest.raises(openai.NotFoundError):
        outsider.chat.completions.create(model=base_model_id(tiny_base_model), messages=QUESTION)


def test_malformed_messages_and_long_context_are_400(client, tiny_base_model):
    model = base_model_id(tiny_base_model)
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model=model, messages=[{"role": "wizard", "content": "hi"}])
    assert caught.value.param == "messages[0].role"
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model=model, messages=[])
    assert caught.value.param == "messages"
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model=model, messages=[{"role": "user", "content": "reset password " * 400}])
    assert caught.value.code == "context_length_exceeded"
    assert "maximum context length is 512 tokens" in caught.value.message


def test_a_model_that_fails_to_load_reports_why_and_the_server_keeps_serving(client, workspace, tiny_base_model,
                                                                             tiny_model_dir, tmp_path):
    import shutil

    from training.server import engine
    from training.services.base_models import base_model_register

    broken_dir = tmp_path / "broken"
    shutil.copytree(tiny_model_dir, broken_dir)
    broken = base_model_register(workspace=workspace, name="broken", path=str(broken_dir))
    for weights in broken_dir.glob("*.safetensors"):
        weights.write_bytes(b"not weights")
    with pytest.raises(openai.InternalServerError) as first:
        client.chat.completions.create(model=base_model_id(broken), messages=QUESTION, max_tokens=4)
    assert first.value.code == "model_load_failed"
    assert str(broken_dir) in first.value.message
    with pytest.raises(openai.InternalServerError) as second:
        client.chat.completions.create(model=base_model_id(broken), messages=QUESTION, max_tokens=4)
    assert second.value.message == first.value.message
    assert (str(broken_dir), None) not in engine.cached_keys()
    healthy = client.chat.completions.create(
        model=base_model_id(tiny_base_model), messages=QUESTION, max_tokens=4, temperature=0
    )
    assert healthy.choices[0].message.content is not None

import pytest

from common.errors import ApplicationError
from llm.keys import api_key_decrypt, api_key_encrypt, endpoint_api_key
from llm.services.endpoints import model_endpoint_create


def test_encrypted_key_round_trips_and_is_not_stored_in_clear(workspace):
    endpoint = model_endpoint_create(workspace=workspace, name="provider", base_url="https://api.example.com/v1",
                                     model="gpt-x", api_key="sk-secret-123")
    assert "sk-secret-123" not in endpoint.api_key_encrypted
    assert endpoint_api_key(endpoint) == "sk-secret-123"
    assert api_key_decrypt(api_key_encrypt("other")) == "other"


def test_environment_variable_key(workspace, monkeypatch):
    endpoint = model_endpoint_create(workspace=workspace, name="vllm", base_url="http://gpu:8000/v1", model="m",
                                     api_key_env="WHET_TEST_KEY")
    monkeypatch.setenv("WHET_TEST_KEY", "from-env")
    assert endpoint_api_key(endpoint) == "from-env"
    monkeypatch.delenv("WHET_TEST_KEY")
    with pytest.raises(ApplicationError) as caught:
        endpoint_api_key(endpoint)
    assert caught.value.message == "the environment variable WHET_TEST_KEY (API key of model endpoint 'vllm') is not set"


def test_a_key_encrypted_under_another_secret_is_refused(workspace, settings):
    endpoint = model_endpoint_create(workspace=workspace, name="p", base_url="https://x/v1", model="m", api_key="k")
    settings.SECRET_KEY = "something else entirely"
    with pytest.raises(ApplicationError) as caught:
        endpoint_api_key(endpoint)
    assert caught.value.where == "api_key"

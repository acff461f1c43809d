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
                                     api_key_env="WHET_TEST_API_KEY")
    monkeypatch.setenv("WHET_TEST_API_KEY", "from-env")
    assert endpoint_api_key(endpoint) == "from-env"
    monkeypatch.delenv("WHET_TEST_API_KEY")
    with pytest.raises(ApplicationError) as caught:
        endpoint_api_key(endpoint)
    assert (
        caught.value.message
        == "the environment variable WHET_TEST_API_KEY (API key of model endpoint 'vllm') is not set"
    )


def test_a_key_encrypted_under_another_secret_is_refused(workspace, settings):
    endpoint = model_endpoint_create(workspace=workspace, name="p", base_url="https://x/v1", model="m", api_key="k")
    settings.SECRET_KEY = "something else entirely"
    with pytest.raises(ApplicationError) as caught:
        endpoint_api_key(endpoint)
    assert caught.value.where == "api_key"


@pytest.mark.parametrize("name,reason", [
    ("LOG_LEVEL", "the server reads it for its own settings"),  # read by the settings module
    ("WHETSTONE_TRAINING_DEVICE_MEMORY_GB", "the server reads it for its own settings"),
    ("WHETSTONE_SERVER_MAX_MODELS", "the server reads it for its own settings"),  # the project's own prefix
    ("EMAIL_HOST_PASSWORD", "the server reads it for its own settings"),  # a Django setting
    ("secret_key", "the server reads it for its own settings"),
])
def test_the_servers_own_variables_are_refused_even_when_the_patterns_allow_everything(name, reason, settings):
    from llm.keys import api_key_env_check

    settings.ENDPOINT_KEY_ENV_ALLOWED = ["*"]
    with pytest.raises(ApplicationError) as caught:
        api_key_env_check(name)
    assert (caught.value.where, caught.value.message) == (
        "api_key_env",
        f"the environment variable {name} may not hold an endpoint's key: {reason}",
    )


@pytest.mark.parametrize("name", ["MY-KEY", "1_API_KEY", "A B_API_KEY", "X" * 201 + "_API_KEY", ""])
def test_a_name_that_is_not_a_variable_name_is_refused(name):
    from llm.keys import api_key_env_check

    with pytest.raises(ApplicationError) as caught:
        api_key_env_check(name)
    assert caught.value.where == "api_key_env"
    assert "is not an environment variable name" in caught.value.message


def test_the_rule_is_checked_again_when_the_key_is_used(workspace, monkeypatch, settings):
    endpoint = model_endpoint_create(workspace=workspace, name="vllm", base_url="http://gpu:8000/v1", model="m",
                                     api_key_env="VLLM_API_KEY")
    monkeypatch.setenv("VLLM_API_KEY", "from-env")
    assert endpoint_api_key(endpoint) == "from-env"
    settings.ENDPOINT_KEY_ENV_ALLOWED = ["WHETSTONE_KEY_*"]  # the operator narrows the rule
    with pytest.raises(ApplicationError) as caught:
        endpoint_api_key(endpoint)
    assert caught.value.message == (
        "the environment variable VLLM_API_KEY may not hold an endpoint's key: the operator allows "
        "only names matching WHETSTONE_KEY_* (WHETSTONE_ENDPOINT_KEY_ENV_ALLOWED)"
    )

"""Issue 15, item 1: a model endpoint cannot carry a server secret to a URL of the user's choosing, reach a private
address the operator did not allow, follow a redirect, or relay what the remote answered.

Everything goes through HTTP (the API with a token, the pages with a session, the admin), and the remote is a real
HTTP server on 127.0.0.1 (llm.tests.listener) that records every request it receives. Each test starts from the
default policy (test_the_defaults_refuse_private_addresses_and_server_settings proves these are the defaults).
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.urls import reverse

from common.models import HistoryEvent
from llm.models import ModelCall, ModelEndpoint
from llm.tests.listener import closed_port

pytestmark = pytest.mark.django_db

MARKER = "REMOTE-SAID-7f3a"
SERVER_SETTINGS = ["SECRET_KEY", "DATABASE_URL", "DEBUG", "ALLOWED_HOSTS", "WHETSTONE_STORAGE", "EMAIL_HOST_PASSWORD",
                   "DJANGO_SETTINGS_MODULE"]
NOT_PUBLIC = [
    "127.0.0.1",
    "127.8.9.10",
    "localhost",
    "[::1]",
    "0.0.0.0",
    "[::]",
    "10.1.2.3",
    "172.16.0.1",
    "192.168.1.1",
    "169.254.169.254",
    "100.64.0.1",
    "224.0.0.1",
    "240.0.0.1",
    "255.255.255.255",
    "[fe80::1]",
    "[fc00::1]",
    "[ff02::1]",
    "[::ffff:127.0.0.1]",
    "[::ffff:10.0.0.1]",
    "[64:ff9b::a00:1]",
    "[2002:7f00:1::]",
    "2130706433",
    "0x7f.1",
    "017700000001",
    "127.1",
]
POLICY_REFUSAL = (
    "the outbound policy refuses {host}: its address is not public, and WHETSTONE_OUTBOUND_PRIVATE_ALLOWED "
    "does not list it"
)


@pytest.fixture(autouse=True)
def default_policy(settings):
    settings.OUTBOUND_HOSTS = ["*"]
    settings.OUTBOUND_PRIVATE_ALLOWED = []
    settings.ENDPOINT_KEY_ENV_ALLOWED = ["*_API_KEY", "WHETSTONE_KEY_*"]


@pytest.fixture
def engineer(users, api_for):
    return api_for(users["ml_engineer"])


def written() -> tuple[int, int]:
    return ModelEndpoint.objects.count(), HistoryEvent.objects.filter(target_type="llm.modelendpoint").count()


def create_body(workspace, **fields) -> dict:
    return {
        "workspace": workspace.pk,
        "name": "leak",
        "model": "listener-model",
        "timeout_seconds": 5,
        "max_retries": 0,
        **fields,
    }


def test_the_defaults_refuse_private_addresses_and_server_settings():
    """The defaults as the settings module declares them, read in a fresh process with none of our variables set."""
    environment = {name: value for name, value in os.environ.items() if not name.startswith("WHETSTONE_")}
    script = ("import django, json; django.setup(); from django.conf import settings as s; "
              "print(json.dumps([s.OUTBOUND_HOSTS, s.OUTBOUND_PRIVATE_ALLOWED, s.ENDPOINT_KEY_ENV_ALLOWED]))")
    environment["DJANGO_SETTINGS_MODULE"] = "config.settings"
    done = subprocess.run([sys.executable, "-c", script], env=environment, capture_output=True, text=True, timeout=120,
                          cwd=Path(__file__).resolve().parents[2])
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == [["*"], [], ["*_API_KEY", "WHETSTONE_KEY_*"]]


# ---------------------------------------------------------------------------------------------------------------
# The key variable


@pytest.mark.parametrize("name", SERVER_SETTINGS)
def test_a_server_setting_as_the_key_variable_is_refused_on_create(
    name, engineer, workspace, make_listener, outbound_allow
):
    listener = make_listener()
    outbound_allow(listener.address)  # only the key rule stands in the way
    before = written()
    response = engineer.post(
        "/api/v1/model-endpoints/",
        create_body(workspace, base_url=f"{listener.url}/v1", api_key_env=name),
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["where"] == "api_key_env"
    assert response.json()["detail"].startswith(f"the environment variable {name} may not hold an endpoint's key: ")
    assert written() == before
    assert listener.requests == []


def test_a_name_outside_the_operator_patterns_is_refused_and_one_inside_is_kept(engineer, workspace, settings):
    refused = engineer.post("/api/v1/model-endpoints/", create_body(workspace, base_url="https://api.example.com/v1",
                                                                    api_key_env="HOME"), format="json")
    assert (refused.status_code, refused.json()["where"]) == (400, "api_key_env")
    assert refused.json()["detail"] == (
        "the environment variable HOME may not hold an endpoint's key: the operator allows "
        "only names matching *_API_KEY, WHETSTONE_KEY_* (WHETSTONE_ENDPOINT_KEY_ENV_ALLOWED)"
    )
    assert written() == (0, 0)
    # Even a pattern that matches everything does not open the server's own settings.
    settings.ENDPOINT_KEY_ENV_ALLOWED = ["*"]
    refused = engineer.post("/api/v1/model-endpoints/", create_body(workspace, base_url="https://api.example.com/v1",
                                                                    api_key_env="SECRET_KEY"), format="json")
    assert refused.json()["detail"] == (
        "the environment variable SECRET_KEY may not hold an endpoint's key: the server reads it for its own settings"
    )
    assert written() == (0, 0)
    settings.ENDPOINT_KEY_ENV_ALLOWED = ["*_API_KEY", "WHETSTONE_KEY_*"]
    for name in ("OPENAI_API_KEY", "WHETSTONE_KEY_VLLM"):
        made = engineer.post(
            "/api/v1/model-endpoints/",
            create_body(workspace, name=name, base_url="https://api.example.com/v1", api_key_env=name),
            format="json",
        )
        assert (made.status_code, made.json()["api_key_env"]) == (201, name)
    assert written() == (2, 2)


@pytest.mark.parametrize("name", ["SECRET_KEY", "DATABASE_URL"])
def test_a_server_setting_as_the_key_variable_is_refused_on_update(name, engineer, workspace):
    made = engineer.post("/api/v1/model-endpoints/", create_body(workspace, base_url="https://api.example.com/v1",
                                                                 api_key="sk-stored"), format="json").json()
    endpoint_before = ModelEndpoint.objects.values().get()
    before = written()
    response = engineer.patch(f"/api/v1/model-endpoints/{made['id']}/", {"api_key_env": name}, format="json")
    assert (response.status_code, response.json()["where"]) == (400, "api_key_env")
    assert ModelEndpoint.objects.values().get() == endpoint_before
    assert written() == before


def test_the_page_and_the_admin_refuse_a_server_setting_too(client, users, workspace, make_user):
    client.force_login(users["ml_engineer"])
    form = {
        "workspace": workspace.pk,
        "name": "leak",
        "base_url": "https://api.example.com/v1",
        "model": "m",
        "api_key": "",
        "api_key_env": "SECRET_KEY",
        "timeout_seconds": "5",
        "max_retries": "0",
        "backoff_seconds": "0.5",
        "concurrency": "4",
        "requests_per_minute": "0",
    }
    page = client.post(reverse("llm:endpoint-create"), form)
    assert page.status_code == 400
    assert "the environment variable SECRET_KEY may not hold an endpoint&#x27;s key" in page.content.decode()
    assert written() == (0, 0)

    client.force_login(make_user("root", is_superuser=True))
    admin_form = {key: value for key, value in form.items()}
    admin = client.post("/admin/llm/modelendpoint/add/", admin_form)
    assert admin.status_code == 200  # the form again, with the error
    assert "the environment variable SECRET_KEY may not hold an endpoint&#x27;s key" in admin.content.decode()
    assert written() == (0, 0)


def test_an_endpoint_saved_before_the_rule_never_sends_the_variable(engineer, client, users, workspace, make_listener,
                                                                     outbound_allow, settings, monkeypatch):
    monkeypatch.setenv("SECRET_KEY", settings.SECRET_KEY)  # as on a production server
    listener = make_listener()
    outbound_allow(listener.address)
    # A row the services refuse to save, as an older database may hold: written directly to reach the call-time check.
    legacy = ModelEndpoint.objects.create(workspace=workspace, name="legacy", base_url=f"{listener.url}/v1",
                                          model="listener-model", api_key_env="SECRET_KEY", max_retries=0)
    body = engineer.post(f"/api/v1/model-endpoints/{legacy.pk}/test/").json()
    assert body["ok"] is False
    assert body["message"] == (
        "the environment variable SECRET_KEY may not hold an endpoint's key: the server reads it for its own settings"
    )
    client.force_login(users["ml_engineer"])
    page = client.post(reverse("llm:endpoint-test", args=[legacy.pk])).content.decode()
    assert "may not hold an endpoint&#x27;s key" in page
    assert listener.requests == []
    assert settings.SECRET_KEY not in page + json.dumps(body)
    assert ModelCall.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_the_chat_client_never_sends_the_variable_either(
    client, users, workspace, make_listener, outbound_allow, settings
):
    """The workbench page asks endpoints through llm.client, the path judges, AI annotators and augmentation take."""
    listener = make_listener()
    outbound_allow(listener.address)
    legacy = ModelEndpoint.objects.create(workspace=workspace, name="legacy", base_url=f"{listener.url}/v1",
                                          model="listener-model", api_key_env="DATABASE_URL", max_retries=0)
    client.force_login(users["ml_engineer"])
    page = client.post("/feedback/workbench/candidates/", {"workspace": workspace.pk, "endpoints": [legacy.pk],
                                                           "message": "Hello?", "per_endpoint": "2"})
    assert page.status_code == 400
    assert "the environment variable DATABASE_URL may not hold an endpoint&#x27;s key" in page.content.decode()
    assert listener.requests == []


# ---------------------------------------------------------------------------------------------------------------
# The address policy


@pytest.mark.parametrize("host", NOT_PUBLIC)
def test_a_base_url_on_a_non_public_address_is_refused_when_saved(host, engineer, workspace):
    response = engineer.post("/api/v1/model-endpoints/", create_body(workspace, base_url=f"http://{host}:8000/v1"),
                             format="json")
    assert response.status_code == 400
    assert response.json()["where"] == "base_url"
    assert response.json()["detail"].startswith("the outbound policy refuses ")
    assert "WHETSTONE_OUTBOUND_PRIVATE_ALLOWED" in response.json()["detail"]
    assert written() == (0, 0)


def test_a_base_url_is_checked_on_update_and_against_the_host_patterns(engineer, workspace, settings):
    made = engineer.post("/api/v1/model-endpoints/", create_body(workspace, base_url="https://api.example.com/v1"),
                         format="json").json()
    before = (ModelEndpoint.objects.values().get(), written())
    response = engineer.patch(f"/api/v1/model-endpoints/{made['id']}/", {"base_url": "http://169.254.169.254/latest"},
                              format="json")
    assert (response.status_code, response.json()["where"]) == (400, "base_url")
    settings.OUTBOUND_HOSTS = ["api.openai.com", "*.example.org"]
    response = engineer.patch(
        f"/api/v1/model-endpoints/{made['id']}/", {"base_url": "https://elsewhere.example.com/v1"}, format="json"
    )
    assert (response.status_code, response.json()["where"]) == (400, "base_url")
    assert response.json()["detail"] == (
        "the outbound policy refuses elsewhere.example.com: model endpoints may reach only "
        "api.openai.com, *.example.org (WHETSTONE_OUTBOUND_HOSTS)"
    )
    assert (ModelEndpoint.objects.values().get(), written()) == before


def test_test_connection_to_loopback_is_refused_before_connecting_open_port_or_closed(
    engineer, workspace, make_listener, outbound_allow, settings
):
    listener, nothing = make_listener(), closed_port()
    # Saved while the operator allowed both ports; then the operator withdrew the allowance.
    outbound_allow(listener.address, f"127.0.0.1:{nothing}")
    ids = [
        engineer.post(
            "/api/v1/model-endpoints/",
            create_body(workspace, name=str(port), base_url=f"http://127.0.0.1:{port}/v1"),
            format="json",
        ).json()["id"]
        for port in (listener.port, nothing)
    ]
    settings.OUTBOUND_PRIVATE_ALLOWED = []
    answers = [engineer.post(f"/api/v1/model-endpoints/{pk}/test/").json() for pk in ids]
    assert listener.requests == []
    assert [(answer["ok"], answer["message"], answer["models"]) for answer in answers] == [
        (False, POLICY_REFUSAL.format(host="127.0.0.1"), []), (False, POLICY_REFUSAL.format(host="127.0.0.1"), [])]
    assert ModelCall.objects.count() == 0


@pytest.mark.parametrize("host", ["localhost", "[::ffff:127.0.0.1]", "2130706433", "127.1"])
def test_a_stored_name_or_odd_spelling_of_loopback_is_refused_at_call_time(host, engineer, workspace, make_listener):
    listener = make_listener()
    # Rows the services refuse to save, as an older database may hold: written directly to reach the call-time check.
    legacy = ModelEndpoint.objects.create(
        workspace=workspace,
        name="legacy",
        base_url=f"http://{host}:{listener.port}/v1",
        model="listener-model",
        max_retries=0,
    )
    answer = engineer.post(f"/api/v1/model-endpoints/{legacy.pk}/test/").json()
    assert answer["ok"] is False
    assert answer["message"].startswith("the outbound policy refuses ")
    assert listener.requests == []


@pytest.mark.django_db(transaction=True)
def test_the_chat_client_refuses_a_loopback_address_the_operator_did_not_allow(client, users, workspace, make_listener):
    listener = make_listener()
    legacy = ModelEndpoint.objects.create(workspace=workspace, name="legacy", base_url=f"{listener.url}/v1",
                                          model="listener-model", max_retries=2, backoff_seconds=0)
    client.force_login(users["ml_engineer"])
    page = client.post("/feedback/workbench/candidates/", {"workspace": workspace.pk, "endpoints": [legacy.pk],
                                                           "message": "Hello?", "per_endpoint": "2"})
    assert page.status_code == 400
    assert "the outbound policy refuses 127.0.0.1" in page.content.decode()
    assert listener.requests == []
    # Refused is final: no retries.
    assert (
        list(ModelCall.objects.values_list("attempts", "error")) == [(1, POLICY_REFUSAL.format(host="127.0.0.1"))] * 2
    )


# ---------------------------------------------------------------------------------------------------------------
# Redirects and what the remote says


def test_a_redirect_is_reported_and_not_followed(engineer, workspace, make_listener, outbound_allow):
    target = make_listener()  # not allowed: a redirect there must not be followed
    source = make_listener(
        answer=lambda method, path: (302, {"Location": f"{target.url}{path}"}, f"moved {MARKER}".encode())
    )
    outbound_allow(source.address)
    made = engineer.post(
        "/api/v1/model-endpoints/", create_body(workspace, base_url=f"{source.url}/v1"), format="json"
    ).json()
    response = engineer.post(f"/api/v1/model-endpoints/{made['id']}/test/")
    assert response.json()["ok"] is False
    assert response.json()["message"] == (
        "the endpoint answered with a redirect (HTTP status 302), which is not followed; "
        "use the address it redirects to as the base URL"
    )
    assert (len(source.requests), target.requests) == (1, [])
    assert MARKER not in response.content.decode() and str(target.port) not in response.content.decode()


@pytest.mark.django_db(transaction=True)
def test_the_chat_client_does_not_follow_a_redirect_or_relay_the_body(
    client, users, workspace, make_listener, outbound_allow
):
    target = make_listener()
    source = make_listener(
        answer=lambda method, path: (307, {"Location": f"{target.url}{path}"}, f"moved {MARKER}".encode())
    )
    outbound_allow(source.address)
    endpoint = ModelEndpoint.objects.create(workspace=workspace, name="moving", base_url=f"{source.url}/v1",
                                            model="listener-model", max_retries=0)
    client.force_login(users["ml_engineer"])
    page = client.post("/feedback/workbench/candidates/", {"workspace": workspace.pk, "endpoints": [endpoint.pk],
                                                           "message": "Hello?", "per_endpoint": "2"})
    assert page.status_code == 400
    assert "redirect (HTTP status 307), which is not followed" in page.content.decode()
    assert MARKER not in page.content.decode()
    assert target.requests == []
    assert not any(MARKER in error for error in ModelCall.objects.values_list("error", flat=True))


@pytest.mark.parametrize(
    "status,content_type,body,message",
    [
        (
            500,
            "text/plain",
            f"internal error {MARKER}",
            "the endpoint answered HTTP status 500 (Internal Server Error)",
        ),
        (
            404,
            "application/json",
            json.dumps({"error": {"message": MARKER}}),
            "the endpoint answered HTTP status 404 (Not Found)",
        ),
        (
            401,
            "application/json",
            json.dumps({"error": {"message": MARKER}}),
            "the endpoint answered HTTP status 401 (Unauthorized); check the API key",
        ),
        (200, "text/html", f"<html>{MARKER}</html>", "the endpoint did not answer with an OpenAI model list"),
        (
            200,
            "application/json",
            json.dumps({"data": MARKER}),
            "the endpoint did not answer with an OpenAI model list",
        ),
    ],
)
def test_the_remote_body_is_never_relayed(
    status, content_type, body, message, engineer, workspace, make_listener, outbound_allow
):
    listener = make_listener(answer=lambda method, path: (status, {"Content-Type": content_type}, body.encode()))
    outbound_allow(listener.address)
    made = engineer.post(
        "/api/v1/model-endpoints/", create_body(workspace, base_url=f"{listener.url}/v1"), format="json"
    ).json()
    response = engineer.post(f"/api/v1/model-endpoints/{made['id']}/test/")
    assert (response.json()["ok"], response.json()["message"]) == (False, message)
    assert MARKER not in response.content.decode()
    assert len(listener.requests) == 1

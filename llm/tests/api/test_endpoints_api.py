import pytest

from common.models import HistoryEvent
from llm.models import ModelEndpoint
from llm.services.endpoints import model_endpoint_create

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
MANAGERS = {"admin", "ml_engineer"}
USERS_OF = {"admin", "ml_engineer", "product_manager"}


def make(workspace, name="vllm", **fields):
    options = {"base_url": "http://vllm:8000/v1", "model": "qwen"}
    options.update(fields)
    return model_endpoint_create(workspace=workspace, name=name, **options)


@pytest.mark.parametrize("who", ALL)
def test_create_by_role_and_the_key_never_comes_back(who, users, api_for, workspace):
    body = {"workspace": workspace.pk, "name": "provider", "base_url": "https://api.example.com/v1", "model": "gpt-x",
            "api_key": "sk-very-secret", "timeout_seconds": 20, "concurrency": 8}
    response = api_for(users[who]).post("/api/v1/model-endpoints/", body, format="json")
    if who not in MANAGERS:
        assert response.status_code == 404
        assert ModelEndpoint.objects.count() == 0
        return
    assert response.status_code == 201
    assert "sk-very-secret" not in response.content.decode()
    assert "api_key_encrypted" not in response.json()
    endpoint = ModelEndpoint.objects.get()
    assert (response.json()["id"], response.json()["has_api_key"], endpoint.timeout_seconds, endpoint.concurrency) == (
        endpoint.pk, True, 20.0, 8)
    assert (
        HistoryEvent.objects.filter(target_type="llm.modelendpoint", target_id=endpoint.pk, verb="created").count() == 1
    )
    assert "sk-very-secret" not in str(HistoryEvent.objects.get(target_type="llm.modelendpoint").after)


@pytest.mark.parametrize("who", ALL)
def test_list_and_detail_by_role(who, users, api_for, workspace):
    endpoint = make(workspace, api_key="sk-1")
    client = api_for(users[who])
    listed = client.get("/api/v1/model-endpoints/").json()["results"]
    detail = client.get(f"/api/v1/model-endpoints/{endpoint.pk}/")
    if who in USERS_OF:
        assert [row["name"] for row in listed] == ["vllm"]
        assert (listed[0]["call_count"], listed[0]["tokens_used"], listed[0]["has_api_key"]) == (0, 0, True)
        assert detail.status_code == 200
        assert "sk-1" not in detail.content.decode()
    else:
        assert listed == []
        assert detail.status_code == 404


@pytest.mark.parametrize("who", ALL)
def test_update_and_delete_by_role(who, users, api_for, workspace):
    endpoint = make(workspace)
    client = api_for(users[who])
    patched = client.patch(
        f"/api/v1/model-endpoints/{endpoint.pk}/", {"model": "llama", "max_retries": 5}, format="json"
    )
    deleted = client.delete(f"/api/v1/model-endpoints/{endpoint.pk}/")
    expected = {"product_manager": 403}.get(who, 200 if who in MANAGERS else 404)
    assert patched.status_code == expected
    assert deleted.status_code == (204 if who in MANAGERS else expected)
    if who in MANAGERS:
        assert patched.json()["model"] == "llama"
        assert patched.json()["max_retries"] == 5
        assert ModelEndpoint.objects.count() == 0
        verbs = (
            HistoryEvent.objects.filter(target_type="llm.modelendpoint").order_by("pk").values_list("verb", flat=True)
        )
        assert list(verbs) == ["created", "updated", "deleted"]
    else:
        endpoint.refresh_from_db()
        assert (endpoint.model, endpoint.max_retries) == ("qwen", 3)


def test_key_switches_between_encrypted_and_environment(users, api_for, workspace):
    endpoint = make(workspace, api_key="sk-1")
    client = api_for(users["ml_engineer"])
    body = client.patch(
        f"/api/v1/model-endpoints/{endpoint.pk}/", {"api_key_env": "VLLM_API_KEY"}, format="json"
    ).json()
    endpoint.refresh_from_db()
    assert (body["has_api_key"], body["api_key_env"], endpoint.api_key_encrypted) == (True, "VLLM_API_KEY", "")
    body = client.patch(f"/api/v1/model-endpoints/{endpoint.pk}/", {"clear_api_key": True}, format="json").json()
    assert (body["has_api_key"], body["api_key_env"]) == (False, "")


def test_bad_settings_are_400_naming_the_field(users, api_for, workspace):
    client = api_for(users["ml_engineer"])
    body = {"workspace": workspace.pk, "name": "x", "base_url": "ftp://nowhere", "model": "m"}
    response = client.post("/api/v1/model-endpoints/", body, format="json")
    assert (response.status_code, response.json()["where"]) == (400, "base_url")
    response = client.post(
        "/api/v1/model-endpoints/", {**body, "base_url": "http://h/v1", "concurrency": 0}, format="json"
    )
    assert (response.status_code, response.json()["where"]) == (400, "concurrency")
    make(workspace, name="x")
    response = client.post("/api/v1/model-endpoints/", {**body, "base_url": "http://h/v1"}, format="json")
    assert (response.status_code, response.json()["code"]) == (400, "duplicate")
    response = client.post("/api/v1/model-endpoints/", {**body, "name": "y", "base_url": "http://h/v1", "api_key": "k",
                                                        "api_key_env": "K_API_KEY"}, format="json")
    assert (response.status_code, response.json()["where"]) == (400, "api_key")
    assert ModelEndpoint.objects.count() == 1


def test_list_costs_the_same_for_1_and_10_rows(users, api_for, workspace, django_assert_num_queries):
    client = api_for(users["ml_engineer"])
    make(workspace, name="e0")
    with django_assert_num_queries(3):  # token auth, count, page
        assert len(client.get("/api/v1/model-endpoints/").json()["results"]) == 1
    for i in range(1, 10):
        make(workspace, name=f"e{i}")
    with django_assert_num_queries(3):
        assert len(client.get("/api/v1/model-endpoints/").json()["results"]) == 10


@pytest.mark.parametrize("who", ["ml_engineer", "product_manager", "outsider"])
def test_connection_test_permissions(who, users, api_for, workspace, outbound_allow):
    from llm.tests.listener import closed_port

    port = closed_port()
    outbound_allow(f"127.0.0.1:{port}")
    endpoint = make(workspace, base_url=f"http://127.0.0.1:{port}/v1", timeout_seconds=1)
    response = api_for(users[who]).post(f"/api/v1/model-endpoints/{endpoint.pk}/test/")
    assert response.status_code == {"ml_engineer": 200, "product_manager": 403, "outsider": 404}[who]
    if who == "ml_engineer":
        assert response.json()["ok"] is False
        assert response.json()["message"] == f"could not connect to 127.0.0.1:{port}"


@pytest.mark.django_db(transaction=True)
def test_connection_test_against_the_real_server(users, api_for, tiny_endpoint, make_endpoint):
    client = api_for(users["ml_engineer"])
    body = client.post(f"/api/v1/model-endpoints/{tiny_endpoint.pk}/test/").json()
    assert (body["ok"], body["models"]) == (True, [tiny_endpoint.model])
    wrong = make_endpoint(model="1/nothing", name="wrong model")
    body = client.post(f"/api/v1/model-endpoints/{wrong.pk}/test/").json()
    assert (body["ok"], body["message"]) == (False, "connected, but the endpoint does not serve '1/nothing'")
    locked_out = make_endpoint(model=tiny_endpoint.model, name="bad key", api_key="nope")
    body = client.post(f"/api/v1/model-endpoints/{locked_out.pk}/test/").json()
    assert body["ok"] is False
    assert body["message"] == "the endpoint answered HTTP status 401 (Unauthorized); check the API key"

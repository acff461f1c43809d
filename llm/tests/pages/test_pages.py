"""The endpoint pages: same services as the API, keys never shown, errors beside their field, fixed queries."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from llm.models import ModelEndpoint
from llm.services.endpoints import model_endpoint_create


@pytest.fixture
def browser(client):
    def login(user):
        client.force_login(user)
        return client

    return login


def form_data(workspace=None, **overrides) -> dict:
    data = {
        "name": "vllm",
        "base_url": "http://vllm:8000/v1",
        "model": "qwen",
        "api_key": "sk-typed-once",
        "api_key_env": "",
        "timeout_seconds": "30",
        "max_retries": "2",
        "backoff_seconds": "0.5",
        "concurrency": "4",
        "requests_per_minute": "0",
    }
    if workspace is not None:
        data["workspace"] = workspace.pk
    data.update(overrides)
    return data


def test_url_names():
    assert reverse("llm:endpoint-list") == "/endpoints/"
    assert reverse("llm:endpoint-create") == "/endpoints/new/"


def test_create_then_edit_never_shows_the_key(browser, users, workspace):
    client = browser(users["ml_engineer"])
    response = client.post(reverse("llm:endpoint-create"), form_data(workspace))
    endpoint = ModelEndpoint.objects.get()
    assert response.status_code == 302
    assert response.url == reverse("llm:endpoint-edit", args=[endpoint.pk])
    page = client.get(response.url).content.decode()
    assert "sk-typed-once" not in page
    assert endpoint.api_key_encrypted not in page
    assert "A key is stored (encrypted)." in page
    saved = client.post(response.url, form_data(model="llama", api_key="", api_key_env=""))
    endpoint.refresh_from_db()
    assert saved.status_code == 302
    assert (endpoint.model, endpoint.has_api_key) == ("llama", True)
    list_page = client.get(reverse("llm:endpoint-list")).content.decode()
    assert "sk-typed-once" not in list_page
    assert "stored, encrypted" in list_page


def test_service_errors_show_beside_the_field_and_create_nothing(browser, users, workspace):
    client = browser(users["ml_engineer"])
    response = client.post(reverse("llm:endpoint-create"), form_data(workspace, base_url="ftp://x"))
    assert response.status_code == 400
    assert "the base URL must start with http:// or https://" in response.content.decode()
    assert ModelEndpoint.objects.count() == 0


#outsider: not a workspace choice
@pytest.mark.parametrize("who,status", [("product_manager", 404), ("reviewer", 404), ("outsider", 400)])
def test_only_managers_create(browser, users, workspace, who, status):
    response = browser(users[who]).post(reverse("llm:endpoint-create"), form_data(workspace))
    assert response.status_code == status
    assert ModelEndpoint.objects.count() == 0


@pytest.mark.parametrize("who,status", [("ml_engineer", 302), ("product_manager", 403), ("outsider", 404)])
def test_delete_by_role(browser, users, workspace, who, status):
    endpoint = model_endpoint_create(workspace=workspace, name="e", base_url="http://h/v1", model="m")
    response = browser(users[who]).post(reverse("llm:endpoint-delete", args=[endpoint.pk]))
    assert response.status_code == status
    assert ModelEndpoint.objects.count() == (0 if status == 302 else 1)


def test_product_manager_sees_the_list_without_edit_links(browser, users, workspace):
    endpoint = model_endpoint_create(workspace=workspace, name="judge <b>", base_url="http://h/v1", model="m")
    page = browser(users["product_manager"]).get(reverse("llm:endpoint-list")).content.decode()
    assert "judge &lt;b&gt;" in page
    assert reverse("llm:endpoint-edit", args=[endpoint.pk]) not in page
    assert "New endpoint" not in page


def test_list_page_costs_the_same_for_1_and_10_rows(browser, users, workspace, tiny_base_model):
    client = browser(users["ml_engineer"])
    model_endpoint_create(workspace=workspace, name="e0", base_url="http://h/v1", model="m")
    client.get(reverse("llm:endpoint-list"))
    with CaptureQueriesContext(connection) as one:
        assert client.get(reverse("llm:endpoint-list")).status_code == 200
    for i in range(1, 10):
        model_endpoint_create(workspace=workspace, name=f"e{i}", base_url="http://h/v1", model="m")
    with CaptureQueriesContext(connection) as ten:
        page = client.get(reverse("llm:endpoint-list")).content.decode()
    assert len(ten) == len(one)
    assert page.count('id="endpoint-') == 10
    assert f"{workspace.pk}/tiny-chat" in page


@pytest.mark.django_db(transaction=True)
def test_test_connection_button_reports_the_real_server(browser, users, tiny_endpoint):
    response = browser(users["ml_engineer"]).post(
        reverse("llm:endpoint-test", args=[tiny_endpoint.pk]), HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200
    page = response.content.decode()
    assert f"Connected: “{tiny_endpoint.model}” is served." in page
    assert "connected;" not in page  # said once, not twice

"""API tokens: made, named, listed, revoked, kept hashed; the same key works as `Token` and `Bearer`, on the REST API
and on the OpenAI-compatible server; tokens of REST framework's table keep working after the migration."""

import hashlib
from datetime import timedelta

import pytest
from rest_framework.test import APIClient

from accounts.models import ApiToken
from accounts.services import api_token_authenticate, api_token_create, api_token_revoke
from common.errors import ApplicationError
from common.models import HistoryEvent


def client_with(header: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)
    return client


def test_a_token_is_kept_only_as_its_hash_and_works_as_token_and_bearer(users):
    token, key = api_token_create(user=users["ml_engineer"], name="nightly export")
    stored = ApiToken.objects.get()
    assert (stored.name, stored.prefix, stored.key_hash) == (
        "nightly export",
        key[:10],
        hashlib.sha256(key.encode()).hexdigest(),
    )
    assert key.startswith("wst_") and key not in str(ApiToken.objects.values().get())
    for scheme in ("Token", "Bearer", "bearer"):
        assert client_with(f"{scheme} {key}").get("/api/v1/me/").json()["username"] == "ml_engineer"
    assert (
        HistoryEvent.objects.filter(target_type="accounts.apitoken", target_id=token.pk)
        .values_list("verb", flat=True)
        .get()
        == "created"
    )


def test_a_revoked_or_wrong_token_is_refused(users):
    token, key = api_token_create(user=users["ml_engineer"], name="script")
    api_token_revoke(token=token, revoked_by=users["ml_engineer"])
    api_token_revoke(token=token, revoked_by=users["ml_engineer"])  # twice changes nothing more
    for header in (f"Token {key}", "Token wst_nonsense", "Bearer a b"):
        response = client_with(header).get("/api/v1/me/")
        assert response.status_code == 403, header  # session authentication comes first and has no challenge to send
    assert client_with(f"Token {key}").get("/api/v1/me/").json()["detail"] == "invalid or revoked API token"
    assert list(
        HistoryEvent.objects.filter(target_type="accounts.apitoken").order_by("pk").values_list("verb", flat=True)
    ) == ["created", "revoked"]


def test_last_used_is_noted_at_most_once_a_minute(users, django_assert_num_queries):
    token, key = api_token_create(user=users["ml_engineer"], name="script")
    assert token.last_used_at is None
    with django_assert_num_queries(2):  # the lookup, and the first use written
        api_token_authenticate(key=key)
    first = ApiToken.objects.get().last_used_at
    assert first is not None
    with django_assert_num_queries(1):
        api_token_authenticate(key=key)
    assert ApiToken.objects.get().last_used_at == first
    ApiToken.objects.update(last_used_at=first - timedelta(minutes=2))
    api_token_authenticate(key=key)
    assert ApiToken.objects.get().last_used_at > first - timedelta(seconds=1)


def test_a_token_needs_a_name(users):
    with pytest.raises(ApplicationError) as error:
        api_token_create(user=users["ml_engineer"], name="  ")
    assert error.value.where == "name"
    assert ApiToken.objects.count() == 0


def test_the_api_creates_lists_and_revokes_your_own_tokens(users, api_for):
    client = api_for(users["staff_annotator"])
    created = client.post("/api/v1/auth/tokens/", {"name": "labelling bot"}, format="json")
    assert created.status_code == 201
    body = created.json()
    assert (body["name"], body["is_active"], body["token"][:10]) == ("labelling bot", True, body["prefix"])
    listed = client.get("/api/v1/auth/tokens/").json()["results"]
    assert [row["name"] for row in listed] == ["labelling bot", "API token"]
    assert "token" not in listed[0] and "key_hash" not in listed[0]
    # Someone else's token is missing, as a wrong id is.
    assert api_for(users["crowd_annotator"]).post(f"/api/v1/auth/tokens/{body['id']}/revoke/").status_code == 404
    assert ApiToken.objects.get(pk=body["id"]).revoked_at is None
    revoked = client.post(f"/api/v1/auth/tokens/{body['id']}/revoke/")
    assert (revoked.status_code, revoked.json()["is_active"]) == (200, False)
    assert client_with(f"Token {body['token']}").get("/api/v1/me/").status_code == 403


def test_token_list_costs_the_same_for_1_and_10_tokens(users, api_for, django_assert_num_queries):
    client = api_for(users["ml_engineer"])
    with django_assert_num_queries(3):  # token auth, count, page
        assert len(client.get("/api/v1/auth/tokens/").json()["results"]) == 1
    for i in range(9):
        api_token_create(user=users["ml_engineer"], name=f"t{i}")
    with django_assert_num_queries(3):
        assert len(client.get("/api/v1/auth/tokens/").json()["results"]) == 10


def test_the_password_exchange_makes_a_named_token(users):
    response = APIClient().post(
        "/api/v1/auth/token/", {"username": "reviewer", "password": "pw-reviewer"}, format="json"
    )
    key = response.json()["token"]
    assert ApiToken.objects.get(user=users["reviewer"]).name == "Password exchange"
    assert client_with(f"Token {key}").get("/api/v1/me/").json()["username"] == "reviewer"


@pytest.mark.django_db(transaction=True)
def test_tokens_of_rest_frameworks_table_keep_working_after_the_migration(users):
    from django.core.management import call_command
    from rest_framework.authtoken.models import Token

    call_command("migrate", "accounts", "0001", verbosity=0)
    legacy = Token.objects.create(user=users["ml_engineer"])
    call_command("migrate", "accounts", verbosity=0)
    assert Token.objects.count() == 0  # no key is left in plain text
    migrated = ApiToken.objects.get()
    assert (migrated.user_id, migrated.name, migrated.prefix) == (users["ml_engineer"].pk, "API token", legacy.key[:10])
    assert client_with(f"Token {legacy.key}").get("/api/v1/me/").json()["username"] == "ml_engineer"
    assert client_with(f"Bearer {legacy.key}").get("/api/v1/me/").json()["username"] == "ml_engineer"


def test_the_model_server_takes_the_same_tokens(users, client):
    token, key = api_token_create(user=users["ml_engineer"], name="openai client")
    assert client.get("/v1/models", HTTP_AUTHORIZATION=f"Bearer {key}").status_code == 200
    api_token_revoke(token=token)
    response = client.get("/v1/models", HTTP_AUTHORIZATION=f"Bearer {key}")
    assert (response.status_code, response.json()["error"]["code"]) == (401, "invalid_api_key")


def test_the_tokens_page_shows_a_new_key_once_and_revokes(users, client, django_assert_num_queries):
    client.force_login(users["product_manager"])
    page = client.post("/account/tokens/", {"name": "report script"})
    key = page.context["key"]
    assert page.status_code == 200 and key in page.content.decode()
    listing = client.get("/account/tokens/").content.decode()
    assert "report script" in listing and key not in listing and key[:10] in listing
    token = ApiToken.objects.get()
    assert client.post(f"/account/tokens/{token.pk}/revoke/").status_code == 302
    assert ApiToken.objects.get().revoked_at is not None
    assert client.post("/account/tokens/", {"name": ""}).status_code == 400
    assert ApiToken.objects.count() == 1


def test_the_tokens_page_costs_the_same_for_1_and_10_tokens(users, client, django_assert_num_queries):
    client.force_login(users["product_manager"])
    api_token_create(user=users["product_manager"], name="first")
    with django_assert_num_queries(5) as one:
        client.get("/account/tokens/")
    for i in range(9):
        api_token_create(user=users["product_manager"], name=f"t{i}")
    with django_assert_num_queries(len(one.captured_queries)):
        assert client.get("/account/tokens/").content.decode().count("<tr>") == 11


def test_someone_elses_token_cannot_be_revoked_from_the_page(users, client):
    token, _ = api_token_create(user=users["ml_engineer"], name="mine")
    client.force_login(users["product_manager"])
    assert client.post(f"/account/tokens/{token.pk}/revoke/").status_code == 404
    assert ApiToken.objects.get().revoked_at is None

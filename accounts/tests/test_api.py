from rest_framework.test import APIClient


def test_token_obtain_and_me(users):
    client = APIClient()
    response = client.post(
        "/api/v1/auth/token/", {"username": "ml_engineer", "password": "pw-ml_engineer"}, format="json"
    )
    assert response.status_code == 200
    client.credentials(HTTP_AUTHORIZATION=f"Token {response.json()['token']}")
    me = client.get("/api/v1/me/").json()
    assert me["username"] == "ml_engineer"
    assert me["memberships"] == [
        {"workspace_id": me["memberships"][0]["workspace_id"], "workspace": "Acme support", "role": "ml_engineer"}
    ]


def test_token_obtain_wrong_password_names_the_problem(users):
    response = APIClient().post("/api/v1/auth/token/", {"username": "ml_engineer", "password": "nope"}, format="json")
    assert response.status_code == 400
    assert response.json() == {
        "detail": "wrong user name or password",
        "where": "username",
        "code": "authentication_failed",
    }


def test_api_requires_authentication(db):
    assert APIClient().get("/api/v1/me/").status_code in (401, 403)

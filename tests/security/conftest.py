"""Attacks are made the way an attacker makes them: over HTTP, against the project's own server on 127.0.0.1
(pytest-django's live_server, which runs with DEBUG off), as a member of another workspace, an annotator or nobody at
all."""

import re

import httpx
import pytest

from accounts.services import api_token_for


def browser_login(client: httpx.Client, username: str, password: str) -> httpx.Response:
    """Sign in through the login page as a browser does (CSRF cookie and field); the client keeps the session cookie and
    sends the CSRF token as a header on later posts."""
    page = client.get("/login/")
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    response = client.post("/login/", data={"username": username, "password": password, "csrfmiddlewaretoken": token},
                           headers={"Referer": f"{client.base_url}/login/"})
    client.headers["X-CSRFToken"] = client.cookies.get("csrftoken")
    client.headers["Referer"] = f"{client.base_url}/"
    return response


@pytest.fixture
def http(live_server):
    """A client of the live server; `http.as_user(user)` is one with that user's API token, `http.browser(username,
    password)` one signed in through the login page."""

    class Client(httpx.Client):
        def as_user(self, user) -> httpx.Client:
            return httpx.Client(base_url=live_server.url, timeout=60,
                                headers={"Authorization": f"Token {api_token_for(user=user)}"})

        def browser(self, username: str, password: str) -> httpx.Client:
            client = httpx.Client(base_url=live_server.url, timeout=60)
            browser_login(client, username, password)
            return client

    with Client(base_url=live_server.url, timeout=60) as client:
        yield client

"""Fixtures shared by every app's tests. Each app adds its own in <app>/tests/fixtures.py."""

import os

import pytest
from django.core.management import call_command
from rest_framework.test import APIClient

from accounts.models import Role
from accounts.services import api_token_for, membership_set, user_create, workspace_create
from tests.shared_data import shared_data_path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

pytest_plugins = [
    "datahub.tests.fixtures",
    "annotation.tests.fixtures",
    "training.tests.fixtures",
    "evaluation.tests.fixtures",
    "llm.tests.fixtures",
    "finetuning.tests.fixtures",
    "tests.browser.fixtures",
]


@pytest.fixture(autouse=True)
def _storage_root(settings, tmp_path, tmp_path_factory):
    """Each test writes its artifacts under its own temporary storage root; the models the session builds (under the
    session's temporary folder) may be registered, as if the operator had made that folder a model root."""
    settings.STORAGE_ROOT = tmp_path / "storage"
    settings.STORAGE_ROOT.mkdir()
    settings.MODEL_ROOTS = [tmp_path_factory.getbasetemp()]


@pytest.fixture
def shared_data():
    """The path of a real public data file or folder under ../shared/data (relative path -> Path); when it is absent the
    test skips, or fails with WHETSTONE_REQUIRE_SHARED_DATA=1 as in CI (tests/shared_data.py)."""
    return shared_data_path


@pytest.fixture
def workspace(db):
    return workspace_create(name="Acme support")


@pytest.fixture
def other_workspace(db):
    return workspace_create(name="Other team")


@pytest.fixture
def make_user(db):
    def make(username: str, *, role: str | None = None, workspace=None, is_superuser: bool = False):
        user = user_create(username=username, password="pw-" + username, is_superuser=is_superuser)
        if role is not None:
            membership_set(workspace=workspace, user=user, role=role)
        return user

    return make


@pytest.fixture
def users(make_user, workspace, other_workspace):
    """One member per role in `workspace`, plus an ML engineer of another workspace ("outsider")."""
    people = {role: make_user(role, role=role, workspace=workspace) for role in Role.values}
    people["outsider"] = make_user("outsider", role=Role.ML_ENGINEER, workspace=other_workspace)
    return people


@pytest.fixture
def api_for():
    """An API client that authenticates with the user's token, as a script would."""

    def client_for(user) -> APIClient:
        from django.utils import timezone

        from accounts.models import ApiToken

        key = api_token_for(user=user)
        # A script's token has been used before: its "last used" is fresh, so no request in a test pays the
        # once-a-minute write, and query counts are those of every later request.
        ApiToken.objects.filter(user=user).update(last_used_at=timezone.now())
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
        return client

    return client_for


@pytest.fixture
def run_jobs():
    """Run every queued background job (both queues) with the real database worker, then return."""

    def run():
        call_command("db_worker", queue_name="*", batch=True, reload=False, startup_delay=False, verbosity=0)

    return run


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    # PBKDF2 costs ~0.2 s a user; tests create hundreds.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

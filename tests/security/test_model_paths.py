"""A base model's directory must be the operator's (a model root) or the registering workspace's own: never another
workspace's fine-tune, never an arbitrary server directory, and a refusal never tells whether a path exists."""

import shutil

import pytest

from accounts.services import api_token_for
from training.models import BaseModel

pytestmark = pytest.mark.django_db(transaction=True)

REFUSAL = (
    "is not inside a model directory this server allows: name a directory under one of the operator's model roots "
    "(WHETSTONE_MODEL_ROOTS) or inside this workspace's storage"
)


@pytest.fixture
def their_model(settings, workspace, tiny_model_dir):
    """A complete model in workspace A's storage, where a merged fine-tune would be."""
    directory = settings.STORAGE_ROOT / "workspaces" / str(workspace.pk) / "artifacts" / "1-merged"
    shutil.copytree(tiny_model_dir, directory)
    return directory


def register(client, workspace, path):
    return client.post("/api/v1/base-models/", json={"workspace": workspace.pk, "name": "stolen", "path": str(path)})


def test_another_workspaces_model_or_a_server_directory_is_refused_alike(
    http, users, workspace, other_workspace, their_model, settings, tmp_path
):
    attacker = http.as_user(users["outsider"])
    store = settings.STORAGE_ROOT
    link = tmp_path / "innocent-link"
    link.symlink_to(their_model)
    attempts = [
        their_model,  # absolute path into workspace A's storage
        f"../{workspace.pk}/artifacts/1-merged",  # relative, climbing out of B's storage
        f"../../workspaces/{workspace.pk}/artifacts/1-merged",
        store / "workspaces" / str(other_workspace.pk) / ".." / str(workspace.pk) / "artifacts" / "1-merged",
        link,  # a symlink inside a model root that points into A's storage
        "/etc",  # exists, not a model
        "/etc/no-such-directory",  # does not exist
        store,  # the whole store
        "models/tiny-chat/../../../..",
    ]
    answers = []
    for path in attempts:
        response = register(attacker, other_workspace, path)
        answers.append((response.status_code, response.json()["where"], response.json()["code"]))
        assert response.json()["detail"] == f"{path} {REFUSAL}"
    assert answers == [(400, "path", "path_not_allowed")] * len(attempts)
    assert BaseModel.objects.count() == 0


def test_the_owner_registers_from_their_own_storage_and_a_model_root(
    http, users, workspace, their_model, tiny_model_dir
):
    owner = http.as_user(users["ml_engineer"])
    response = register(owner, workspace, "artifacts/1-merged")
    assert response.status_code == 201
    assert response.json()["path"] == f"workspaces/{workspace.pk}/artifacts/1-merged"
    from_root = owner.post(
        "/api/v1/base-models/", json={"workspace": workspace.pk, "name": "root", "path": str(tiny_model_dir)}
    )
    assert (from_root.status_code, from_root.json()["path"]) == (201, str(tiny_model_dir))


def test_without_model_roots_only_the_workspace_storage_is_open(http, users, workspace, tiny_model_dir, settings):
    settings.MODEL_ROOTS = []
    response = register(http.as_user(users["ml_engineer"]), workspace, tiny_model_dir)
    assert (response.status_code, response.json()["code"]) == (400, "path_not_allowed")
    assert BaseModel.objects.count() == 0


def test_the_stolen_model_cannot_be_chatted_with(http, users, workspace, other_workspace, their_model):
    register(http.as_user(users["outsider"]), other_workspace, their_model)
    bearer = {"Authorization": f"Bearer {api_token_for(user=users['outsider'])}"}
    assert http.get("/v1/models", headers=bearer).json()["data"] == []

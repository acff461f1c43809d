"""The artifact store: a directory tree under settings.STORAGE_ROOT.

Paths stored in the database are relative to the root, so the store can move. What a workspace produces (uploads,
run outputs, merged models) lives under its own folder, `workspaces/<id>/`, so that "inside this workspace's
storage" is a directory test (see common.paths).
"""

from pathlib import Path

from django.conf import settings


def storage_path(relative: str | Path) -> Path:
    path = Path(settings.STORAGE_ROOT) / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def workspace_storage_relative(workspace_id: int) -> str:
    """The workspace's folder in the store, relative to the root."""
    return f"workspaces/{int(workspace_id)}"


def workspace_storage(workspace_id: int) -> Path:
    return Path(settings.STORAGE_ROOT) / workspace_storage_relative(workspace_id)

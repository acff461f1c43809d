"""Directories a user may name on the server: base models, embedding models, translation models.

A named directory may be opened only when, with `..` and symlinks resolved, it lies inside one of the operator's model
roots (settings.MODEL_ROOTS, from WHETSTONE_MODEL_ROOTS) or inside the naming workspace's own folder of the artifact
store. The rest of the store (other workspaces' runs and models, uploads) is never reachable by name, even when a
model root contains it. A refusal reads the same whether or not the path exists, so it tells nothing about the disk.
"""

from pathlib import Path

from django.conf import settings

from common.errors import ApplicationError
from common.storage import workspace_storage


def _inside(path: Path, root: Path) -> bool:
    return path == root or path.is_relative_to(root)


def user_directory(*, workspace_id: int, path: str | Path, where: str = "path") -> Path:
    """The absolute, resolved directory a member of the workspace named, if they may use it; else ApplicationError.

    A relative path is taken inside the workspace's storage folder. Existence is not checked here: the caller's own
    checks (no config.json, no weights ...) may speak about what is on disk once the path is known to be allowed.
    """
    text = str(path).strip()
    if not text:
        raise ApplicationError("give the directory's path", where=where)
    if "\x00" in text:
        raise ApplicationError("the path contains a NUL character", where=where)
    own = workspace_storage(workspace_id).resolve()
    candidate = Path(text).expanduser()
    resolved = (candidate if candidate.is_absolute() else own / candidate).resolve()
    store = Path(settings.STORAGE_ROOT).resolve()
    if _inside(resolved, own):
        return resolved
    if not _inside(resolved, store) and any(_inside(resolved, Path(root).resolve()) for root in settings.MODEL_ROOTS):
        return resolved
    raise ApplicationError(
        f"{text} is not inside a model directory this server allows: name a directory under one of the operator's "
        "model roots (WHETSTONE_MODEL_ROOTS) or inside this workspace's storage", where=where, code="path_not_allowed")


def stored_path(directory: Path) -> str:
    """How a directory is kept in the database: relative to the store when inside it (so the store can move)."""
    store = Path(settings.STORAGE_ROOT).resolve()
    return str(directory.relative_to(store)) if directory.is_relative_to(store) else str(directory)

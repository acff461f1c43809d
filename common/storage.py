"""The artifact store: a directory tree under settings.STORAGE_ROOT.

Paths stored in the database are relative to the root, so the store can move.
"""

from pathlib import Path

from django.conf import settings


def storage_path(relative: str | Path) -> Path:
    path = Path(settings.STORAGE_ROOT) / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def storage_relative(path: Path) -> str:
    return str(Path(path).resolve().relative_to(Path(settings.STORAGE_ROOT).resolve()))

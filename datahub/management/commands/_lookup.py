"""Name lookups shared by the datahub commands: they name workspaces and datasets, and fail with a clear message."""

from django.core.management.base import CommandError

from accounts.models import Workspace
from datahub.models import Dataset
from datahub.selectors import dataset_by_name, workspace_by_name


def workspace_named(name: str) -> Workspace:
    workspace = workspace_by_name(name=name)
    if workspace is None:
        raise CommandError(f"--workspace: no workspace named {name!r}")
    return workspace


def dataset_named(workspace: Workspace, name: str) -> Dataset:
    dataset = dataset_by_name(workspace_name=workspace.name, dataset_name=name)
    if dataset is None:
        raise CommandError(f"--dataset: no dataset named {name!r} in workspace {workspace.name!r}")
    return dataset

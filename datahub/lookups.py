"""Name lookups for management commands that name datasets; each fails with a CommandError naming the option."""

from django.core.management.base import CommandError

from accounts.models import Workspace
from datahub.models import Dataset
from datahub.selectors import dataset_by_name


def dataset_named(workspace: Workspace, name: str) -> Dataset:
    dataset = dataset_by_name(workspace_name=workspace.name, dataset_name=name)
    if dataset is None:
        raise CommandError(f"--dataset: no dataset named {name!r} in workspace {workspace.name!r}")
    return dataset

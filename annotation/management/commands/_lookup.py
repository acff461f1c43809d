"""Name lookups shared by the annotation commands; each fails with a message naming the option and the problem."""

from django.contrib.auth import get_user_model
from django.core.management.base import CommandError

from accounts.models import Workspace
from annotation.models import AnnotationProject, LabelSchema
from annotation.selectors import annotation_project_by_id, label_schema_by_name
from datahub.models import DatasetVersion
from datahub.selectors import dataset_by_name, version_by_number, workspace_by_name


def workspace_named(name: str) -> Workspace:
    workspace = workspace_by_name(name=name)
    if workspace is None:
        raise CommandError(f"--workspace: no workspace named {name!r}")
    return workspace


def version_named(workspace: Workspace, dataset_name: str, number: int | None) -> DatasetVersion:
    dataset = dataset_by_name(workspace_name=workspace.name, dataset_name=dataset_name)
    if dataset is None:
        raise CommandError(f"--dataset: no dataset named {dataset_name!r} in workspace {workspace.name!r}")
    version = version_by_number(dataset=dataset, number=number) if number is not None else dataset.versions.order_by("-number").first()
    if version is None:
        raise CommandError(f"--dataset-version: dataset {dataset_name!r} has no version {number}" if number is not None
                           else f"--dataset: dataset {dataset_name!r} has no frozen version yet")
    return version


def schema_named(workspace: Workspace, name: str, version: int | None) -> LabelSchema:
    schema = label_schema_by_name(workspace=workspace, name=name, version=version)
    if schema is None:
        suffix = f" version {version}" if version is not None else ""
        raise CommandError(f"--schema: no label schema named {name!r}{suffix} in workspace {workspace.name!r}")
    return schema


def project_numbered(project_id: int) -> AnnotationProject:
    project = annotation_project_by_id(project_id=project_id)
    if project is None:
        raise CommandError(f"--project: no annotation project {project_id}")
    return project


def user_named(username: str | None):
    if username is None:
        return None
    user = get_user_model().objects.filter(username=username).first()
    if user is None:
        raise CommandError(f"--user: no user named {username!r}")
    return user

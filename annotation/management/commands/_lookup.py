"""Name lookups of the annotation commands; each fails with a message naming the option and the problem.

Workspaces and users come from accounts.lookups, datasets from datahub.lookups."""

from django.core.management.base import CommandError

from accounts.models import Workspace
from annotation.models import AnnotationProject, LabelSchema
from annotation.selectors import annotation_project_by_id, label_schema_by_name
from datahub.lookups import dataset_named
from datahub.models import DatasetVersion
from datahub.selectors import version_by_number


def version_named(workspace: Workspace, dataset_name: str, number: int | None) -> DatasetVersion:
    dataset = dataset_named(workspace, dataset_name)
    version = (
        version_by_number(dataset=dataset, number=number)
        if number is not None
        else dataset.versions.order_by("-number").first()
    )
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

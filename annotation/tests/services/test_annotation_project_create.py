import pytest
from django.db import connection

from annotation.models import AnnotationProject, AnnotationTask
from annotation.services import annotation_project_create, label_schema_create
from common.errors import ApplicationError
from common.models import HistoryEvent


def test_one_task_per_version_entry(workspace, users, annotation_version_factory, topic_schema):
    version = annotation_version_factory(n=4)
    project = annotation_project_create(
        workspace=workspace,
        name="Topics",
        dataset_version=version,
        schema=topic_schema,
        overlap=2,
        created_by=users["ml_engineer"],
    )
    assert sorted(project.tasks.values_list("entry_id", flat=True)) == sorted(
        version.entries.values_list("pk", flat=True)
    )
    assert list(project.tasks.values_list("submitted_count", "is_complete").distinct()) == [(0, False)]
    assert (
        HistoryEvent.objects.get(target_type="annotation.annotationproject", target_id=project.pk).after["tasks"] == 4
    )


def test_schema_of_another_workspace_is_refused(workspace, other_workspace, annotation_version_factory):
    foreign = label_schema_create(workspace=other_workspace, name="Topic", tree=[{"name": "a"}])
    with pytest.raises(ApplicationError) as error:
        annotation_project_create(
            workspace=workspace, name="Topics", dataset_version=annotation_version_factory(), schema=foreign
        )
    assert str(error.value) == "schema: the label schema belongs to another workspace"
    assert (AnnotationProject.objects.count(), AnnotationTask.objects.count()) == (0, 0)


def test_version_of_another_workspace_is_refused(workspace, other_workspace, annotation_version_factory, topic_schema):
    with pytest.raises(ApplicationError) as error:
        annotation_project_create(
            workspace=workspace,
            name="Topics",
            dataset_version=annotation_version_factory(workspace=other_workspace),
            schema=topic_schema,
        )
    assert str(error.value) == "dataset_version: the dataset version belongs to another workspace"


@pytest.mark.parametrize("overlap", [0, 21])
def test_overlap_bounds(workspace, annotation_version_factory, topic_schema, overlap):
    with pytest.raises(ApplicationError) as error:
        annotation_project_create(
            workspace=workspace,
            name="Topics",
            dataset_version=annotation_version_factory(),
            schema=topic_schema,
            overlap=overlap,
        )
    assert str(error.value) == "overlap: overlap must be between 1 and 20"


@pytest.mark.postgres
@pytest.mark.skipif(connection.vendor != "postgresql", reason="planner statistics are PostgreSQL's")
def test_the_new_tasks_are_analysed_once_the_project_commits(
    workspace, users, annotation_version_factory, topic_schema, django_capture_on_commit_callbacks
):
    """Planner statistics for the tasks the claim reads exist from the first claim on (not after autovacuum's next
    pass): ANALYZE runs after commit and counts the new rows."""
    version = annotation_version_factory(n=7)

    def reltuples() -> float:
        with connection.cursor() as cursor:
            cursor.execute("SELECT reltuples FROM pg_class WHERE relname = 'annotation_annotationtask'")
            return cursor.fetchone()[0]

    with connection.cursor() as cursor:  # as on a new database: never analysed
        cursor.execute("UPDATE pg_class SET reltuples = -1 WHERE relname = 'annotation_annotationtask'")
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        annotation_project_create(workspace=workspace, name="Topics", dataset_version=version, schema=topic_schema)
    assert reltuples() == -1
    for callback in callbacks:
        callback()
    assert reltuples() == AnnotationTask.objects.count() == 7

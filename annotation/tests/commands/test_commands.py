import io
import json

import pytest
from django.core.management import CommandError, call_command

from annotation.models import AnnotationProject, LabelSchema
from annotation.services import assignment_claim_next
from annotation.tests.fixtures import submit_as
from datahub.models import DatasetVersion


def run(*args) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def test_schema_project_export_from_the_command_line(tmp_path, workspace, users, annotation_version_factory):
    tree = tmp_path / "topics.txt"
    tree.write_text("billing: Money\n  refund\n  invoice\naccount\n  login\n", encoding="utf-8")
    out = run("label_schema_create", "--workspace", "Acme support", "--name", "Topic", "--tree", str(tree), "--user", "ml_engineer")
    schema = LabelSchema.objects.get()
    assert out == f"published label schema Topic v1 (id {schema.pk}) with 5 labels in 'Acme support'\n"

    version = annotation_version_factory(n=2)
    out = run("annotation_project_create", "--workspace", "Acme support", "--name", "Topics", "--dataset", version.dataset.name,
              "--schema", "Topic", "--overlap", "1")
    project = AnnotationProject.objects.get()
    assert out == f"created annotation project 'Topics' (id {project.pk}) with 2 items\n"

    assignment = assignment_claim_next(project=project, annotator=users["crowd_annotator"])
    submit_as(users["crowd_annotator"], assignment, "account/login")
    out = run("annotation_export", "--project", str(project.pk))
    exported = DatasetVersion.objects.get(operation="annotation_export")
    counts = ", ".join(f"{s} {exported.counts[s]}" for s in ("train", "validation", "test"))
    assert out == f"exported {exported} (id {exported.pk}, parent v1): 1 annotated, 0 corrected; {counts}\n"


def test_json_tree_file(tmp_path, workspace):
    tree = tmp_path / "topics.json"
    tree.write_text(json.dumps([{"name": "a", "children": [{"name": "b"}]}]), encoding="utf-8")
    run("label_schema_create", "--workspace", "Acme support", "--name", "T", "--tree", str(tree), "--multiple", "--any-level")
    schema = LabelSchema.objects.get()
    assert (schema.multiple, schema.leaf_only, schema.labels.count()) == (True, False, 2)


@pytest.mark.parametrize(("args", "message"), [
    (["label_schema_create", "--workspace", "Nope", "--name", "T", "--tree", "x.txt"], "--workspace: no workspace named 'Nope'"),
    (["annotation_export", "--project", "999"], "--project: no annotation project 999"),
    (["annotation_project_create", "--workspace", "Acme support", "--name", "P", "--dataset", "Missing", "--schema", "T"],
     "--dataset: no dataset named 'Missing' in workspace 'Acme support'"),
])
def test_bad_input_names_the_option(workspace, args, message):
    with pytest.raises(CommandError) as error:
        run(*args)
    assert str(error.value) == message


def test_bad_tree_file_names_the_line(tmp_path, workspace):
    tree = tmp_path / "topics.txt"
    tree.write_text("billing\n    refund\n  invoice\n", encoding="utf-8")
    with pytest.raises(CommandError) as error:
        run("label_schema_create", "--workspace", "Acme support", "--name", "T", "--tree", str(tree))
    assert str(error.value) == f"{tree}: line 3: the indentation matches no earlier level"
    assert LabelSchema.objects.count() == 0


def test_export_of_an_unannotated_project_fails_clearly(annotation_project):
    with pytest.raises(CommandError) as error:
        run("annotation_export", "--project", str(annotation_project.pk))
    assert str(error.value) == "--project: the project has no submitted annotations to export"

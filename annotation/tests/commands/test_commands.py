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
    out = run(
        "label_schema_create",
        "--workspace",
        "Acme support",
        "--name",
        "Topic",
        "--tree",
        str(tree),
        "--user",
        "ml_engineer",
    )
    schema = LabelSchema.objects.get()
    assert out == f"published label schema Topic v1 (id {schema.pk}) with 5 labels in 'Acme support'\n"

    version = annotation_version_factory(n=2)
    out = run(
        "annotation_project_create",
        "--workspace",
        "Acme support",
        "--name",
        "Topics",
        "--dataset",
        version.dataset.name,
        "--schema",
        "Topic",
        "--overlap",
        "1",
    )
    project = AnnotationProject.objects.get()
    assert out == f"created annotation project 'Topics' (id {project.pk}) with 2 items\n"
    assert project.mode == "human_only"
    out = run(
        "annotation_project_create",
        "--workspace",
        "Acme support",
        "--name",
        "Topics checked",
        "--dataset",
        version.dataset.name,
        "--schema",
        "Topic",
        "--mode",
        "ai_first",
    )
    checked = AnnotationProject.objects.get(name="Topics checked")
    assert out == f"created annotation project 'Topics checked' (id {checked.pk}) with 2 items, mode ai_first\n"
    assert checked.mode == "ai_first"

    assignment = assignment_claim_next(project=project, annotator=users["crowd_annotator"])
    submit_as(users["crowd_annotator"], assignment, "account/login")
    out = run("annotation_export", "--project", str(project.pk))
    exported = DatasetVersion.objects.get(operation="annotation_export")
    counts = ", ".join(f"{s} {exported.counts[s]}" for s in ("train", "validation", "test"))
    assert out == f"exported {exported} (id {exported.pk}, parent v1): 1 annotated, 0 corrected (majority); {counts}\n"


def test_json_tree_file(tmp_path, workspace):
    tree = tmp_path / "topics.json"
    tree.write_text(json.dumps([{"name": "a", "children": [{"name": "b"}]}]), encoding="utf-8")
    run(
        "label_schema_create",
        "--workspace",
        "Acme support",
        "--name",
        "T",
        "--tree",
        str(tree),
        "--multiple",
        "--any-level",
    )
    schema = LabelSchema.objects.get()
    assert (schema.multiple, schema.leaf_only, schema.labels.count()) == (True, False, 2)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["label_schema_create", "--workspace", "Nope", "--name", "T", "--tree", "x.txt"],
            "--workspace: no workspace named 'Nope'",
        ),
        (["annotation_export", "--project", "999"], "--project: no annotation project 999"),
        (
            [
                "annotation_project_create",
                "--workspace",
                "Acme support",
                "--name",
                "P",
                "--dataset",
                "Missing",
                "--schema",
                "T",
            ],
            "--dataset: no dataset named 'Missing' in workspace 'Acme support'",
        ),
    ],
)
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


@pytest.mark.django_db(transaction=True)
def test_ai_run_command_labels_through_the_queue_and_reports(annotation_project_factory, tiny_endpoint):
    from annotation.models import AIRun
    from annotation.services import ai_annotator_create

    project = annotation_project_factory(n=2, mode="ai_assists")
    ai_annotator_create(project=project, name="Tiny", endpoint=tiny_endpoint, max_tokens=4)
    out, err = io.StringIO(), io.StringIO()
    call_command("annotation_ai_run", "--project", str(project.pk), "--annotator", "Tiny", "--limit", "5", stdout=out,
                 stderr=err)
    run = AIRun.objects.get()
    assert out.getvalue() == f"run {run.pk}: 0 annotated, 2 failed, 2 of 5 items (nothing else is left for 'Tiny')\n"
    assert "labelled 2/5 items (40%" in err.getvalue()


@pytest.mark.django_db
def test_ai_run_command_names_the_bad_option(annotation_project):
    with pytest.raises(CommandError) as error:
        call_command(
            "annotation_ai_run", "--project", str(annotation_project.pk), "--annotator", "Nobody", stdout=io.StringIO()
        )
    assert str(error.value) == (f"--annotator: project {annotation_project.pk} has no AI annotator named 'Nobody'; "
                                "it has no AI annotator yet")
    with pytest.raises(CommandError) as error:
        call_command("annotation_ai_run", "--project", "999999", "--annotator", "Tiny", stdout=io.StringIO())
    assert str(error.value) == "--project: no annotation project 999999"


@pytest.mark.django_db
def test_ai_run_command_refuses_a_bad_limit(annotation_project, workspace):
    from annotation.models import AIRun
    from annotation.services import ai_annotator_create
    from llm.services.endpoints import model_endpoint_create

    endpoint = model_endpoint_create(workspace=workspace, name="local", base_url="http://model.invalid/v1", model="m")
    ai_annotator_create(project=annotation_project, name="Tiny", endpoint=endpoint)
    with pytest.raises(CommandError) as error:
        call_command(
            "annotation_ai_run",
            "--project",
            str(annotation_project.pk),
            "--annotator",
            "Tiny",
            "--limit",
            "0",
            stdout=io.StringIO(),
        )
    assert str(error.value) == "--limit: must be a whole number between 1 and 100000"
    assert AIRun.objects.count() == 0


@pytest.mark.django_db
def test_schema_command_takes_rating_and_free_text(tmp_path, workspace):
    tree = tmp_path / "topics.txt"
    tree.write_text("billing\n  refund\naccount\n", encoding="utf-8")
    run(
        "label_schema_create",
        "--workspace",
        "Acme support",
        "--name",
        "Rated",
        "--tree",
        str(tree),
        "--rating-scale",
        "5",
        "--rating-question",
        "Helpful?",
        "--free-text-question",
        "What is missing?",
    )
    schema = LabelSchema.objects.get()
    assert (schema.rating_scale, schema.rating_question, schema.free_text_question) == (
        5,
        "Helpful?",
        "What is missing?",
    )
    with pytest.raises(CommandError) as error:
        run(
            "label_schema_create",
            "--workspace",
            "Acme support",
            "--name",
            "Bad",
            "--tree",
            str(tree),
            "--rating-scale",
            "11",
        )
    assert str(error.value) == "--rating-scale: must be 0 (no rating) or a whole number from 2 to 10"
    assert LabelSchema.objects.count() == 1

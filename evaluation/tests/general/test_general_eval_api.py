"""The general-capability check through the API, end to end on the tiny model with the real worker."""

from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext

from common.models import HistoryEvent
from evaluation.general.benchmark_files import benchmark_file_read
from evaluation.models import GeneralEval, GeneralEvalItem
from training.tests.fixtures import shared_data_absent

SHARED = Path(settings.BASE_DIR).parent / "shared" / "data" / "general_eval"


def _head(path: Path, rows: int, *, header: bool = False) -> bytes:
    """The first `rows` questions of a real shared file, as a file of its own (CSV records may span lines)."""
    import csv
    import io

    if not path.is_file():
        shared_data_absent(path)
    with path.open(encoding="utf-8", newline="") as handle:
        records = list(csv.reader(handle))
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(records[: rows + (1 if header else 0)])
    return out.getvalue().encode("utf-8")


@pytest.fixture
def upload_files():
    mmlu = SHARED / "hendrycks__test" / "data"
    cmmlu = SHARED / "haonan-li__CMMLU" / "data"
    return {
        "test_files": [
            SimpleUploadedFile("marketing_test.csv", _head(mmlu / "test" / "marketing_test.csv", 5)),
            SimpleUploadedFile(
                "chinese_food_culture.csv", _head(cmmlu / "test" / "chinese_food_culture.csv", 4, header=True)
            ),
        ],
        "dev_files": [
            SimpleUploadedFile("marketing_dev.csv", _head(mmlu / "dev" / "marketing_dev.csv", 5)),
            SimpleUploadedFile(
                "chinese_food_culture.csv", _head(cmmlu / "dev" / "chinese_food_culture.csv", 5, header=True)
            ),
        ],
    }


def _body(workspace, baseline, candidate_artifact, files, **more):
    return {"workspace": workspace.pk, "name": "general check", "baseline_base_model": baseline.pk,
            "candidate_artifact": candidate_artifact.pk, "shots": 2, "tolerance": 0.05, **files, **more}


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_create_run_and_read_a_check_end_to_end(
    users, api_for, workspace, tiny_base_model, tiny_artifact, upload_files, run_jobs
):
    client = api_for(users["product_manager"])
    response = client.post(
        "/api/v1/general-evals/", _body(workspace, tiny_base_model, tiny_artifact, upload_files), format="multipart"
    )
    assert response.status_code == 201, response.json()
    check = GeneralEval.objects.get()
    assert response.json()["status"] == "queued"
    assert response.json()["baseline"] == {"kind": "base_model", "id": tiny_base_model.pk, "name": "tiny-chat"}
    assert response.json()["candidate"] == {"kind": "artifact", "id": tiny_artifact.pk, "name": tiny_artifact.name}
    assert [len(check.fewshot[s]) for s in ("marketing", "chinese_food_culture")] == [2, 2]
    # the uploads are kept in the workspace's storage
    for entry in check.files:
        assert entry["path"].startswith(f"workspaces/{workspace.pk}/general_eval/")
        assert (Path(settings.STORAGE_ROOT) / entry["path"]).is_file()

    run_jobs()

    detail = client.get(f"/api/v1/general-evals/{check.pk}/").json()
    assert (detail["status"], detail["progress"], detail["error"]) == ("done", 1.0, "")
    items = list(GeneralEvalItem.objects.filter(general_eval=check).order_by("order"))
    assert [i.subject for i in items] == ["marketing"] * 5 + ["chinese_food_culture"] * 4
    for item in items:
        for scores, correct in (
            (item.baseline_scores, item.baseline_correct),
            (item.candidate_scores, item.candidate_correct),
        ):
            assert len(scores) == 4 and all(s < 0 for s in scores)
            assert correct == (scores.index(max(scores)) == item.gold)
    assert any(i.baseline_scores != i.candidate_scores for i in items)  # the adapter changes the model
    assert [(s["subject"], s["items"]) for s in detail["subjects"]] == [("marketing", 5), ("chinese_food_culture", 4)]
    overall = detail["overall"]
    assert overall["items"] == 9
    assert overall["baseline_correct"] == sum(i.baseline_correct for i in items)
    assert overall["candidate_correct"] == sum(i.candidate_correct for i in items)
    assert overall["lost"] == sum(i.baseline_correct and not i.candidate_correct for i in items)
    assert overall["verdict"] in ("kept", "not_conclusive", "regressed")
    assert list(
        HistoryEvent.objects.filter(target_type="evaluation.generaleval").order_by("pk").values_list("verb", flat=True)
    ) == ["created", "started", "done"]


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_the_command_reports_the_same_check(
    users, api_for, workspace, tiny_base_model, tiny_artifact, upload_files, run_jobs
):
    import json
    from io import StringIO

    from django.core.management import call_command

    body = _body(workspace, tiny_base_model, tiny_artifact, upload_files)
    api_for(users["admin"]).post("/api/v1/general-evals/", body, format="multipart")
    run_jobs()
    out = StringIO()
    call_command("general_eval", report=GeneralEval.objects.get().pk, stdout=out)
    report = json.loads(out.getvalue())
    assert (report["status"], report["overall"]["items"], [s["subject"] for s in report["subjects"]]) == (
        "done", 9, ["marketing", "chinese_food_culture"])


@pytest.mark.parametrize("role", ["admin", "product_manager", "ml_engineer", "reviewer", "crowd_annotator", "outsider"])
def test_create_permissions(role, users, api_for, workspace, tiny_base_model, tiny_artifact, upload_files):
    response = api_for(users[role]).post(
        "/api/v1/general-evals/", _body(workspace, tiny_base_model, tiny_artifact, upload_files), format="multipart"
    )
    assert response.status_code == (201 if role in ("admin", "product_manager") else 404)
    assert GeneralEval.objects.count() == (1 if role in ("admin", "product_manager") else 0)


def test_another_workspace_cannot_read_a_check(users, api_for, workspace, tiny_base_model, tiny_artifact, upload_files):
    check_id = (
        api_for(users["product_manager"])
        .post(
            "/api/v1/general-evals/", _body(workspace, tiny_base_model, tiny_artifact, upload_files), format="multipart"
        )
        .json()["id"]
    )
    outsider = api_for(users["outsider"])
    assert outsider.get(f"/api/v1/general-evals/{check_id}/").status_code == 404
    assert outsider.get("/api/v1/general-evals/").json()["results"] == []
    assert api_for(users["reviewer"]).get(f"/api/v1/general-evals/{check_id}/").status_code == 404
    assert api_for(users["ml_engineer"]).get(f"/api/v1/general-evals/{check_id}/").status_code == 200


def test_a_bad_file_is_refused_naming_line_and_field_and_nothing_is_kept(
    users, api_for, workspace, tiny_base_model, tiny_artifact, upload_files
):
    upload_files["test_files"].append(SimpleUploadedFile("world_religions_test.csv", b"Q1,a,b,c,d,A\nQ2,a,b,c,d,F\n"))
    body = _body(workspace, tiny_base_model, tiny_artifact, upload_files)
    response = api_for(users["product_manager"]).post("/api/v1/general-evals/", body, format="multipart")
    assert response.status_code == 400
    assert response.json() == {"detail": "the answer must be one of A, B, C, D, got 'F'",
                               "where": "world_religions_test.csv, line 2, field answer", "code": "invalid"}
    assert (GeneralEval.objects.count(), GeneralEvalItem.objects.count()) == (0, 0)
    assert not (Path(settings.STORAGE_ROOT) / f"workspaces/{workspace.pk}/general_eval").exists()


def test_too_few_dev_rows_for_k_names_the_subject(
    users, api_for, workspace, tiny_base_model, tiny_artifact, upload_files
):
    response = api_for(users["product_manager"]).post(
        "/api/v1/general-evals/",
        _body(workspace, tiny_base_model, tiny_artifact, upload_files, shots=6),
        format="multipart",
    )
    assert response.status_code == 400
    assert response.json() == {
        "detail": "subject 'marketing' has 5 dev rows; 6-shot needs 6",
        "where": "dev_files",
        "code": "invalid",
    }


def test_server_paths_must_be_allowed(users, api_for, workspace, other_workspace, tiny_base_model, settings):
    allowed = Path(settings.STORAGE_ROOT) / f"workspaces/{workspace.pk}/bench"
    allowed.mkdir(parents=True)
    (allowed / "toys_test.csv").write_bytes(b"Q1,a,b,c,d,A\n")
    body = {"workspace": workspace.pk, "name": "paths", "baseline_base_model": tiny_base_model.pk, "shots": 0}
    client = api_for(users["product_manager"])
    ok = client.post("/api/v1/general-evals/", {**body, "test_path": "bench"}, format="json")
    assert ok.status_code == 201
    assert GeneralEvalItem.objects.get().source == "toys_test.csv, line 1"
    outside = Path(settings.STORAGE_ROOT) / f"workspaces/{other_workspace.pk}/bench"  # another workspace's storage
    outside.mkdir(parents=True)
    (outside / "x_test.csv").write_bytes(b"Q1,a,b,c,d,A\n")
    refused = client.post("/api/v1/general-evals/", {**body, "test_path": str(outside)}, format="json")
    assert refused.status_code == 400, refused.json()
    assert (refused.status_code, refused.json()["where"], refused.json()["code"]) == (
        400,
        "test_path",
        "path_not_allowed",
    )


def test_list_costs_the_same_queries_for_one_and_many(
    users, api_for, workspace, tiny_base_model, tiny_artifact, django_assert_num_queries
):
    from evaluation.services.general_eval import general_eval_create

    client = api_for(users["product_manager"])

    def make(n):
        for _ in range(n):
            general_eval_create(
                workspace=workspace,
                name="c",
                baseline=tiny_base_model,
                candidate=tiny_artifact,
                shots=0,
                test_uploads=[("a_test.csv", b"Q,a,b,c,d,A\n")],
            )

    make(1)
    with CaptureQueriesContext(connection) as one:
        assert len(client.get("/api/v1/general-evals/").json()["results"]) == 1
    make(9)
    with django_assert_num_queries(len(one.captured_queries)):
        assert len(client.get("/api/v1/general-evals/").json()["results"]) == 10
    check = GeneralEval.objects.first()
    with CaptureQueriesContext(connection) as detail:
        client.get(f"/api/v1/general-evals/{check.pk}/")
    assert len(detail.captured_queries) <= len(one.captured_queries) + 2


def test_item_sources_are_real_lines():
    path = SHARED / "hendrycks__test" / "data" / "test" / "college_computer_science_test.csv"
    if not path.is_file():
        shared_data_absent(path)
    items = benchmark_file_read(name=path.name, data=path.read_bytes())
    assert len(items) == 100
    lines = path.read_text(encoding="utf-8").split("\n")
    for item in items:
        number = int(item.where.rsplit(" ", 1)[1])
        assert lines[number - 1].startswith(item.question.split("\n")[0][:20]) or lines[number - 1].startswith('"')

"""The datahub API: behaviour, errors, fixed query counts, and the permission matrix per role."""

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from accounts.models import Role
from datahub.export import trl_row, version_entries
from datahub.models import Dataset, DatasetVersion, ImportJob, Record, Source
from datahub.services.datasets import dataset_create, source_create
from datahub.services.imports import import_job_run
from datahub.services.versions import dataset_version_freeze
from datahub.tests.fixtures import alpaca_rows

VIEWERS = {"admin", "ml_engineer", "product_manager"}
EDITORS = {"admin", "ml_engineer"}
EVERYONE = [*Role.values, "outsider"]


def upload(name: str, rows: list[dict]) -> SimpleUploadedFile:
    return SimpleUploadedFile(
        name, "".join(json.dumps(r) + "\n" for r in rows).encode(), content_type="application/jsonl"
    )


@pytest.fixture
def version(dataset, write_file, import_path):
    import_path(dataset, write_file("a.jsonl", alpaca_rows(30)))
    return dataset_version_freeze(dataset=dataset, seed=2)


# ---------------------------------------------------------------- behaviour


def test_create_and_list_datasets(api_for, users, workspace):
    client = api_for(users["ml_engineer"])
    created = client.post(
        "/api/v1/datasets/",
        {"workspace": workspace.pk, "name": "Refunds", "description": "refund chats"},
        format="json",
    )
    assert created.status_code == 201
    body = created.json()
    assert body == {
        "id": body["id"],
        "workspace": workspace.pk,
        "workspace_name": "Acme support",
        "name": "Refunds",
        "description": "refund chats",
        "record_count": 0,
        "version_count": 0,
        "created_at": body["created_at"],
        "import_job": None,
    }
    del body["import_job"]  # only the answer to a create says which import it started
    listed = client.get("/api/v1/datasets/").json()
    assert listed["count"] == 1 and listed["results"] == [body]
    assert client.get(f"/api/v1/datasets/{body['id']}/").json() == body


def test_duplicate_dataset_name_is_a_clear_error(api_for, users, workspace, dataset):
    response = api_for(users["ml_engineer"]).post(
        "/api/v1/datasets/", {"workspace": workspace.pk, "name": "Support chats"}, format="json"
    )
    assert response.status_code == 400
    assert response.json() == {
        "detail": "a dataset named 'Support chats' already exists in workspace 'Acme support'",
        "where": "name",
        "code": "duplicate",
    }


def test_create_and_list_sources(api_for, users, workspace, other_workspace):
    client = api_for(users["admin"])
    created = client.post(
        "/api/v1/sources/",
        {"workspace": workspace.pk, "name": "Forum", "kind": "public", "quality_tier": "C"},
        format="json",
    )
    assert created.status_code == 201
    assert created.json()["kind"] == "public" and created.json()["record_count"] == 0
    source_create(workspace=other_workspace, name="Hidden")
    assert [s["name"] for s in client.get("/api/v1/sources/").json()["results"]] == ["Forum"]
    assert [s["name"] for s in client.get(f"/api/v1/sources/?workspace={workspace.pk}").json()["results"]] == ["Forum"]
    assert client.get(f"/api/v1/sources/?workspace={other_workspace.pk}").json()["results"] == []


def test_import_upload_runs_and_reports(api_for, users, dataset, source):
    client = api_for(users["ml_engineer"])
    response = client.post(
        f"/api/v1/datasets/{dataset.pk}/imports/",
        {"file": upload("chats.jsonl", alpaca_rows(5) + alpaca_rows(1)), "format": "alpaca", "source": source.pk},
        format="multipart",
    )
    assert response.status_code == 202
    job = response.json()
    assert (job["status"], job["format"], job["file_name"], job["source"], job["processed"], job["total"]) == (
        "queued", "alpaca", "chats.jsonl", source.pk, 0, 0)
    import_job_run(job=ImportJob.objects.get(pk=job["id"]))
    done = client.get(f"/api/v1/imports/{job['id']}/").json()
    assert (
        done["status"],
        done["created_count"],
        done["duplicate_count"],
        done["processed"],
        done["total"],
        done["percent"],
    ) == ("succeeded", 5, 1, 6, 6, 100)
    assert (done["error"], done["where"], done["detected_format"]) == ("", "", "alpaca")
    records = client.get(f"/api/v1/datasets/{dataset.pk}/records/?limit=2").json()
    assert records["count"] == 5
    assert records["results"][0]["messages"] == [
        {"role": "user", "content": "What is 0 + 0?"},
        {"role": "assistant", "content": "0"},
    ]
    first = records["results"][0]
    assert (first["raw"], first["line_number"], first["source"]) == (alpaca_rows(1)[0], 1, source.pk)
    assert [j["id"] for j in client.get(f"/api/v1/datasets/{dataset.pk}/imports/").json()["results"]] == [job["id"]]


def test_failed_import_shows_error_and_where(api_for, users, dataset):
    client = api_for(users["ml_engineer"])
    job = client.post(
        f"/api/v1/datasets/{dataset.pk}/imports/",
        {"file": upload("bad.jsonl", alpaca_rows(2) + [{"output": "x"}])},
        format="multipart",
    ).json()
    import_job_run(job=ImportJob.objects.get(pk=job["id"]))
    done = client.get(f"/api/v1/imports/{job['id']}/").json()
    assert (done["status"], done["error"], done["where"]) == ("failed", "field 'instruction' is missing", "line 3")
    assert done["created_count"] == 0
    assert Record.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_import_upload_runs_on_the_worker(api_for, users, dataset, run_jobs):
    client = api_for(users["ml_engineer"])
    job = client.post(
        f"/api/v1/datasets/{dataset.pk}/imports/", {"file": upload("a.jsonl", alpaca_rows(3))}, format="multipart"
    ).json()
    run_jobs()
    assert client.get(f"/api/v1/imports/{job['id']}/").json()["status"] == "succeeded"
    assert Record.objects.filter(dataset=dataset).count() == 3


def test_import_rejects_unknown_format_and_foreign_source(api_for, users, dataset, other_workspace):
    client = api_for(users["ml_engineer"])
    response = client.post(
        f"/api/v1/datasets/{dataset.pk}/imports/",
        {"file": upload("a.jsonl", alpaca_rows(1)), "format": "csv"},
        format="multipart",
    )
    assert (response.status_code, response.json()["where"], response.json()["detail"]) == (
        400,
        "format",
        '"csv" is not a valid choice.',
    )
    foreign = source_create(workspace=other_workspace, name="Theirs")
    response = client.post(
        f"/api/v1/datasets/{dataset.pk}/imports/",
        {"file": upload("a.jsonl", alpaca_rows(1)), "source": foreign.pk},
        format="multipart",
    )
    assert response.status_code == 400
    assert response.json() == {
        "detail": f"no source {foreign.pk} in workspace 'Acme support'",
        "where": "source",
        "code": "invalid",
    }
    response = client.post(f"/api/v1/datasets/{dataset.pk}/imports/", {"format": "auto"}, format="multipart")
    assert (response.status_code, response.json()["where"]) == (400, "file")
    assert ImportJob.objects.count() == 0


def test_freeze_and_read_versions(api_for, users, dataset, write_file, import_path):
    import_path(dataset, write_file("a.jsonl", alpaca_rows(50)))
    client = api_for(users["ml_engineer"])
    response = client.post(
        f"/api/v1/datasets/{dataset.pk}/versions/",
        {"seed": 9, "ratios": {"train": 0.6, "validation": 0.2, "test": 0.2}, "note": "first cut"},
        format="json",
    )
    assert response.status_code == 201
    first = response.json()
    stored = DatasetVersion.objects.get(pk=first["id"])
    assert first == {
        "id": stored.pk,
        "dataset": dataset.pk,
        "number": 1,
        "parent": None,
        "parent_number": None,
        "operation": "freeze",
        "operation_detail": {},
        "seed": 9,
        "ratios": {"train": 0.6, "validation": 0.2, "test": 0.2},
        "counts": stored.counts,
        "manifest_hash": stored.manifest_hash,
        "note": "first cut",
        "created_by": "ml_engineer",
        "created_at": first["created_at"],
    }
    second = client.post(
        f"/api/v1/datasets/{dataset.pk}/versions/",
        {"seed": 9, "ratios": {"train": 0.6, "validation": 0.2, "test": 0.2}},
        format="json",
    ).json()
    assert (second["number"], second["parent"], second["parent_number"]) == (2, first["id"], 1)
    assert second["manifest_hash"] == first["manifest_hash"]
    assert [v["number"] for v in client.get(f"/api/v1/datasets/{dataset.pk}/versions/").json()["results"]] == [2, 1]
    assert client.get(f"/api/v1/versions/{first['id']}/").json() == first


def test_freeze_with_bad_ratios(api_for, users, dataset, write_file, import_path):
    import_path(dataset, write_file("a.jsonl", alpaca_rows(5)))
    response = api_for(users["ml_engineer"]).post(
        f"/api/v1/datasets/{dataset.pk}/versions/", {"ratios": {"train": 0.9}}, format="json"
    )
    assert response.status_code == 400
    assert response.json() == {
        "detail": "split ratios must be non-negative and add up to 1",
        "where": "ratios",
        "code": "invalid",
    }
    assert DatasetVersion.objects.count() == 0


def test_export_streams_trl_jsonl(api_for, users, version):
    client = api_for(users["product_manager"])
    for split in (None, "train", "validation", "test"):
        response = client.get(f"/api/v1/versions/{version.pk}/export/" + (f"?split={split}" if split else ""))
        assert response.status_code == 200
        assert response.streaming
        assert response["Content-Type"] == "application/x-ndjson; charset=utf-8"
        assert (
            response["Content-Disposition"]
            == f'attachment; filename="support-chats-v1{"-" + split if split else ""}.jsonl"'
        )
        rows = [json.loads(line) for line in b"".join(response.streaming_content).decode().splitlines()]
        assert rows == [trl_row(entry.record) for entry in version_entries(version, split)]


def test_export_unknown_split(api_for, users, version):
    response = api_for(users["ml_engineer"]).get(f"/api/v1/versions/{version.pk}/export/?split=dev")
    assert response.status_code == 400
    assert response.json() == {
        "detail": "unknown split 'dev'; choose train, validation or test",
        "where": "split",
        "code": "invalid",
    }


def test_session_auth_works_too(client, users, dataset):
    client.force_login(users["product_manager"])
    assert client.get(f"/api/v1/datasets/{dataset.pk}/").status_code == 200


def test_anonymous_is_refused(dataset):
    assert APIClient().get("/api/v1/datasets/").status_code in (401, 403)
    assert APIClient().get(f"/api/v1/datasets/{dataset.pk}/").status_code in (401, 403)


# ---------------------------------------------------------------- fixed query counts


def count_queries(client, url) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return len(captured)


def test_dataset_list_costs_the_same_for_1_and_10_rows(api_for, users, workspace, django_assert_num_queries):
    client = api_for(users["ml_engineer"])
    dataset_create(workspace=workspace, name="d0")
    one = count_queries(client, "/api/v1/datasets/")
    for n in range(1, 10):
        dataset_create(workspace=workspace, name=f"d{n}")
    with django_assert_num_queries(one):
        assert client.get("/api/v1/datasets/").json()["count"] == 10
    assert one == 3  # token, count, page


def test_source_list_costs_the_same_for_1_and_10_rows(api_for, users, workspace, django_assert_num_queries):
    client = api_for(users["ml_engineer"])
    source_create(workspace=workspace, name="s0")
    one = count_queries(client, "/api/v1/sources/")
    for n in range(1, 10):
        source_create(workspace=workspace, name=f"s{n}")
    with django_assert_num_queries(one):
        assert client.get("/api/v1/sources/").json()["count"] == 10
    assert one == 3


def test_record_list_costs_the_same_for_1_and_10_rows(
    api_for, users, dataset, write_file, import_path, django_assert_num_queries
):
    client = api_for(users["ml_engineer"])
    url = f"/api/v1/datasets/{dataset.pk}/records/"
    import_path(dataset, write_file("a.jsonl", alpaca_rows(1)))
    one = count_queries(client, url)
    import_path(dataset, write_file("b.jsonl", alpaca_rows(9, start=1)))
    with django_assert_num_queries(one):
        assert client.get(url).json()["count"] == 10
    assert one == 4  # token, dataset (permission-checked), count, page


def test_version_and_import_lists_cost_the_same_for_1_and_10_rows(api_for, users, dataset, write_file, import_path,
                                                                  django_assert_num_queries):
    client = api_for(users["ml_engineer"])
    import_path(dataset, write_file("a.jsonl", alpaca_rows(5)))
    dataset_version_freeze(dataset=dataset)
    versions_one = count_queries(client, f"/api/v1/datasets/{dataset.pk}/versions/")
    imports_one = count_queries(client, f"/api/v1/datasets/{dataset.pk}/imports/")
    for n in range(9):
        import_path(dataset, write_file(f"b{n}.jsonl", alpaca_rows(1, start=100 + n)))
        dataset_version_freeze(dataset=dataset)
    with django_assert_num_queries(versions_one):
        assert client.get(f"/api/v1/datasets/{dataset.pk}/versions/").json()["count"] == 10
    with django_assert_num_queries(imports_one):
        assert client.get(f"/api/v1/datasets/{dataset.pk}/imports/").json()["count"] == 10


# ---------------------------------------------------------------- permission matrix, per role


def expected(role: str, capability: set[str], allowed: int, seen_but_refused: int = 403) -> int:
    """The status a role gets: allowed, 403 when it may view but not change, 404 when it may not even view."""
    if role in capability:
        return allowed
    return seen_but_refused if role in VIEWERS else 404


@pytest.mark.parametrize("role", EVERYONE)
def test_read_permissions(role, users, api_for, version):
    client = api_for(users[role])
    job = ImportJob.objects.get()
    status = 200 if role in VIEWERS else 404
    assert client.get(f"/api/v1/datasets/{version.dataset_id}/").status_code == status
    assert client.get(f"/api/v1/datasets/{version.dataset_id}/records/").status_code == status
    assert client.get(f"/api/v1/datasets/{version.dataset_id}/versions/").status_code == status
    assert client.get(f"/api/v1/datasets/{version.dataset_id}/imports/").status_code == status
    assert client.get(f"/api/v1/imports/{job.pk}/").status_code == status
    assert client.get(f"/api/v1/versions/{version.pk}/").status_code == status
    assert client.get(f"/api/v1/versions/{version.pk}/export/").status_code == status
    assert client.get("/api/v1/datasets/").json()["count"] == (1 if role in VIEWERS else 0)


@pytest.mark.parametrize("role", EVERYONE)
def test_dataset_create_permission(role, users, api_for, workspace):
    response = api_for(users[role]).post("/api/v1/datasets/", {"workspace": workspace.pk, "name": "New"}, format="json")
    assert response.status_code == expected(role, EDITORS, 201)
    assert Dataset.objects.filter(name="New").count() == (1 if role in EDITORS else 0)


@pytest.mark.parametrize("role", EVERYONE)
def test_source_create_permission(role, users, api_for, workspace):
    response = api_for(users[role]).post("/api/v1/sources/", {"workspace": workspace.pk, "name": "New"}, format="json")
    assert response.status_code == expected(role, EDITORS, 201)
    assert Source.objects.filter(name="New").count() == (1 if role in EDITORS else 0)


@pytest.mark.parametrize("role", EVERYONE)
def test_import_permission(role, users, api_for, dataset):
    response = api_for(users[role]).post(
        f"/api/v1/datasets/{dataset.pk}/imports/", {"file": upload("a.jsonl", alpaca_rows(2))}, format="multipart"
    )
    assert response.status_code == expected(role, EDITORS, 202)
    assert ImportJob.objects.count() == (1 if role in EDITORS else 0)


@pytest.mark.parametrize("role", EVERYONE)
def test_freeze_permission(role, users, api_for, version):
    response = api_for(users[role]).post(f"/api/v1/datasets/{version.dataset_id}/versions/", {"seed": 1}, format="json")
    assert response.status_code == expected(role, EDITORS, 201)
    assert DatasetVersion.objects.count() == (2 if role in EDITORS else 1)


def test_missing_and_forbidden_look_the_same(users, api_for, dataset):
    client = api_for(users["crowd_annotator"])
    forbidden = client.get(f"/api/v1/datasets/{dataset.pk}/")
    missing = client.get("/api/v1/datasets/999999/")
    assert (
        (forbidden.status_code, forbidden.json())
        == (missing.status_code, missing.json())
        == (404, {"detail": "Not found."})
    )

"""The list endpoints cost a fixed number of queries, whatever the number of rows."""

import pytest

from accounts.services import api_token_for
from finetuning.services.files import fine_tuning_file_create
from finetuning.services.jobs import fine_tuning_job_create
from finetuning.tests.fixtures import support_rows, training_lines

pytestmark = pytest.mark.django_db


def _add(workspace, user, count: int) -> None:
    for index in range(count):
        file = fine_tuning_file_create(
            workspace=workspace,
            filename=f"f{index}.jsonl",
            data=training_lines(support_rows(2 + index)),
            created_by=user,
        )
        fine_tuning_job_create(workspace=workspace, model="tiny-chat", training_file=file, metadata={"n": str(index)},
                               created_by=user)


def test_file_and_job_lists_cost_the_same_for_1_and_10_rows(
    client, users, workspace, tiny_base_model, django_assert_num_queries, django_capture_on_commit_callbacks
):
    user = users["ml_engineer"]
    headers = {"HTTP_AUTHORIZATION": f"Bearer {api_token_for(user=user)}"}
    client.get("/v1/files", **headers)  # the token's first use writes its "last used"
    with django_capture_on_commit_callbacks(execute=False):
        _add(workspace, user, 1)
    counts = {}
    for rows in (1, 10):
        for path in ("/v1/files", "/v1/fine_tuning/jobs", "/v1/models"):
            with django_assert_num_queries(counts.setdefault(path, _count(client, path, headers))):
                response = client.get(path, **headers)
            assert response.status_code == 200
        if rows == 1:
            with django_capture_on_commit_callbacks(execute=False):
                _add(workspace, user, 9)
    assert len(client.get("/v1/fine_tuning/jobs?limit=100", **headers).json()["data"]) == 10
    assert [job["metadata"] for job in client.get("/v1/fine_tuning/jobs?metadata[n]=3", **headers).json()["data"]] == [
        {"n": "3"}
    ]


def _count(client, path, headers) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        client.get(path, **headers)
    return len(captured)

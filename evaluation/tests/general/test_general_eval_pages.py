"""The general check's pages: create through the form, read the per-subject table, fixed queries, access."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext

from evaluation.models import GeneralEval
from evaluation.services.general_eval import general_eval_create, general_eval_run

TEST_CSV = b"Q1,a,b,c,d,A\nQ2,a,b,c,d,B\nQ3,a,b,c,d,C\n"
DEV_CSV = b"D1,a,b,c,d,C\nD2,a,b,c,d,D\n"


def _login(client, user):
    client.force_login(user)
    return client


def test_the_form_creates_a_check_and_a_bad_file_names_its_line(
    client, users, workspace, tiny_base_model, tiny_artifact
):
    _login(client, users["product_manager"])
    form = {
        "name": "Toys",
        "baseline": f"base:{tiny_base_model.pk}",
        "candidate": f"artifact:{tiny_artifact.pk}",
        "shots": 2,
        "tolerance": 2,
        "test_files": [SimpleUploadedFile("toys_test.csv", TEST_CSV)],
        "dev_files": [SimpleUploadedFile("toys_dev.csv", DEV_CSV)],
    }
    response = client.post("/general-checks/", form)
    check = GeneralEval.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/general-checks/{check.pk}/"
    assert (check.tolerance, check.shots, check.items.count(), check.baseline_base_model, check.candidate_artifact) == (
        0.02, 2, 3, tiny_base_model, tiny_artifact)

    form |= {"test_files": [SimpleUploadedFile("toys_test.csv", b"Q1,a,b,c,d,A\nQ2,a,,c,d,B\n")],
             "dev_files": [SimpleUploadedFile("toys_dev.csv", DEV_CSV)]}
    refused = client.post("/general-checks/", form)
    assert refused.status_code == 200
    assert "toys_test.csv, line 2, field B: the option is empty" in refused.content.decode()
    assert GeneralEval.objects.count() == 1


@pytest.mark.slow
def test_the_result_page_shows_each_subject_with_intervals_and_the_verdict(
    client, users, workspace, tiny_base_model, tiny_artifact
):
    check = general_eval_create(
        workspace=workspace,
        name="Toys",
        baseline=tiny_base_model,
        candidate=tiny_artifact,
        shots=1,
        test_uploads=[("toys_test.csv", TEST_CSV), ("cars_test.csv", TEST_CSV)],
        dev_uploads=[("toys_dev.csv", DEV_CSV), ("cars_dev.csv", DEV_CSV)],
    )
    general_eval_run(general_eval=check)
    page = _login(client, users["ml_engineer"]).get(f"/general-checks/{check.pk}/").content.decode()
    assert 'id="general-eval-subjects"' in page
    assert page.count("<tr>") == 3  # header + two subjects
    assert "toys" in page and "cars" in page and "McNemar" in page


def test_list_page_queries_do_not_grow_with_rows(client, users, workspace, tiny_base_model, django_assert_num_queries):
    _login(client, users["product_manager"])

    def make(n):
        for _ in range(n):
            general_eval_create(
                workspace=workspace,
                name="c",
                baseline=tiny_base_model,
                shots=0,
                test_uploads=[("a_test.csv", TEST_CSV)],
            )

    make(1)
    with CaptureQueriesContext(connection) as one:
        assert client.get("/general-checks/").status_code == 200
    make(9)
    with django_assert_num_queries(len(one.captured_queries)):
        #rows + the nav link
        assert client.get("/general-checks/").content.decode().count('href="/general-checks/') == 10 + 1


@pytest.mark.parametrize("role", ["reviewer", "crowd_annotator", "outsider"])
def test_people_without_study_rights_see_neither_page(role, client, users, workspace, tiny_base_model):
    check = general_eval_create(
        workspace=workspace, name="c", baseline=tiny_base_model, shots=0, test_uploads=[("a_test.csv", TEST_CSV)]
    )
    _login(client, users[role])
    assert client.get(f"/general-checks/{check.pk}/").status_code == 404
    if role != "outsider":  # the outsider studies in their own workspace: the list opens, empty
        assert client.get("/general-checks/").status_code == 404
    else:
        assert "No checks yet." in client.get("/general-checks/").content.decode()

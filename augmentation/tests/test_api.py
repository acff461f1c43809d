import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext

from augmentation.models import AugmentationRun, GradingRun, MixRun, SynonymTable
from augmentation.services.runs import augmentation_run_create, augmentation_run_execute
from datahub.models import DatasetVersion, Source

pytestmark = pytest.mark.django_db


def _run(version, **options):
    return augmentation_run_execute(run=augmentation_run_create(version=version, methods=["eda"], options=options,
                                                                    run_in_background=False))


def test_create_run_with_a_token_then_review_and_accept(api_for, users, version, django_capture_on_commit_callbacks):
    client = api_for(users["ml_engineer"])
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            f"/api/v1/versions/{version.pk}/augmentations/", {"methods": ["eda"], "options": {"seed": 1}}, format="json"
        )
    assert response.status_code == 201, response.json()
    run_id = response.json()["id"]
    run = AugmentationRun.objects.get(pk=run_id)
    augmentation_run_execute(run=run)  # what the enqueued job does
    body = client.get(f"/api/v1/augmentations/{run_id}/").json()
    assert (body["status"], body["candidate_count"], body["passing_count"]) == ("succeeded", 12, 12)
    listed = client.get(f"/api/v1/augmentations/{run_id}/candidates/?limit=5").json()
    assert listed["count"] == 12 and len(listed["results"]) == 5
    first = listed["results"][0]
    assert set(first) >= {"original_text", "text", "reason", "scores", "decision"}
    assert client.post(f"/api/v1/augmentations/{run_id}/decisions/", {"all_passing": True}, format="json").json() == {
        "changed": 12
    }
    assert client.post(
        f"/api/v1/augmentations/{run_id}/decisions/",
        {"candidates": [first["id"]], "decision": "rejected"},
        format="json",
    ).json() == {"changed": 1}
    accepted = client.post(f"/api/v1/augmentations/{run_id}/accept/", {}, format="json")
    assert accepted.status_code == 201
    assert accepted.json()["operation"] == "augmentation"
    assert accepted.json()["counts"] == {"train": 14, "validation": 0, "test": 1}


@pytest.mark.parametrize("who, status", [("product_manager", 403), ("crowd_annotator", 404), ("outsider", 404)])
def test_who_may_start_a_run(api_for, users, version, who, status):
    response = api_for(users[who]).post(
        f"/api/v1/versions/{version.pk}/augmentations/", {"methods": ["eda"]}, format="json"
    )
    assert response.status_code == status
    assert AugmentationRun.objects.count() == 0


def test_a_product_manager_reads_but_does_not_decide(api_for, users, version):
    run = _run(version)
    client = api_for(users["product_manager"])
    assert client.get(f"/api/v1/augmentations/{run.pk}/candidates/").status_code == 200
    assert (
        client.post(f"/api/v1/augmentations/{run.pk}/decisions/", {"all_passing": True}, format="json").status_code
        == 403
    )
    assert client.post(f"/api/v1/augmentations/{run.pk}/accept/", {}, format="json").status_code == 403
    assert run.candidates.filter(decision="accepted").count() == 0
    assert DatasetVersion.objects.filter(operation="augmentation").count() == 0


def test_the_endpoint_must_be_one_the_user_may_use(api_for, users, version, other_workspace):
    from llm.services.endpoints import model_endpoint_create

    theirs = model_endpoint_create(
        workspace=other_workspace, name="theirs", base_url="http://model.invalid/v1", model="m"
    )
    response = api_for(users["ml_engineer"]).post(f"/api/v1/versions/{version.pk}/augmentations/",
                                                  {"methods": ["paraphrase"], "endpoint": theirs.pk}, format="json")
    assert response.status_code == 404
    assert AugmentationRun.objects.count() == 0


def test_bad_options_answer_where(api_for, users, version):
    response = api_for(users["ml_engineer"]).post(f"/api/v1/versions/{version.pk}/augmentations/",
                                                  {"methods": ["eda"], "options": {"eda_alpha": 2}}, format="json")
    assert response.status_code == 400
    assert response.json()["where"] == "eda_alpha"


def test_candidate_list_query_count_is_flat(api_for, users, make_version, django_assert_num_queries):
    client = api_for(users["ml_engineer"])
    one = _run(make_version(train=[("Please help me", "ok.")], name="One"), eda_variants=1)
    ten = _run(make_version(train=[("Please help me", "ok.")], name="Ten"), eda_variants=10)
    assert (one.candidate_count, ten.candidate_count) == (1, 10)
    with CaptureQueriesContext(connection) as first:
        assert len(client.get(f"/api/v1/augmentations/{one.pk}/candidates/").json()["results"]) == 1
    with django_assert_num_queries(len(first.captured_queries)):
        assert len(client.get(f"/api/v1/augmentations/{ten.pk}/candidates/").json()["results"]) == 10


def test_run_list_query_count_is_flat(api_for, users, version, django_assert_num_queries):
    client = api_for(users["ml_engineer"])
    _run(version)
    with CaptureQueriesContext(connection) as first:
        assert client.get(f"/api/v1/datasets/{version.dataset_id}/augmentations/").json()["count"] == 1
    for _ in range(9):
        _run(version)
    with django_assert_num_queries(len(first.captured_queries)):
        assert client.get(f"/api/v1/datasets/{version.dataset_id}/augmentations/").json()["count"] == 10


def test_mix_and_grading_and_tier_through_the_api(
    api_for, users, version, aug_source, django_capture_on_commit_callbacks
):
    client = api_for(users["ml_engineer"])
    response = client.post(
        f"/api/v1/datasets/{version.dataset_id}/mixes/",
        {"ingredients": [{"kind": "source", "id": aug_source.pk, "ratio": 1.0}], "total_size": 2},
        format="json",
    )
    assert response.status_code == 201
    from augmentation.services.mixing import mix_run_execute

    mix = mix_run_execute(run=MixRun.objects.get(pk=response.json()["id"]))
    assert client.get(f"/api/v1/mixes/{mix.pk}/").json()["achieved"]["total"] == 2
    response = client.post(f"/api/v1/sources/{aug_source.pk}/gradings/", {"method": "rules"}, format="json")
    assert response.status_code == 201
    from augmentation.services.grading import grading_run_execute

    grading_run_execute(run=GradingRun.objects.get(pk=response.json()["id"]))
    report = client.get(f"/api/v1/sources/{aug_source.pk}/quality/").json()
    assert sum(report["histogram"]) == 4 and report["run"]["status"] == "succeeded"
    assert (
        client.post(f"/api/v1/sources/{aug_source.pk}/tier/", {"quality_tier": "A"}, format="json").json()[
            "quality_tier"
        ]
        == "A"
    )


def test_grading_and_tier_refused_to_a_product_manager(api_for, users, aug_source):
    client = api_for(users["product_manager"])
    assert (
        client.post(f"/api/v1/sources/{aug_source.pk}/gradings/", {"method": "rules"}, format="json").status_code == 403
    )
    assert (
        client.post(f"/api/v1/sources/{aug_source.pk}/tier/", {"quality_tier": "A"}, format="json").status_code == 403
    )
    assert GradingRun.objects.count() == 0
    assert Source.objects.get(pk=aug_source.pk).quality_tier == "B"


def test_synonym_table_upload(api_for, users, workspace):
    client = api_for(users["ml_engineer"])
    upload = SimpleUploadedFile("mine.tsv", "refund\trepayment,payback\n".encode())
    response = client.post(
        "/api/v1/synonym-tables/", {"workspace": workspace.pk, "name": "mine", "file": upload}, format="multipart"
    )
    assert response.status_code == 201 and response.json()["words"] == 3
    bad = SimpleUploadedFile("bad.tsv", "only-a-word\n".encode())
    response = client.post(
        "/api/v1/synonym-tables/", {"workspace": workspace.pk, "name": "bad", "file": bad}, format="multipart"
    )
    assert response.status_code == 400 and response.json()["where"] == "bad.tsv, line 1"
    assert SynonymTable.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_background_jobs_run_the_three_steps(api_for, users, version, aug_source, run_jobs):
    client = api_for(users["ml_engineer"])
    run_id = client.post(f"/api/v1/versions/{version.pk}/augmentations/", {"methods": ["eda"]}, format="json").json()[
        "id"
    ]
    mix_id = client.post(
        f"/api/v1/datasets/{version.dataset_id}/mixes/",
        {"ingredients": [{"kind": "source", "id": aug_source.pk, "ratio": 1.0}], "total_size": 3},
        format="json",
    ).json()["id"]
    grading_id = client.post(f"/api/v1/sources/{aug_source.pk}/gradings/", {}, format="json").json()["id"]
    run_jobs()
    assert client.get(f"/api/v1/augmentations/{run_id}/").json()["status"] == "succeeded"
    assert client.get(f"/api/v1/mixes/{mix_id}/").json()["achieved"]["total"] == 3
    grading = client.get(f"/api/v1/gradings/{grading_id}/").json()
    assert (grading["status"], grading["processed"], grading["percent"]) == ("succeeded", 4, 100)


def test_mix_grading_and_table_lists_cost_is_flat(
    api_for, users, version, aug_source, workspace, django_assert_num_queries
):
    from augmentation.services.grading import grading_run_create
    from augmentation.services.mixing import mix_run_create
    from augmentation.services.synonyms import synonym_table_create

    client = api_for(users["ml_engineer"])
    makers = {
        f"/api/v1/datasets/{version.dataset_id}/mixes/": lambda i: mix_run_create(
            dataset=version.dataset,
            ingredients=[{"kind": "source", "id": aug_source.pk, "ratio": 1}],
            total_size=1,
            run_in_background=False,
        ),
        f"/api/v1/sources/{aug_source.pk}/gradings/": lambda i: grading_run_create(
            source=aug_source, run_in_background=False
        ),
        f"/api/v1/synonym-tables/?workspace={workspace.pk}": lambda i: synonym_table_create(
            workspace=workspace, name=f"t{i}", content="a\tb\n"
        ),
    }
    for url, make in makers.items():
        make(0)
        with CaptureQueriesContext(connection) as first:
            assert client.get(url).json()["count"] == 1
        for i in range(1, 10):
            make(i)
        with django_assert_num_queries(len(first.captured_queries)):
            assert client.get(url).json()["count"] == 10

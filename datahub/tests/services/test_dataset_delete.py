"""Deleting a dataset: everything of it goes (records, versions, imports, runs made on it, uploads), nothing of anyone
else's; refused with the users named while a version is used; a dataset made for a failed import is not kept."""

from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from common.errors import ApplicationError
from common.models import HistoryEvent
from datahub.models import Dataset, DatasetVersion, ImportJob, Record, RecordSearch, VersionRecord
from datahub.services.datasets import dataset_create, dataset_delete, dataset_users
from datahub.services.imports import dataset_import_new, import_job_run
from datahub.services.versions import dataset_version_freeze
from datahub.tests.fixtures import alpaca_rows


@pytest.fixture
def filled(workspace, write_file, import_path, users):
    """A dataset with 6 imported records and two versions (the second derived from the first), and a neighbour."""
    dataset = dataset_create(workspace=workspace, name="Old chats")
    import_path(dataset, write_file("a.jsonl", alpaca_rows(6)))
    dataset_version_freeze(dataset=dataset)
    dataset_version_freeze(dataset=dataset, seed=1)
    neighbour = dataset_create(workspace=workspace, name="Kept chats")
    import_path(neighbour, write_file("b.jsonl", alpaca_rows(3)))
    dataset_version_freeze(dataset=neighbour)
    return dataset, neighbour


def test_a_dataset_goes_with_everything_of_its_own_and_nothing_else(
    filled, users, settings, django_capture_on_commit_callbacks
):
    dataset, neighbour = filled
    from common.storage import workspace_storage_relative

    uploads = settings.STORAGE_ROOT / workspace_storage_relative(dataset.workspace_id) / f"imports/dataset-{dataset.pk}"
    assert uploads.is_dir()
    with django_capture_on_commit_callbacks(execute=True):
        dataset_delete(dataset=dataset, deleted_by=users["ml_engineer"])
    assert not Dataset.objects.filter(pk=dataset.pk).exists()
    assert (
        Record.objects.count(),
        DatasetVersion.objects.count(),
        VersionRecord.objects.count(),
        ImportJob.objects.count(),
    ) == (3, 1, 3, 1)
    assert set(Record.objects.values_list("dataset_id", flat=True)) == {neighbour.pk}
    if RecordSearch.objects.exists():  # PostgreSQL keeps a search row per record
        assert RecordSearch.objects.count() == 3
    event = HistoryEvent.objects.get(target_type="datahub.dataset", target_id=dataset.pk, verb="deleted")
    assert (event.actor, event.after) == (users["ml_engineer"], {"name": "Old chats", "workspace": dataset.workspace_id,
                                                                "records": 6, "versions": 2})
    assert not uploads.exists()


def test_a_dataset_whose_version_trained_a_model_is_refused_naming_it(tiny_artifact):
    dataset = tiny_artifact.dataset_version.dataset
    assert dataset_users(dataset=dataset) == [
        "training run 'tiny-tuned' (v1)",
        f"model artifact {tiny_artifact.name!r} (v1)",
    ]
    with pytest.raises(ApplicationError) as error:
        dataset_delete(dataset=dataset)
    assert error.value.code == "in_use"
    assert error.value.extra == {
        "used_by": ["training run 'tiny-tuned' (v1)", f"model artifact {tiny_artifact.name!r} (v1)"]
    }
    assert (
        Record.objects.filter(dataset=dataset).count() == 12
        and DatasetVersion.objects.filter(dataset=dataset).count() == 1
    )


def test_the_api_deletes_and_answers_409_naming_the_users(filled, tiny_artifact, api_for, users):
    dataset, _ = filled
    client = api_for(users["ml_engineer"])
    assert api_for(users["crowd_annotator"]).delete(f"/api/v1/datasets/{dataset.pk}/").status_code in (403, 404)
    assert Dataset.objects.filter(pk=dataset.pk).exists()
    assert client.delete(f"/api/v1/datasets/{dataset.pk}/").status_code == 204
    assert client.get(f"/api/v1/datasets/{dataset.pk}/").status_code == 404
    used = tiny_artifact.dataset_version.dataset
    response = client.delete(f"/api/v1/datasets/{used.pk}/")
    assert response.status_code == 409
    body = response.json()
    assert (body["code"], body["used_by"][0]) == ("in_use", "training run 'tiny-tuned' (v1)")
    assert Dataset.objects.filter(pk=used.pk).exists()


def test_the_page_deletes_and_says_what_uses_a_dataset(filled, tiny_artifact, client, users):
    dataset, _ = filled
    client.force_login(users["ml_engineer"])
    response = client.post(reverse("datahub:dataset-delete", args=[dataset.pk]), follow=True)
    assert response.redirect_chain[-1][0] == reverse("datahub:dataset-list")
    assert "Dataset “Old chats” deleted." in response.content.decode()
    used = tiny_artifact.dataset_version.dataset
    response = client.post(reverse("datahub:dataset-delete", args=[used.pk]), follow=True)
    assert "it is in use by training run &#x27;tiny-tuned&#x27; (v1)" in response.content.decode()
    assert Dataset.objects.filter(pk=used.pk).exists()
    client.force_login(users["product_manager"])
    assert client.post(reverse("datahub:dataset-delete", args=[used.pk])).status_code in (403, 404)


def test_the_command_deletes_and_names_the_users(filled, tiny_artifact):
    dataset, _ = filled
    out = StringIO()
    call_command("delete_dataset", "--workspace", "Acme support", "--dataset", "Old chats", stdout=out)
    assert out.getvalue() == "deleted dataset 'Old chats'\n"
    with pytest.raises(CommandError) as error:
        call_command("delete_dataset", "--workspace", "Acme support", "--dataset", "support")
    assert str(error.value) == ("--dataset 'support' is in use by:\n  training run 'tiny-tuned' (v1)\n"
                                f"  model artifact {tiny_artifact.name!r} (v1)")


def test_a_refused_import_with_create_leaves_no_dataset(workspace, write_file):
    bad = write_file("bad.jsonl", '{"instruction": "fine", "output": "yes"}\n{"nonsense": true}\n')
    with pytest.raises(CommandError) as error:
        call_command("import_records", str(bad), "--workspace", "Acme support", "--dataset", "New", "--create",
                     stdout=StringIO(), stderr=StringIO())
    assert "the dataset made for it was removed" in str(error.value)
    assert not Dataset.objects.filter(name="New").exists()
    assert (Record.objects.count(), ImportJob.objects.count()) == (0, 0)


def test_a_failed_import_into_an_existing_dataset_keeps_it(workspace, dataset, write_file):
    bad = write_file("bad.jsonl", '{"nonsense": true}\n')
    with pytest.raises(CommandError):
        call_command(
            "import_records",
            str(bad),
            "--workspace",
            "Acme support",
            "--dataset",
            "Support chats",
            "--create",
            stdout=StringIO(),
            stderr=StringIO(),
        )
    assert Dataset.objects.filter(pk=dataset.pk).exists()
    assert ImportJob.objects.get().status == "failed"


def test_a_dataset_made_with_its_first_file_goes_when_the_import_fails(workspace, write_file, users, client):
    bad = write_file("bad.jsonl", '{"nonsense": true}\n')
    job = dataset_import_new(
        workspace=workspace,
        name="Fresh",
        created_by=users["ml_engineer"],
        path=bad,
        file_name="bad.jsonl",
        run_in_background=False,
    )
    assert Dataset.objects.filter(name="Fresh").exists()
    job = import_job_run(job=job)
    assert job.status == "failed"
    assert not Dataset.objects.filter(name="Fresh").exists()
    # The page that polled the job learns why, and goes back to the list.
    client.force_login(users["ml_engineer"])
    response = client.get(reverse("datahub:import-job", args=[job.pk]) + "?poll=1", HTTP_HX_REQUEST="true")
    assert (response.status_code, response["HX-Redirect"]) == (204, reverse("datahub:dataset-list"))
    page = client.get(reverse("datahub:dataset-list")).content.decode()
    assert "so the new dataset “Fresh” was not kept" in page and "bad.jsonl" in page
    # Someone else polling the same id sees only a missing job.
    client.force_login(users["reviewer"])
    assert client.get(reverse("datahub:import-job", args=[job.pk]), HTTP_HX_REQUEST="true").status_code == 404


def test_the_new_dataset_form_takes_a_first_file(workspace, users, client):
    from django.core.files.uploadedfile import SimpleUploadedFile

    client.force_login(users["ml_engineer"])
    upload = SimpleUploadedFile("chats.jsonl", b'{"instruction": "Hi?", "output": "Hello."}\n')
    response = client.post(
        reverse("datahub:dataset-list"),
        {"dataset-workspace": workspace.pk, "dataset-name": "With file", "dataset-file": upload},
    )
    dataset = Dataset.objects.get(name="With file")
    assert response.url == reverse("datahub:dataset-detail", args=[dataset.pk])
    job = ImportJob.objects.get(dataset=dataset)
    assert (job.dataset_is_new, job.created_by) == (True, users["ml_engineer"])
    assert import_job_run(job=job).status == "succeeded"
    assert Record.objects.filter(dataset=dataset).count() == 1


def test_a_dataset_with_an_unknown_workspace_or_bad_name_is_not_made(workspace, users, client):
    client.force_login(users["ml_engineer"])
    response = client.post(reverse("datahub:dataset-list"), {"dataset-workspace": workspace.pk, "dataset-name": "  "})
    assert response.status_code == 400
    assert Dataset.objects.count() == 0

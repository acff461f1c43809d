"""The datahub browser pages: they call the same services, show errors where they belong, escape data, and cost fixed
queries."""

import json
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from datahub.export import trl_row, version_entries
from datahub.models import Dataset, DatasetVersion, ImportJob, Source
from datahub.services.datasets import dataset_create, source_create
from datahub.services.imports import import_job_run
from datahub.services.versions import dataset_version_freeze
from datahub.tests.fixtures import alpaca_rows


@pytest.fixture
def browser(client):
    def login(user):
        client.force_login(user)
        return client

    return login


def jsonl(name: str, rows: list[dict]) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode())


def test_nav_url_name_exists():
    assert reverse("datahub:dataset-list") == "/data/"


def test_dataset_list_and_create(browser, users, workspace, dataset):
    client = browser(users["ml_engineer"])
    page = client.get(reverse("datahub:dataset-list"))
    assert page.status_code == 200
    assert b"Support chats" in page.content and b'id="dataset-create"' in page.content
    response = client.post(
        reverse("datahub:dataset-list"), {"dataset-workspace": workspace.pk, "dataset-name": "Refunds"}
    )
    created = Dataset.objects.get(name="Refunds")
    assert response.status_code == 302 and response["Location"] == reverse("datahub:dataset-detail", args=[created.pk])
    assert created.created_by == users["ml_engineer"]


def test_duplicate_dataset_name_is_shown_on_the_form(browser, users, workspace, dataset):
    response = browser(users["ml_engineer"]).post(reverse("datahub:dataset-list"),
                                                  {"dataset-workspace": workspace.pk, "dataset-name": "Support chats"})
    assert response.status_code == 400
    assert (
        "a dataset named &#x27;Support chats&#x27; already exists in workspace &#x27;Acme support&#x27;"
        in response.content.decode()
    )
    assert Dataset.objects.count() == 1


def test_source_create(browser, users, workspace):
    response = browser(users["admin"]).post(
        reverse("datahub:source-create"),
        {"source-workspace": workspace.pk, "source-name": "Forum", "source-kind": "public", "source-quality_tier": "C"},
    )
    assert response.status_code == 302
    assert Source.objects.get().kind == "public"


def test_product_manager_sees_data_but_no_forms(browser, users, workspace, dataset):
    client = browser(users["product_manager"])
    page = client.get(reverse("datahub:dataset-list")).content
    assert b"Support chats" in page and b'id="dataset-create"' not in page
    detail = client.get(reverse("datahub:dataset-detail", args=[dataset.pk])).content
    assert b'id="import-form"' not in detail and b'id="freeze-form"' not in detail
    response = client.post(reverse("datahub:dataset-list"), {"dataset-workspace": workspace.pk, "dataset-name": "Mine"})
    assert response.status_code == 400
    response = client.post(
        reverse("datahub:dataset-import", args=[dataset.pk]), {"import-file": jsonl("a.jsonl", alpaca_rows(1))}
    )
    assert response.status_code == 403
    assert client.post(reverse("datahub:dataset-freeze", args=[dataset.pk]), {"freeze-seed": 0}).status_code == 403
    assert (Dataset.objects.count(), ImportJob.objects.count(), DatasetVersion.objects.count()) == (1, 0, 0)


@pytest.mark.parametrize("role", ["reviewer", "crowd_annotator", "outsider"])
def test_non_viewers_get_404(browser, users, role, dataset, write_file, import_path):
    job = import_path(dataset, write_file("a.jsonl", alpaca_rows(3)))
    version = dataset_version_freeze(dataset=dataset)
    client = browser(users[role])
    assert b"Support chats" not in client.get(reverse("datahub:dataset-list")).content
    pages = [
        ("dataset-detail", [dataset.pk]),
        ("import-job", [job.pk]),
        ("version-detail", [version.pk]),
        ("version-export", [version.pk]),
    ]
    for name, args in pages:
        assert client.get(reverse(f"datahub:{name}", args=args)).status_code == 404
    assert client.post(reverse("datahub:dataset-freeze", args=[dataset.pk]), {"freeze-seed": 0}).status_code == 404
    assert DatasetVersion.objects.count() == 1


def test_anonymous_is_sent_to_login(client, dataset):
    response = client.get(reverse("datahub:dataset-detail", args=[dataset.pk]))
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


def test_import_through_the_page_with_progress_polling(browser, users, dataset, source):
    client = browser(users["ml_engineer"])
    response = client.post(
        reverse("datahub:dataset-import", args=[dataset.pk]),
        {"import-file": jsonl("chats.jsonl", alpaca_rows(4)), "import-format": "auto", "import-source": source.pk},
    )
    assert response.status_code == 302
    job = ImportJob.objects.get()
    assert (job.status, job.source, job.created_by) == ("queued", source, users["ml_engineer"])
    detail = client.get(reverse("datahub:dataset-detail", args=[dataset.pk])).content.decode()
    poll_url = reverse("datahub:import-job", args=[job.pk]) + "?poll=1"
    assert f'hx-get="{poll_url}" hx-trigger="every 1s"' in detail
    running = client.get(poll_url, HTTP_HX_REQUEST="true")
    assert "HX-Refresh" not in running and 'role="progressbar"' in running.content.decode()
    import_job_run(job=job)
    done = client.get(poll_url, HTTP_HX_REQUEST="true")
    assert done["HX-Refresh"] == "true"
    assert "hx-get" not in done.content.decode()
    assert "4 records added, 0 exact duplicates skipped." in done.content.decode()
    detail = client.get(reverse("datahub:dataset-detail", args=[dataset.pk])).content.decode()
    assert "What is 3 + 3?" in detail and "hx-trigger" not in detail


def test_failed_import_shows_error_and_where(browser, users, dataset):
    client = browser(users["ml_engineer"])
    bad_file = jsonl("bad.jsonl", alpaca_rows(2) + [{"instruction": "?"}])
    client.post(
        reverse("datahub:dataset-import", args=[dataset.pk]), {"import-file": bad_file, "import-format": "auto"}
    )
    import_job_run(job=ImportJob.objects.get())
    detail = client.get(reverse("datahub:dataset-detail", args=[dataset.pk])).content.decode()
    assert "<strong>line 3</strong>: field &#x27;output&#x27; is missing" in detail
    assert "Nothing was imported." in detail


def test_import_form_errors_stay_on_the_page(browser, users, dataset):
    response = browser(users["ml_engineer"]).post(
        reverse("datahub:dataset-import", args=[dataset.pk]), {"import-format": "auto"}
    )
    assert response.status_code == 400
    assert "This field is required." in response.content.decode()
    assert ImportJob.objects.count() == 0


def test_record_text_is_escaped(browser, users, dataset, write_file, import_path):
    import_path(dataset, write_file("x.jsonl", [{"instruction": "<script>alert(1)</script>", "output": "<b>bold</b>"}]))
    page = browser(users["ml_engineer"]).get(reverse("datahub:dataset-detail", args=[dataset.pk])).content.decode()
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<b>bold</b>" not in page and "&lt;b&gt;bold&lt;/b&gt;" in page


def test_preference_and_kto_records_render(browser, users, workspace, write_file, import_path):
    prefs = dataset_create(workspace=workspace, name="Prefs")
    import_path(prefs, write_file("p.jsonl", [{"prompt": "Rate me", "chosen": "Gladly", "rejected": "Never"}]))
    page = browser(users["ml_engineer"]).get(reverse("datahub:dataset-detail", args=[prefs.pk])).content.decode()
    assert "Gladly" in page and "Never" in page and "Chosen" in page and "Rejected" in page


def test_freeze_through_the_page_and_version_detail(browser, users, dataset, write_file, import_path):
    import_path(dataset, write_file("a.jsonl", alpaca_rows(40)))
    client = browser(users["ml_engineer"])
    first = dataset_version_freeze(dataset=dataset, seed=3)
    response = client.post(
        reverse("datahub:dataset-freeze", args=[dataset.pk]),
        {"freeze-seed": 3, "freeze-train": 0.8, "freeze-validation": 0.1, "freeze-test": 0.1, "freeze-note": "again"},
    )
    version = DatasetVersion.objects.get(number=2)
    assert response.status_code == 302 and response["Location"] == reverse("datahub:version-detail", args=[version.pk])
    assert (version.parent, version.seed, version.note, version.manifest_hash) == (
        first,
        3,
        "again",
        first.manifest_hash,
    )
    page = client.get(response["Location"]).content.decode()
    assert version.manifest_hash in page
    assert f'href="{reverse("datahub:version-detail", args=[first.pk])}">v1</a>' in page
    for split in ("train", "validation", "test"):
        assert f"<tr><td>{split}</td><td>{version.counts[split]}</td>" in page
        assert reverse("datahub:version-export", args=[version.pk]) + f"?split={split}" in page
    train_page = client.get(response["Location"] + "?split=train").content.decode()
    assert train_page.count('<td class="split">train</td>') == min(version.counts["train"], 25)


def test_freeze_form_errors(browser, users, dataset, write_file, import_path):
    import_path(dataset, write_file("a.jsonl", alpaca_rows(3)))
    response = browser(users["ml_engineer"]).post(
        reverse("datahub:dataset-freeze", args=[dataset.pk]),
        {"freeze-seed": 0, "freeze-train": 0.9, "freeze-validation": 0.5, "freeze-test": 0},
    )
    assert response.status_code == 400
    assert "split ratios must be non-negative and add up to 1" in response.content.decode()
    assert DatasetVersion.objects.count() == 0


def test_version_export_download(browser, users, dataset, write_file, import_path):
    import_path(dataset, write_file("a.jsonl", alpaca_rows(20)))
    version = dataset_version_freeze(dataset=dataset, seed=1)
    client = browser(users["product_manager"])
    response = client.get(reverse("datahub:version-export", args=[version.pk]) + "?split=test")
    assert response["Content-Disposition"] == 'attachment; filename="support-chats-v1-test.jsonl"'
    rows = [json.loads(line) for line in b"".join(response.streaming_content).decode().splitlines()]
    assert rows == [trl_row(entry.record) for entry in version_entries(version, "test")]
    bad = client.get(reverse("datahub:version-export", args=[version.pk]) + "?split=dev")
    assert bad.status_code == 302 and bad["Location"] == reverse("datahub:version-detail", args=[version.pk])


# ---------------------------------------------------------------- fixed query counts


def queries_for(client, url) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return len(captured)


def test_dataset_list_page_costs_the_same_for_1_and_10_rows(browser, users, workspace, django_assert_num_queries):
    client = browser(users["ml_engineer"])
    dataset_create(workspace=workspace, name="d0")
    source_create(workspace=workspace, name="s0")
    one = queries_for(client, reverse("datahub:dataset-list"))
    for n in range(1, 10):
        dataset_create(workspace=workspace, name=f"d{n}")
        source_create(workspace=workspace, name=f"s{n}")
    with django_assert_num_queries(one):
        client.get(reverse("datahub:dataset-list"))


def test_dataset_list_sorts_naturally_searches_and_pages(browser, users, workspace, django_assert_num_queries):
    client = browser(users["ml_engineer"])
    for name in ("bad_10", "bad_2", "Bad_1", "good"):
        dataset_create(
            workspace=workspace, name=name, description="broken rows" if name.lower().startswith("bad") else ""
        )
    page = client.get(reverse("datahub:dataset-list")).content.decode()
    assert [page.index(f">{name}</a>") for name in ("Bad_1", "bad_2", "bad_10", "good")] == sorted(
        page.index(f">{name}</a>") for name in ("Bad_1", "bad_2", "bad_10", "good"))
    found = client.get(reverse("datahub:dataset-list"), {"q": "BROKEN"}).content.decode()
    assert ">bad_2</a>" in found and ">good</a>" not in found
    assert (
        "No dataset matches “nothing-like-it”."
        in client.get(reverse("datahub:dataset-list"), {"q": "nothing-like-it"}).content.decode()
    )
    for n in range(30):
        dataset_create(workspace=workspace, name=f"many {n}")
    first = client.get(reverse("datahub:dataset-list")).content.decode()
    assert first.count('href="/data/datasets/') == 25 and "Page 1 of 2" in first
    second = client.get(reverse("datahub:dataset-list"), {"page": 2}).content.decode()
    assert second.count('href="/data/datasets/') == 9 and ">many 29</a>" in second
    paged = client.get(reverse("datahub:dataset-list"), {"q": "many", "page": 2}).content.decode()
    assert paged.count('href="/data/datasets/') == 5 and "?q=many&amp;page=1" in paged


def test_dataset_detail_page_costs_the_same_for_1_and_10_rows(browser, users, dataset, source, write_file, import_path,
                                                              django_assert_num_queries):
    client = browser(users["ml_engineer"])
    url = reverse("datahub:dataset-detail", args=[dataset.pk])
    import_path(dataset, write_file("a.jsonl", alpaca_rows(1)), source=source)
    dataset_version_freeze(dataset=dataset)
    one = queries_for(client, url)
    for n in range(9):
        import_path(dataset, write_file(f"b{n}.jsonl", alpaca_rows(1, start=10 + n)), source=source)
        dataset_version_freeze(dataset=dataset)
    with django_assert_num_queries(one):
        page = client.get(url)
    assert page.content.decode().count('class="import-job card"') == 10


def test_version_detail_page_costs_the_same_for_1_and_10_rows(browser, users, workspace, write_file, import_path,
                                                              django_assert_num_queries):
    client = browser(users["ml_engineer"])
    small, large = dataset_create(workspace=workspace, name="Small"), dataset_create(workspace=workspace, name="Large")
    import_path(small, write_file("a.jsonl", alpaca_rows(1)))
    import_path(large, write_file("b.jsonl", alpaca_rows(10)))
    small_url = reverse("datahub:version-detail", args=[dataset_version_freeze(dataset=small).pk])
    large_url = reverse("datahub:version-detail", args=[dataset_version_freeze(dataset=large).pk])
    one = queries_for(client, small_url)
    with django_assert_num_queries(one):
        page = client.get(large_url)
    assert page.content.decode().count('<td class="split">') == 10


def test_import_page_options_error_report_and_resume(browser, users, dataset, write_file, import_path):
    client = browser(users["ml_engineer"])
    upload = SimpleUploadedFile("qa.tsv", "q\ta\n问题\t答案\nnothing\t\n".encode("gb18030"))
    response = client.post(
        reverse("datahub:dataset-import", args=[dataset.pk]),
        {
            "import-file": upload,
            "import-format": "auto",
            "import-column_map": "instruction=q, output=a",
            "import-skip_invalid": "on",
            "import-max_record_chars": "1000",
        },
    )
    assert response.status_code == 302
    job = import_job_run(job=ImportJob.objects.get())
    assert (job.status, job.encoding, job.created_count, job.invalid_count, job.max_record_chars) == (
        "succeeded",
        "gb18030",
        1,
        1,
        1000,
    )
    detail = client.get(reverse("datahub:dataset-detail", args=[dataset.pk])).content.decode()
    assert "1 invalid row left out." in detail and reverse("datahub:import-job-errors", args=[job.pk]) in detail
    report = client.get(reverse("datahub:import-job-errors", args=[job.pk]))
    assert b"".join(report.streaming_content).decode() == "line,field,reason\r\n3,output,field 'output' is empty\r\n"
    ImportJob.objects.filter(pk=job.pk).update(status="running", updated_at=timezone.now() - timedelta(hours=2))
    detail = client.get(reverse("datahub:dataset-detail", args=[dataset.pk])).content.decode()
    assert reverse("datahub:import-job-resume", args=[job.pk]) in detail
    assert client.post(reverse("datahub:import-job-resume", args=[job.pk])).status_code == 302
    assert ImportJob.objects.get(pk=job.pk).status == "queued"


def test_bad_column_map_stays_on_the_form(browser, users, dataset):
    client = browser(users["ml_engineer"])
    response = client.post(
        reverse("datahub:dataset-import", args=[dataset.pk]),
        {"import-file": jsonl("a.jsonl", alpaca_rows(1)), "import-format": "auto", "import-column_map": "nonsense"},
    )
    assert response.status_code == 400
    assert "Write each mapping as field=column." in response.content.decode()
    assert ImportJob.objects.count() == 0


def test_version_page_links_to_training(browser, users, dataset, write_file, import_path):
    import_path(dataset, write_file("a.jsonl", alpaca_rows(3)))
    version = dataset_version_freeze(dataset=dataset)
    page = browser(users["ml_engineer"]).get(reverse("datahub:version-detail", args=[version.pk])).content.decode()
    assert f'href="{reverse("training:run-new")}?dataset_version={version.pk}"' in page

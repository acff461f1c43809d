"""Augmentation in Chromium: an ML engineer runs EDA on a version, reviews the candidates with the keyboard only
(reject one, accept one, Shift+A accepts every passing one), and accepts them as a new version."""

import pytest

from augmentation.models import AugmentationRun
from augmentation.tests.rows import TEST, TRAIN, sft
from datahub.models import DatasetVersion, Record, VersionRecord

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def frozen(workspace):
    from django.db import transaction

    from datahub.services.datasets import dataset_create, source_create
    from datahub.services.records import records_bulk_create
    from datahub.services.versions import dataset_version_create

    source = source_create(workspace=workspace, name="Help desk")
    dataset = dataset_create(workspace=workspace, name="Support chats")
    with transaction.atomic():
        records_bulk_create(dataset=dataset, rows=[sft(p, a) for p, a in TRAIN + TEST], source=source)
    ids = list(Record.objects.filter(dataset=dataset).order_by("pk").values_list("pk", flat=True))
    return dataset_version_create(
        dataset=dataset,
        entries=[(pk, "train" if i < 3 else "test", []) for i, pk in enumerate(ids)],
        operation="freeze",
    )


def test_eda_review_by_keyboard_and_accept(page, live_server, login, users, frozen, run_jobs):
    base = live_server.url
    login(page, "ml_engineer", "pw-ml_engineer")
    page.goto(f"{base}/augment/versions/{frozen.pk}/new/")
    page.fill("#augment-form input[name=seed]", "1")
    page.click("#augment-form button[type=submit]")
    page.wait_for_selector("#run-status")
    run_jobs()
    run = AugmentationRun.objects.get()
    assert (run.status, run.candidate_count, run.passing_count) == ("succeeded", 12, 12)
    page.reload()
    page.click("#review-link")
    page.wait_for_selector("#candidates tr.candidate.current")
    first, second = run.candidates.order_by("pk")[:2]

    page.keyboard.press("r")
    page.wait_for_selector(f"#candidate-{first.pk}.decision-rejected")
    page.wait_for_selector(f"#candidate-{second.pk}.current")
    page.keyboard.press("a")
    page.wait_for_selector(f"#candidate-{second.pk}.decision-accepted")
    page.wait_for_selector("#decision-counts >> text=accepted: 1")
    # Text from the records is shown as text, beside its parent.
    assert page.locator(f"#candidate-{first.pk} td.side").first.inner_text().endswith(first.original_text)

    page.keyboard.press("Shift+A")
    page.wait_for_selector("#decision-counts >> text=accepted: 11")
    page.click("#accept-run-form button[type=submit]")
    page.wait_for_url(f"{base}/data/versions/**")

    new = DatasetVersion.objects.get(operation="augmentation")
    assert new.parent == frozen
    assert new.counts == {"train": 14, "validation": 0, "test": 1}
    children = Record.objects.filter(origin="augmentation")
    assert children.count() == 11
    assert not children.filter(content_hash=first.content_hash).exists()
    assert set(VersionRecord.objects.filter(version=new, record__in=children).values_list("split", flat=True)) == {
        "train"
    }

"""Dedupe in Chromium: an ML engineer starts a dry run from the dataset's dedupe page, reviews the closest pairs
side by side, flips one decision with the keyboard only (J to move, X to flip), and applies it as a new version."""

import pytest

from datahub.models import DatasetVersion, VersionRecord
from dedupe.models import DedupeDecision, DedupeRun
from dedupe.tests.conftest import FORUM_ROWS, HELP_DESK_ROWS, chat

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def chats(workspace):
    from datahub.services.datasets import dataset_create, source_create
    from datahub.services.records import records_bulk_create

    dataset = dataset_create(workspace=workspace, name="Support chats")
    forum = source_create(workspace=workspace, name="Forum scrape", quality_tier="C")
    help_desk = source_create(workspace=workspace, name="Help desk", quality_tier="A")
    records_bulk_create(dataset=dataset, rows=[chat(r) for r in FORUM_ROWS], source=forum)
    records_bulk_create(dataset=dataset, rows=[chat(r) for r in HELP_DESK_ROWS], source=help_desk)
    return dataset


def test_dry_run_flip_one_decision_by_keyboard_and_apply(page, live_server, login, users, chats, run_jobs):
    base = live_server.url
    login(page, "ml_engineer", "pw-ml_engineer")
    page.goto(f"{base}/dedupe/datasets/{chats.pk}/")
    page.uncheck("#dedupe-form input[name=use_semantic]")
    page.click("#dedupe-form button[type=submit]")
    page.wait_for_selector("#run-status")
    run_jobs()
    run = DedupeRun.objects.get()
    assert (run.status, run.cluster_count, run.drop_count) == ("dry_run_ready", 3, 3)
    page.reload()
    page.wait_for_selector("#dedupe-histogram .main-svg")

    # The closest pair comes first: the help desk's password answer (kept) beside the forum's copy (dropped).
    first_pair = page.locator(".dedupe-pair").first
    assert "how do I reset my password" in first_pair.inner_text()
    assert "How do I reset my password?" in first_pair.inner_text()
    forum_copy = DedupeDecision.objects.get(run=run, action="drop", stage="normalised")

    page.keyboard.press("j")
    page.keyboard.press("j")
    page.wait_for_selector(f".dedupe-decision.current[data-decision='{forum_copy.pk}'][data-action='drop']")
    page.keyboard.press("x")
    page.wait_for_selector(f".dedupe-decision[data-decision='{forum_copy.pk}'][data-action='keep']")
    forum_copy.refresh_from_db()
    assert (forum_copy.action, forum_copy.overridden_by) == ("keep", users["ml_engineer"])

    page.click("#apply-button")
    page.wait_for_url(f"{base}/data/versions/**")
    version = DatasetVersion.objects.get()
    assert (version.operation, sum(version.counts.values())) == ("dedupe", 9)
    assert VersionRecord.objects.filter(version=version, record=forum_copy.record).exists()
    assert "Version 1 created with 9 records." in page.content()

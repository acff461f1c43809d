"""The workbench in Chromium: keyboard labelling, correcting, the plain click-and-submit path, skipping, and the time spent."""

import pytest

from annotation.models import Annotation, Assignment
from tests.browser.conftest import browser, login, page  # noqa: F401 - the shared browser fixtures

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_annotator_labels_with_keys_and_clicks_then_skips(page, live_server, login, users, annotation_project):  # noqa: F811
    login(page, "crowd_annotator", "pw-crowd_annotator")
    page.goto(f"{live_server.url}/annotate/projects/{annotation_project.pk}/")
    page.click("#start-labelling")
    first = page.locator("#workbench").get_attribute("data-assignment-id")
    assert page.locator("#conversation .turn.user").inner_text().endswith("Question 0: how do I get my money back?")

    # Keys: 2 picks the second selectable label, E edits the answer, Esc leaves it, Enter submits.
    page.wait_for_timeout(1500)
    page.keyboard.press("2")
    assert page.locator('[data-label-path="billing/invoice"] input').is_checked()
    page.keyboard.press("e")
    page.keyboard.press("ControlOrMeta+a")
    page.keyboard.type("Open Billing, then Invoices.")
    page.keyboard.press("Escape")
    page.keyboard.press("Enter")
    page.wait_for_function(f"document.querySelector('#workbench').dataset.assignmentId !== '{first}'")
    annotation = Annotation.objects.get(assignment_id=int(first))
    assert [label.path for label in annotation.labels.all()] == ["billing/invoice"]
    assert annotation.corrected_response == "Open Billing, then Invoices."
    assert 1000 <= annotation.time_spent_ms < 10_000

    # The plain path: click a label, press the submit button.
    second = page.locator("#workbench").get_attribute("data-assignment-id")
    page.click('[data-label-path="account/login"]')
    page.click("#submit-annotation")
    page.wait_for_function(f"document.querySelector('#workbench').dataset.assignmentId !== '{second}'")
    assert [label.path for label in Annotation.objects.get(assignment_id=int(second)).labels.all()] == ["account/login"]

    # S skips the last item; the queue is then empty. ? shows the keys.
    third = page.locator("#workbench").get_attribute("data-assignment-id")
    page.keyboard.press("s")
    page.wait_for_selector("#queue-empty")
    assert Assignment.objects.get(pk=int(third)).status == "skipped"
    page.keyboard.press("?")
    assert page.locator("#keys-help").is_visible()


def test_submit_without_a_label_shows_the_error_in_place(page, live_server, login, users, annotation_project):  # noqa: F811
    login(page, "staff_annotator", "pw-staff_annotator")
    page.goto(f"{live_server.url}/annotate/projects/{annotation_project.pk}/")
    page.click("#start-labelling")
    page.click("#submit-annotation")
    assert page.locator(".wb-error").inner_text() == "label_ids: pick at least one label"
    assert Annotation.objects.count() == 0

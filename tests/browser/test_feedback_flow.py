"""An agent answers a customer in the best-of-N workbench with the keyboard alone; the pick and the edit are stored as
feedback events, and the dashboard shows them. Real Chromium, real server, the project's own model server."""

import pytest

from feedback.models import FeedbackEvent, WorkbenchDraft

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def endpoints(tiny_endpoint, make_endpoint, tiny_base_model):
    from training.server.registry import base_model_id

    return [tiny_endpoint, make_endpoint(model=base_model_id(tiny_base_model), name="tiny tuned")]


def test_an_agent_picks_and_edits_with_the_keyboard(page, live_server, login, users, workspace, endpoints):
    login(page, "staff_annotator", "pw-staff_annotator")
    page.goto(f"{live_server.url}/feedback/workbench/?workspace={workspace.pk}")
    page.fill("#wb-message", "My parcel never arrived. Order 1234.")
    page.focus("#wb-message")
    page.keyboard.press("Control+Enter")
    page.wait_for_selector("#candidate-2, #wb-error", timeout=90_000)  # the first call loads the tiny model
    assert page.locator("#wb-error").count() == 0, page.locator("#wb-error").inner_text()
    assert page.locator(".fb-candidate").count() == 2
    assert "tiny" not in page.locator("#wb-candidates").inner_text()  # no endpoint or model names

    page.keyboard.press("2")
    assert "selected" in page.locator("#candidate-2").get_attribute("class")
    page.keyboard.press("e")
    assert page.locator("#wb-edited").is_visible()
    page.keyboard.press("ControlOrMeta+a")
    page.keyboard.type("Sorry! A new parcel ships today.")
    page.keyboard.press("Control+Enter")
    page.wait_for_selector("#wb-picked")
    assert page.locator("#wb-final").inner_text() == "Sorry! A new parcel ships today."

    # N: straight back to the message box for the next customer; this time pick 1 and send with Enter, no edit.
    page.keyboard.press("n")
    assert page.evaluate("document.activeElement.id") == "wb-message"
    page.keyboard.type("Can I change my address?")
    page.keyboard.press("Control+Enter")
    page.wait_for_selector("#candidate-1", timeout=60_000)
    page.keyboard.press("1")
    page.keyboard.press("Enter")
    page.wait_for_selector("#wb-picked")

    first, second = WorkbenchDraft.objects.order_by("pk")
    events = list(
        FeedbackEvent.objects.order_by("pk").values_list("kind", "idempotency_key", "chosen_index", "edited_text")
    )
    assert events == [("choice", f"workbench-{first.pk}-choice", 1, ""), ("edit", f"workbench-{first.pk}-edit", None,
                                                                              "Sorry! A new parcel ships today."),
                      ("choice", f"workbench-{second.pk}-choice", 0, "")]
    assert FeedbackEvent.objects.first().messages == [
        {"role": "user", "content": "My parcel never arrived. Order 1234."}
    ]

    page.click("summary.user")  # the account menu holds "Log out"
    page.click("text=Log out")
    login(page, "ml_engineer", "pw-ml_engineer")
    page.goto(f"{live_server.url}/feedback/?workspace={workspace.pk}")
    assert page.locator("#feedback-total").inner_text() == "3 events in this period."
    assert page.locator("#support-table tbody tr").count() == 2

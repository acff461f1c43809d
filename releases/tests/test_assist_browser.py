"""An agent answers a customer with the assist preset of a slot in the browser (two production and two candidate
replies from the project's own model server), and a product manager reads the pick, counted once, on the slot's page
and the feedback dashboard, on desktop and phone, in English and Chinese. Screenshots go to $WHETSTONE_SCREENSHOTS
when set, for a person to look at."""

import pytest

from feedback.models import FeedbackEvent
from releases.tests.test_assist import assist_slot  # noqa: F401  (fixture)
from releases.tests.test_release_browser import _fits, _shot

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_an_agent_picks_with_the_preset_and_the_manager_reads_it(page, login, live_server, users,
                                                                assist_slot):  # noqa: F811
    login(page, "staff_annotator", "pw-staff_annotator")
    page.goto(f"{live_server.url}/feedback/workbench/?workspace={assist_slot.workspace_id}"
              f"&deployment={assist_slot.pk}")
    assert page.locator("#wb-preset select").input_value() == str(assist_slot.pk)
    page.fill("#wb-message", "My parcel never arrived. Order 1234.")
    page.focus("#wb-message")
    page.keyboard.press("Control+Enter")
    page.wait_for_selector("#candidate-4, #wb-error", timeout=90_000)  # the first calls load the tiny models
    assert page.locator("#wb-error").count() == 0, page.locator("#wb-error").inner_text()
    assert page.locator(".fb-candidate").count() == 4
    assert "tiny" not in page.locator("#wb-candidates").inner_text()
    _shot(page, "assist-workbench-1280-en")
    page.keyboard.press("3")
    page.keyboard.press("Enter")
    page.wait_for_selector("#wb-picked")
    choice = FeedbackEvent.objects.get(kind="choice")
    assert choice.chosen_index == 2 and choice.metadata["assist"]["slot"] == "support-bot"
    won = choice.metadata["sides"][2] == "candidate"

    page.context.clear_cookies()
    login(page, "product_manager", "pw-product_manager")
    for url, name in ((f"/models/deployments/{assist_slot.pk}/", "assist-slot"),
                      (f"/feedback/?workspace={assist_slot.workspace_id}", "assist-dashboard")):
        page.goto(f"{live_server.url}{url}")
        row = page.locator("#assist-support tbody tr").first.inner_text()
        assert "tiny-chat\ttiny-chat-other\t1\t" + ("1" if won else "0") in row
        for language in ("en", "zh-hans"):
            if language != "en":
                with page.expect_navigation():
                    page.select_option("form.lang select", language)
                assert page.locator("html").get_attribute("lang") == language
            for width, height in ((1280, 900), (390, 844)):
                page.set_viewport_size({"width": width, "height": height})
                page.reload()  # the dashboard's charts are drawn for the width they load at
                assert _fits(page, width)
                _shot(page, f"{name}-{width}-{language}")
        with page.expect_navigation():
            page.select_option("form.lang select", "en")

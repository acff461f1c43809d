"""A rater votes with the keyboard alone; a product manager then reads the verdict. Real Chromium, real server."""

import pytest

from evaluation.models import Vote

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_a_rater_votes_with_the_keyboard_and_the_manager_reads_the_results(page, live_server, login, users, open_study):
    login(page, "crowd_annotator", "pw-crowd_annotator")
    page.goto(f"{live_server.url}/studies/vote/")
    with page.expect_navigation():  # to the vote page's load event: its script has run and started the clock
        page.click("text=Start voting")
    for key in ["ArrowLeft", "ArrowRight", "t", "b"]:
        token = page.locator("input[name=token]").get_attribute("value")
        page.wait_for_timeout(50)  # a measurable time spent
        with page.expect_navigation():
            page.keyboard.press(key)
        assert page.locator("input[name=token]").count() == 0 or page.locator("input[name=token]").get_attribute("value") != token
    assert page.locator("#vote-done h2").inner_text() == "No more comparisons"
    votes = list(Vote.objects.order_by("pk").values_list("choice", "time_spent_ms"))
    assert [choice for choice, _ in votes] == ["left", "right", "tie", "both_bad"]
    assert all(ms >= 50 for _, ms in votes), votes

    page.click("text=Log out")
    login(page, "product_manager", "pw-product_manager")
    page.goto(f"{live_server.url}/studies/{open_study.pk}/")
    assert page.locator("#vote-total").inner_text() == "4"
    assert page.locator("#verdict").inner_text().startswith("Verdict: not yet conclusive")

"""A rater scores answers with the keyboard alone (digits per criterion, arrows between criteria); a product manager
then reads the ratings. Real Chromium, real server."""

import pytest

from evaluation.models import Rating

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_rater_rates_with_the_keyboard_and_the_manager_reads_the_ratings(page, live_server, login, users,
                                                                          open_rating_study):
    login(page, "crowd_annotator", "pw-crowd_annotator")
    page.goto(f"{live_server.url}/studies/vote/")
    with page.expect_navigation():
        page.click("text=Start voting")
    for round_ in range(8):
        token = page.locator("input[name=token]").get_attribute("value")
        page.wait_for_timeout(50)
        if round_ == 0:
            # Arrows move between criteria: down to accuracy, score it, back up to helpfulness; its digit is the
            # last one missing, so it sends the rating.
            page.keyboard.press("ArrowDown")
            page.keyboard.press("2")
            with page.expect_navigation():
                page.keyboard.press("ArrowUp")
                page.keyboard.press("5")
                page.keyboard.press("Enter")
        else:
            page.keyboard.press("4")  # helpfulness, then accuracy is highlighted
            with page.expect_navigation():
                page.keyboard.press("3")  # the last criterion: the rating is sent
        assert (page.locator("input[name=token]").count() == 0
                or page.locator("input[name=token]").get_attribute("value") != token)
    assert page.locator("#vote-done h2").inner_text() == "No more answers"
    ratings = list(Rating.objects.order_by("pk").values_list("scores", "time_spent_ms"))
    assert ratings[0][0] == {"helpfulness": 5, "accuracy": 2}
    assert [scores for scores, _ in ratings[1:]] == [{"helpfulness": 4, "accuracy": 3}] * 7
    assert all(ms >= 50 for _, ms in ratings), ratings

    page.click("summary.user")
    page.click("text=Log out")
    login(page, "product_manager", "pw-product_manager")
    page.goto(f"{live_server.url}/studies/{open_rating_study.pk}/")
    assert page.locator("#rating-item-total").inner_text().startswith("8")
    assert "helpfulness" in page.locator("#rating-means").inner_text()

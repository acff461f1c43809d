"""A rater votes with the keyboard alone; a product manager then reads the verdict. Real Chromium, real server."""

import pytest

from evaluation.models import Showing, Vote

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


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
        assert (
            page.locator("input[name=token]").count() == 0
            or page.locator("input[name=token]").get_attribute("value") != token
        )
    assert page.locator("#vote-done h2").inner_text() == "No more comparisons"
    votes = list(Vote.objects.order_by("pk").values_list("choice", "time_spent_ms", "comparison_id"))
    shown = {s.comparison_id: s for s in Showing.objects.all()}  # the keys press the sides as this rater saw them
    assert [shown[comparison].choice_shown(choice) for choice, _, comparison in votes] == [
        "left",
        "right",
        "tie",
        "both_bad",
    ]
    assert all(ms >= 50 for _, ms, _ in votes), votes

    page.click("summary.user")  # the account menu holds "Log out"
    page.click("text=Log out")
    login(page, "product_manager", "pw-product_manager")
    page.goto(f"{live_server.url}/studies/{open_study.pk}/")
    assert page.locator("#vote-total").inner_text() == "4"
    assert page.locator("#verdict").inner_text().startswith("Verdict: not yet conclusive")


def test_gold_and_swapped_repeats_score_a_rater_who_always_presses_left(
    page, live_server, login, users, make_study, answer_studies
):
    """The manager marks a gold comparison on the gold page (htmx); a rater presses ← on everything served, gold and
    repeats included; the results show the gold scored as the rater saw it, 0% consistency (each repeat is mirrored
    against the sides this rater saw), and the manager leaves the rater out."""
    from evaluation.models import Comparison, RaterExclusion

    study = make_study(repeat_rate=0.5, gold_rate=0.3)
    answer_studies()
    login(page, "product_manager", "pw-product_manager")
    page.goto(f"{live_server.url}/studies/{study.pk}/")
    with page.expect_navigation():
        page.click("#gold-link")
    first = Comparison.objects.filter(study=study, repeat_of=None).order_by("order").first()
    page.click(f"#comparison-{first.pk} .gold-left")
    page.wait_for_selector(f"#comparison-{first.pk}.gold")
    first.refresh_from_db()
    assert first.gold_answer_id == first.left_answer_id

    page.click("summary.user")  # the account menu holds "Log out"
    page.click("text=Log out")
    login(page, "crowd_annotator", "pw-crowd_annotator")
    page.goto(f"{live_server.url}/studies/vote/{study.pk}/")
    pressed = 0
    while page.locator("#vote-done").count() == 0:
        with page.expect_navigation():
            page.keyboard.press("ArrowLeft")
        pressed += 1
        assert pressed <= 10
    assert pressed == 6  # three regular comparisons, the gold one, and two repeats with the sides swapped

    page.click("summary.user")  # the account menu holds "Log out"
    page.click("text=Log out")
    login(page, "product_manager", "pw-product_manager")
    page.goto(f"{live_server.url}/studies/{study.pk}/")
    row = page.locator("#rater-table tbody tr")
    assert row.count() == 1
    #the rater's own sides: a coin from secrets
    gold_on_the_left = not Showing.objects.get(comparison=first).is_swapped
    assert row.locator(".gold-accuracy").inner_text() == ("100.0% (1/1)" if gold_on_the_left else "0.0% (0/1)")
    assert row.locator(".consistency").inner_text() == "0.0% (0/2)"
    page.wait_for_selector("#rater-chart .main-svg")
    page.fill("#rater-table input[name=reason]", "always presses left")
    with page.expect_navigation():
        page.click("#rater-table .rater-exclude")
    assert page.locator("#raters-excluded").count() == 1
    assert RaterExclusion.objects.get().reason == "always presses left"
    assert page.locator("#support-rate").inner_text() == "–"

"""A product manager creates a study in the browser, a rater votes and labels with the keyboard alone, and the manager
reads the verdict, the charts and the printable report. Real Chromium, real server, real generation job."""

import pytest

from evaluation.models import Showing, Study, Vote

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_a_manager_creates_a_study_and_reads_the_result_of_keyboard_votes(
    page, live_server, login, users, eval_version, tiny_base_model, candidate_base_model, run_jobs
):
    login(page, "product_manager", "pw-product_manager")
    page.goto(f"{live_server.url}/studies/")
    page.fill("#study-create-form input[name=name]", "Kindness check")
    page.fill("#study-create-form input[name=labels]", "tone, facts")
    page.select_option("#study-create-form select[name=baseline]", f"base_model:{tiny_base_model.pk}")
    page.select_option("#study-create-form select[name=candidate]", f"base_model:{candidate_base_model.pk}")
    with page.expect_navigation():
        page.click("#study-create-form button[type=submit]")
    study = Study.objects.get()
    assert page.url == f"{live_server.url}/studies/{study.pk}/"
    assert page.locator("#study-status .badge").inner_text() == "Generating answers"
    run_jobs()  # the worker answers the prompts; the page's status poll then reloads it
    page.wait_for_selector("#study-status .badge.open")
    study.refresh_from_db()
    assert study.labels == ["tone", "facts"]

    page.click("summary.user")  # the account menu holds "Log out"
    page.click("text=Log out")
    login(page, "crowd_annotator", "pw-crowd_annotator")
    page.goto(f"{live_server.url}/studies/vote/")
    with page.expect_navigation():
        page.click("text=Start voting")
    keys = [("1", "ArrowLeft"), ("2", "ArrowRight"), ("0", "t"), ("1", "b")]
    for label_key, vote_key in keys:
        if page.locator("#vote-done").count():
            break
        page.keyboard.press(label_key)
        with page.expect_navigation():
            page.keyboard.press(vote_key)
    shown = {s.comparison_id: s for s in Showing.objects.all()}  # the keys press the sides as this rater saw them
    votes = [(shown[v.comparison_id].choice_shown(v.choice), v.label) for v in Vote.objects.order_by("pk")]
    expected = [("left", "tone"), ("right", "facts"), ("tie", ""), ("both_bad", "tone")]
    assert votes == expected[:len(votes)] and len(votes) >= 2

    page.click("summary.user")  # the account menu holds "Log out"
    page.click("text=Log out")
    login(page, "product_manager", "pw-product_manager")
    page.goto(f"{live_server.url}/studies/{study.pk}/")
    assert page.locator("#vote-total").inner_text() == str(len(votes))
    assert page.locator("#verdict").inner_text().startswith("Verdict: not yet conclusive")
    page.wait_for_selector("#support-chart .main-svg")
    page.wait_for_selector("#label-chart .main-svg")
    assert page.locator(".label-results tbody tr").count() == 2
    with page.expect_navigation():
        page.click("#report-link")
    assert page.locator("h1").inner_text() == "Study report: Kindness check"
    page.wait_for_selector("#support-chart .main-svg")
    page.screenshot(path="/tmp/eval7_report.png", full_page=True)

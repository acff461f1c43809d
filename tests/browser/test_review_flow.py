"""The layers in Chromium: an annotator labels three items with the keyboard only, a reviewer rejects one with a reason,
and an expert fixes one in a spot check."""

import pytest

from annotation.models import Annotation, AnnotationProject, Review

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _press_button(page, selector: str) -> None:
    page.locator(selector).focus()
    page.keyboard.press("Enter")


def test_label_with_keys_then_review_rejects_and_expert_spot_checks(
    page, live_server, login, users, annotation_project
):
    AnnotationProject.objects.filter(pk=annotation_project.pk).update(review_rate=1.0, spot_check_rate=1.0)
    base = live_server.url

    login(page, "crowd_annotator", "pw-crowd_annotator")
    page.goto(f"{base}/annotate/projects/{annotation_project.pk}/")
    _press_button(page, "#start-labelling")
    for key in ["1", "2", "3"]:
        page.wait_for_selector("#workbench[data-ready]")
        current = page.locator("#workbench").get_attribute("data-assignment-id")
        page.keyboard.press(key)
        page.keyboard.press("Enter")
        page.wait_for_function(
            f"!document.querySelector('#workbench') || document.querySelector('#workbench').dataset.assignmentId !== '{current}'"
        )
    page.wait_for_selector("#queue-empty")
    assert sorted(label for a in Annotation.objects.all() for label in a.labels.values_list("path", flat=True)) == [
        "account/login", "billing/invoice", "billing/refund"]
    assert Review.objects.filter(layer="review", status="pending").count() == 3

    page.context.clear_cookies()
    login(page, "reviewer", "pw-reviewer")
    page.goto(f"{base}/annotate/projects/{annotation_project.pk}/review/review/")
    _press_button(page, "#review-next")
    page.wait_for_selector("#review-form")
    rejected = int(page.locator("#review").get_attribute("data-review-id"))
    page.keyboard.press("r")
    page.keyboard.type("The question is about a refund, not an invoice.")
    page.keyboard.press("Enter")
    page.wait_for_function(f"document.querySelector('#review').dataset.reviewId !== '{rejected}'")

    page.context.clear_cookies()
    login(page, "expert_annotator", "pw-expert_annotator")
    page.goto(f"{base}/annotate/projects/{annotation_project.pk}/review/spot_check/")
    _press_button(page, "#review-next")
    page.wait_for_selector("#review-form")
    checked = int(page.locator("#review").get_attribute("data-review-id"))
    page.keyboard.press("4")
    page.keyboard.press("f")
    page.wait_for_function(f"document.querySelector('#review').dataset.reviewId !== '{checked}'")

    review = Review.objects.get(pk=rejected)
    assert (review.layer, review.status, review.reason, review.reviewer) == (
        "review", "rejected", "The question is about a refund, not an invoice.", users["reviewer"])
    spot = Review.objects.get(pk=checked)
    assert (spot.layer, spot.status, spot.reviewer) == ("spot_check", "fixed", users["expert_annotator"])
    assert [label.path for label in spot.fixed_labels.all()] == ["account/delete"]

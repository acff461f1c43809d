"""The workbench in Chromium: keyboard labelling, correcting, the plain click-and-submit path, skipping, and the time
spent."""

import pytest

from annotation.models import Annotation, Assignment

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def in_browser(page, live_server, login):
    """Run `scenario(page, url)` in Chromium logged in as `username`; returns what the scenario returns."""

    def run(username: str, scenario):
        login(page, username, f"pw-{username}")
        return scenario(page, live_server.url)

    return run


def test_annotator_labels_with_keys_and_clicks_then_skips(in_browser, users, annotation_project):
    def scenario(page, url):
        page.goto(f"{url}/annotate/projects/{annotation_project.pk}/")
        page.click("#start-labelling")
        page.wait_for_selector("#workbench[data-ready]")
        first = page.locator("#workbench").get_attribute("data-assignment-id")
        assert page.locator("#conversation .turn.user").inner_text().endswith("Question 0: how do I get my money back?")

        # Keys: 2 picks the second selectable label, E edits the answer, Esc leaves it, Enter submits.
        page.wait_for_timeout(1500)  # time spent on the item, checked below
        page.keyboard.press("2")
        assert page.locator('[data-label-path="billing/invoice"] input').is_checked()
        page.keyboard.press("e")
        page.keyboard.press("ControlOrMeta+a")
        page.keyboard.type("Open Billing, then Invoices.")
        page.keyboard.press("Escape")
        page.keyboard.press("Enter")
        page.wait_for_function(f"document.querySelector('#workbench').dataset.assignmentId !== '{first}'")

        # The plain path: click a label, press the submit button.
        second = page.locator("#workbench").get_attribute("data-assignment-id")
        page.click('[data-label-path="account/login"]')
        page.click("#submit-annotation")
        page.wait_for_function(f"document.querySelector('#workbench').dataset.assignmentId !== '{second}'")

        # S skips the last item; the queue is then empty. ? shows the keys.
        page.wait_for_selector("#workbench[data-ready]")
        third = page.locator("#workbench").get_attribute("data-assignment-id")
        page.keyboard.press("s")
        page.wait_for_selector("#queue-empty")
        page.keyboard.press("?")
        assert page.locator("#keys-help").is_visible()
        return int(first), int(second), int(third)

    first, second, third = in_browser("crowd_annotator", scenario)
    annotation = Annotation.objects.get(assignment_id=first)
    assert [label.path for label in annotation.labels.all()] == ["billing/invoice"]
    assert annotation.corrected_response == "Open Billing, then Invoices."
    assert 1000 <= annotation.time_spent_ms < 10_000
    assert [label.path for label in Annotation.objects.get(assignment_id=second).labels.all()] == ["account/login"]
    assert Assignment.objects.get(pk=third).status == "skipped"


def test_submit_without_a_label_shows_the_error_in_place(in_browser, users, annotation_project):
    def scenario(page, url):
        page.goto(f"{url}/annotate/projects/{annotation_project.pk}/")
        page.click("#start-labelling")
        page.click("#submit-annotation")
        return page.locator(".wb-error:not([hidden])").inner_text()

    assert in_browser("staff_annotator", scenario) == "label_ids: pick at least one label"
    assert Annotation.objects.count() == 0


def test_annotator_rates_and_answers_the_free_text_question_with_keys(
    in_browser, users, workspace, annotation_project_factory
):
    from annotation.services import label_schema_create
    from annotation.tests.fixtures import TOPIC_TREE

    schema = label_schema_create(
        workspace=workspace,
        name="Rated",
        tree=TOPIC_TREE,
        rating_scale=5,
        rating_question="How helpful?",
        free_text_question="What is missing?",
    )
    project = annotation_project_factory(n=2, schema=schema)

    def scenario(page, url):
        page.goto(f"{url}/annotate/projects/{project.pk}/")
        page.click("#start-labelling")
        page.wait_for_selector("#rating")
        page.wait_for_selector("#workbench[data-ready]")
        first = page.locator("#workbench").get_attribute("data-assignment-id")
        # 1 picks a label; R then 4 rates 4 (the digit does not pick a label); - lowers it to 3; T writes the answer.
        page.keyboard.press("1")
        page.keyboard.press("r")
        page.keyboard.press("4")
        assert page.locator('#rating input[value="4"]').is_checked()
        assert page.locator('[data-label-path="billing/refund"] input').is_checked()
        page.keyboard.press("-")
        assert page.locator('#rating input[value="3"]').is_checked()
        page.keyboard.press("t")
        page.keyboard.type("The refund window.")
        page.keyboard.press("Escape")
        page.keyboard.press("Enter")
        page.wait_for_function(f"document.querySelector('#workbench').dataset.assignmentId !== '{first}'")
        return int(first)

    first = in_browser("crowd_annotator", scenario)
    annotation = Annotation.objects.get(assignment_id=first)
    assert [label.path for label in annotation.labels.all()] == ["billing/refund"]
    assert (annotation.rating, annotation.free_text) == (3, "The refund window.")


def test_annotator_compares_answers_a_and_b_with_keys(in_browser, users, workspace, annotation_project_factory,
                                                       annotation_version_factory):
    from annotation.services import label_schema_create
    from annotation.tests.fixtures import TOPIC_TREE, preference_row

    schema = label_schema_create(
        workspace=workspace, name="Compare", tree=TOPIC_TREE, pairwise_question="Which answer is better?"
    )
    project = annotation_project_factory(
        version=annotation_version_factory(rows=[preference_row(0), preference_row(1)]), schema=schema
    )

    def scenario(page, url):
        page.goto(f"{url}/annotate/projects/{project.pk}/")
        page.click("#start-labelling")
        page.wait_for_selector("#pairwise")
        page.wait_for_selector("#workbench[data-ready]")
        first = page.locator("#workbench").get_attribute("data-assignment-id")
        shown = (page.locator("#answer-a").inner_text(), page.locator("#answer-b").inner_text())
        # B, then = (a tie), then A: the last key wins; 1 picks a label; Enter submits.
        page.keyboard.press("1")
        page.keyboard.press("b")
        assert page.locator('#pairwise input[value="b"]').is_checked()
        page.keyboard.press("=")
        assert page.locator('#pairwise input[value="tie"]').is_checked()
        page.keyboard.press("a")
        assert page.locator('#pairwise input[value="a"]').is_checked()
        page.keyboard.press("Enter")
        page.wait_for_function(f"document.querySelector('#workbench').dataset.assignmentId !== '{first}'")
        return int(first), shown

    first, shown = in_browser("crowd_annotator", scenario)
    annotation = Annotation.objects.get(assignment_id=first)
    assert [label.path for label in annotation.labels.all()] == ["billing/refund"]
    assert annotation.preference == "a"
    record = annotation.task.entry.record
    assert shown == (f"Answer A\n{record.chosen['content']}", f"Answer B\n{record.rejected['content']}")


def test_annotator_ranks_four_answers_with_keys(
    in_browser, users, workspace, annotation_project_factory, annotation_version_factory
):
    """K, then the answers' numbers best first; Backspace takes the last one back; the fourth places itself."""
    from annotation.models import AnnotationTask
    from annotation.services import label_schema_create
    from annotation.tests.fixtures import TOPIC_TREE

    schema = label_schema_create(
        workspace=workspace, name="Ranked", tree=TOPIC_TREE, ranking_question="Best answer first"
    )
    rows = [{"kind": "sft", "messages": [{"role": "user", "content": "How do I get my money back?"},
                                         {"role": "assistant", "content": f"Answer number {a}."}]} for a in range(4)]
    project = annotation_project_factory(version=annotation_version_factory(rows=rows), schema=schema)

    def scenario(page, url):
        page.goto(f"{url}/annotate/projects/{project.pk}/")
        page.click("#start-labelling")
        page.wait_for_selector("#workbench[data-ready]")
        assert page.locator("#candidates .candidate").count() == 4
        shown = [page.locator(f"#candidate-{n}").inner_text().split("\n")[-1] for n in range(1, 5)]
        page.keyboard.press("1")  # the label
        page.keyboard.press("k")
        # The prefetch request swaps its status in meanwhile; an unrelated swap must not end the ranking being typed.
        page.wait_for_timeout(700)
        assert "armed" in page.locator("#ranking").get_attribute("class")
        for key in ["3", "2", "Backspace", "1"]:
            page.keyboard.press(key)
        assert page.locator("#ranking-order").inner_text() == "3 > 1"
        page.keyboard.press("4")  # the last answer (2) places itself
        assert page.locator("#ranking-order").inner_text() == "3 > 1 > 4 > 2"
        assert page.locator("#candidate-3 .place").inner_text() == "#1"
        assignment = page.locator("#workbench").get_attribute("data-assignment-id")
        page.keyboard.press("Enter")
        page.wait_for_function(f"document.querySelector('#workbench').dataset.assignmentId !== '{assignment}'")
        return int(assignment), shown

    assignment, shown = in_browser("crowd_annotator", scenario)
    annotation = Annotation.objects.get(assignment_id=assignment)
    texts = dict(
        AnnotationTask.objects.get(pk=annotation.task_id).entry.version.entries.values_list("pk", "record__messages")
    )
    ranked = [texts[entry][-1]["content"] for entry in annotation.ranking]
    assert ranked == [shown[2], shown[0], shown[3], shown[1]]
    assert [label.path for label in annotation.labels.all()] == ["billing/refund"]

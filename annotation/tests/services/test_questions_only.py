"""Schemas without labels: a rating-only or ranking-only schema asks only its questions, in the service, the project's
items, submit, reviews, the pages, the command and the AI annotators."""

import io
import re

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from annotation.models import AIAnswer, Annotation, AnnotationTask, Assignment, Label, LabelSchema
from annotation.services import (
    ai_annotator_create,
    ai_run_create,
    ai_run_execute,
    annotation_project_create,
    annotation_project_export,
    annotation_project_layers_set,
    annotation_submit,
    assignment_claim_next,
    label_schema_create,
)
from annotation.services.ai_answers import DEFAULT_PROMPT_QUESTIONS_ONLY, ai_prompt_fill, ai_questions
from annotation.services.reviews import review_claim_next, review_decide
from annotation.tests.fixtures import ai_replies_seed, project_mode_set, support_row
from common.errors import ApplicationError


def draft_row(question: int, answer: int) -> dict:
    return {"kind": "sft", "messages": [{"role": "user", "content": f"Question {question}: is my parcel late?"},
                                        {"role": "assistant", "content": f"Draft {answer} for question {question}."}]}


def pair_row(i: int) -> dict:
    return {
        "kind": "preference",
        "messages": [{"role": "user", "content": f"Pair question {i}?"}],
        "chosen": {"role": "assistant", "content": f"Pair {i} first."},
        "rejected": {"role": "assistant", "content": f"Pair {i} second."},
    }


@pytest.fixture
def rating_only(workspace, users):
    return label_schema_create(
        workspace=workspace,
        name="Helpfulness",
        tree=[],
        rating_scale=5,
        rating_question="How helpful?",
        created_by=users["ml_engineer"],
    )


def test_a_schema_may_go_without_labels_only_when_it_asks_a_question(workspace, rating_only):
    with pytest.raises(ApplicationError) as refused:
        label_schema_create(workspace=workspace, name="Empty", tree=[])
    assert str(refused.value) == "tree: the label tree needs at least one label"
    assert (Label.objects.filter(schema=rating_only).count(), rating_only.rating_scale) == (0, 5)
    ranked = label_schema_create(workspace=workspace, name="Order", tree=None, ranking_question="Best first")
    assert ranked.labels.count() == 0


def test_a_rating_only_project_asks_every_record_and_needs_an_answer(annotation_project_factory, rating_only, users):
    project = annotation_project_factory(n=3, schema=rating_only)
    assert project.tasks.count() == 3
    person = users["crowd_annotator"]
    assignment = assignment_claim_next(project=project, annotator=person)
    for fields, message in [({}, "answer: answer at least one of the questions"),
                            ({"label_ids": [1]}, f"label_ids[0]: label 1 is not in the schema {rating_only}")]:
        with pytest.raises(ApplicationError) as refused:
            annotation_submit(
                assignment=assignment, time_spent_ms=1, submitted_by=person, **{"label_ids": [], **fields}
            )
        assert str(refused.value) == message
    annotation = annotation_submit(assignment=assignment, label_ids=[], rating=4, time_spent_ms=1, submitted_by=person)
    assert (annotation.rating, list(annotation.labels.all())) == (4, [])
    version = annotation_project_export(project=project, created_by=users["ml_engineer"])
    assert sorted(labels for labels in version.entries.values_list("labels", flat=True)) == [[], [], ["rating:4"]]


def test_question_only_schemas_make_items_only_of_what_they_ask_about(annotation_version_factory, workspace, users):
    rows = [draft_row(0, a) for a in range(3)] + [draft_row(1, 0)] + [pair_row(0), pair_row(1)]
    version = annotation_version_factory(rows=rows)

    def items(schema):
        project = annotation_project_create(
            workspace=workspace, name=f"Over {schema.name}", dataset_version=version, schema=schema
        )
        return sorted(
            len(candidates)
            for candidates in AnnotationTask.objects.filter(project=project).values_list("candidates", flat=True)
        )

    ranking = label_schema_create(workspace=workspace, name="Rank only", tree=[], ranking_question="Best first")
    both = label_schema_create(workspace=workspace, name="Rank and compare", tree=[], ranking_question="Best first",
                               pairwise_question="Which is better?")
    pairwise = label_schema_create(
        workspace=workspace, name="Compare only", tree=[], pairwise_question="Which is better?"
    )
    assert items(ranking) == [3]  # the lone answer and the preference records have nothing to be asked
    assert items(both) == [0, 0, 3]  # the two preference records are compared
    assert items(pairwise) == [0, 0]
    nothing = annotation_version_factory(rows=[support_row(0)])
    with pytest.raises(ApplicationError) as refused:
        annotation_project_create(workspace=workspace, name="Nothing", dataset_version=nothing, schema=pairwise)
    assert str(refused.value).startswith(
        "dataset_version: the dataset version has nothing the schema Compare only v1 asks about"
    )


def test_a_check_of_an_answer_without_labels_can_be_accepted_or_rejected_not_fixed(
    annotation_project_factory, rating_only, users
):
    project = annotation_project_factory(n=1, schema=rating_only)
    annotation_project_layers_set(
        project=project,
        review_rate=1.0,
        spot_check_rate=0,
        gold_rate=0,
        disagreement_threshold=0.5,
        blind=True,
        label_pools=[],
    )
    person, reviewer = users["crowd_annotator"], users["reviewer"]
    annotation_submit(
        assignment=assignment_claim_next(project=project, annotator=person),
        label_ids=[],
        rating=2,
        time_spent_ms=1,
        submitted_by=person,
    )
    review = review_claim_next(project=project, reviewer=reviewer, layer="review")
    with pytest.raises(ApplicationError) as refused:
        review_decide(review=review, reviewer=reviewer, verdict="fix", label_ids=[])
    assert str(refused.value) == "verdict: the schema Helpfulness v1 has no labels to fix; accept or reject"
    assert review_decide(review=review, reviewer=reviewer, verdict="accept").status == "accepted"


def test_pages_and_command_make_and_show_a_schema_without_labels(
    client, users, workspace, annotation_project_factory, rating_only
):
    client.force_login(users["ml_engineer"])
    made = client.post(
        reverse("annotation:schema-create"),
        {"workspace": workspace.pk, "name": "Stars", "tree_text": "", "leaf_only": "on", "rating_scale": 5},
    )
    assert made.status_code == 302 and LabelSchema.objects.get(name="Stars").labels.count() == 0
    refused = client.post(
        reverse("annotation:schema-create"), {"workspace": workspace.pk, "name": "Nothing", "tree_text": "  "}
    )
    assert refused.status_code == 400 and "the label tree needs at least one label" in refused.content.decode()
    project = annotation_project_factory(n=1, schema=rating_only)
    detail = client.get(reverse("annotation:project-detail", args=[project.pk])).content.decode()
    questions = detail.split('id="schema-questions"')[1].split("</dl>")[0]
    assert "<dt>Rating 1 to 5</dt><dd>How helpful?</dd>" in questions and 'class="label-list"' not in detail
    client.force_login(users["crowd_annotator"])
    page = client.post(reverse("annotation:workbench", args=[project.pk]), follow=True).content.decode()
    assert 'id="rating"' in page and 'id="label-tree"' not in page
    out = io.StringIO()
    call_command(
        "label_schema_create",
        "--workspace",
        "Acme support",
        "--name",
        "Ranks",
        "--ranking-question",
        "Best first?",
        stdout=out,
    )
    assert "with 0 labels" in out.getvalue()
    with pytest.raises(CommandError) as error:
        call_command("label_schema_create", "--workspace", "Acme support", "--name", "Bare")
    assert str(error.value) == "--tree: the label tree needs at least one label"


@pytest.mark.django_db(transaction=True)
def test_an_ai_annotator_answers_only_the_questions(annotation_project_factory, rating_only, tiny_endpoint, users):
    project = project_mode_set(annotation_project_factory(n=2, schema=rating_only), "ai_assists")
    ai = ai_annotator_create(project=project, name="Stars", endpoint=tiny_endpoint, created_by=users["ml_engineer"])
    assert ai.prompt_template == DEFAULT_PROMPT_QUESTIONS_ONLY
    record = project.tasks.order_by("pk").first().entry.record
    prompt = ai_prompt_fill(template=ai.prompt_template, record=record, choices=[], multiple=False,
                            questions=ai_questions(schema=rating_only, record=record))
    assert "[Labels]" not in prompt and "- labels" not in prompt and prompt.endswith('{"rating": 3}')
    ai_replies_seed(ai, project, {0: '{"rating": 4}', 1: "Rating: 9"})
    run = ai_run_execute(run=ai_run_create(ai_annotator=ai, limit=2, enqueue=False))
    assert (run.status, run.annotated, run.failed) == ("done", 1, 1)
    assert Annotation.objects.get(annotator=ai.user).rating == 4
    assert AIAnswer.objects.get(outcome="failed").reason == "rating 9 is outside 1..5"
    assert re.match(r"AI answer unusable: rating 9", Assignment.objects.get(status="skipped").skip_reason)

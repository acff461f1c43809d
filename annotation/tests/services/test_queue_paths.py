"""The queue's two implementations: the PostgreSQL functions (one round trip per claim, one per checked submit) and the
portable Python steps used on SQLite. Both run here on PostgreSQL and must leave the same rows behind."""

from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from annotation.models import Annotation, AnnotationTask, Assignment, Review
from annotation.services import annotation_project_layers_set, annotation_submit, assignment_claim_next, queue_paths
from annotation.services import annotations as annotation_services
from annotation.tests.fixtures import label_id
from common.models import HistoryEvent

pytestmark = pytest.mark.skipif(connection.vendor != "postgresql", reason="the functions exist on PostgreSQL only")
LAYERS = {"review_rate": 0.0, "spot_check_rate": 0.0, "gold_rate": 0.0, "blind": True, "label_pools": []}


def _state(project):
    assignments = sorted(
        Assignment.objects.filter(task__project=project).values_list(
            "task__entry_id", "annotator__username", "slot", "status"
        )
    )
    annotations = sorted(Annotation.objects.filter(task__project=project).values_list(
        "task__entry_id", "annotator__username", "annotator_kind", "gold_correct", "rating", "free_text", "preference",
        "ranking"))
    tasks = list(
        AnnotationTask.objects.filter(project=project)
        .order_by("entry_id")
        .values_list("submitted_count", "is_complete")
    )
    reviews = sorted(
        Review.objects.filter(task__project=project).values_list("task__entry_id", "layer", "sampled_because")
    )
    verbs = sorted(HistoryEvent.objects.filter(verb__in=["claimed", "submitted"]).values_list("verb", flat=True))
    return assignments, annotations, tasks, reviews, verbs


def _session(project, people, claim, submit, schema):
    """Claim and submit around a project of overlap 2: disagreement on the first item, one expired lease reused."""
    answers = {"crowd_annotator": "billing/refund", "staff_annotator": "account/login"}
    # On a schema with a rating and a free-text question both paths must store them too.
    extra = {}
    if schema.rating_scale:
        extra = {"crowd_annotator": {"rating": 4, "free_text": "Polite."}, "staff_annotator": {"rating": 2}}
    # And the A/B preference on a schema with a pairwise question (the records are preference records then).
    if schema.pairwise_question:
        extra = {"crowd_annotator": {"preference": "b"}, "staff_annotator": {"preference": "tie"}}
    first = {name: claim(project, people[name]) for name in answers}
    # And the ranking of a ranking item's answers (every item has three then), reversed by one of the two.
    if schema.ranking_question:
        candidates = AnnotationTask.objects.get(pk=first["crowd_annotator"].task_id).candidates
        extra = {"crowd_annotator": {"ranking": candidates}, "staff_annotator": {"ranking": candidates[::-1]}}
    for name, path in answers.items():
        submit(first[name], people[name], [label_id(schema, path)], **extra.get(name, {}))
    stale = claim(project, people["expert_annotator"])
    Assignment.objects.filter(pk=stale.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    fresh = claim(project, people["crowd_annotator"])
    submit(fresh, people["crowd_annotator"], [label_id(schema, "billing/refund")])
    return fresh


def _claim_function(project, user):
    return assignment_claim_next(project=project, annotator=user)


def _claim_portable(project, user):
    held = queue_paths._claim_portable(project=project, annotator=user, want=1, now=timezone.now())
    return held[0] if held else None


def _submit_function(assignment, user, label_ids, rating=None, free_text="", preference="", ranking=None):
    if ranking is None and assignment.task.project.schema.ranking_question:
        ranking = AnnotationTask.objects.get(pk=assignment.task_id).candidates
    return annotation_submit(
        assignment=assignment,
        label_ids=label_ids,
        time_spent_ms=5,
        submitted_by=user,
        rating=rating,
        free_text=free_text,
        preference=preference,
        ranking=ranking,
    )


def _submit_portable(assignment, user, label_ids, rating=None, free_text="", preference="", ranking=None):
    if ranking is None and assignment.task.project.schema.ranking_question:
        ranking = AnnotationTask.objects.get(pk=assignment.task_id).candidates
    project, labels, correction, comment, kind = annotation_services._answer_check(
        assignment=assignment,
        label_ids=label_ids,
        corrected_response="",
        comment="",
        time_spent_ms=5,
        submitted_by=user,
    )
    rating, free_text = annotation_services.fields_check(schema=project.schema, rating=rating, free_text=free_text)
    preference = annotation_services.preference_check(
        schema=project.schema, task_id=assignment.task_id, preference=preference
    )
    ranking = annotation_services.ranking_check(schema=project.schema, task_id=assignment.task_id, ranking=ranking)
    return queue_paths._submit_portable(assignment=assignment, project=project, labels=labels, correction=correction,
                                        comment=comment, kind=kind, time_spent_ms=5, submitted_by=user, rating=rating,
                                        free_text=free_text, preference=preference, ranking=ranking,
                                        overlap=queue_paths.submit_overlap(project=project, kind=kind))


def _pair_row(i: int) -> dict:
    return {
        "kind": "preference",
        "messages": [{"role": "user", "content": f"Question {i}: how do I get my money back?"}],
        "chosen": {"role": "assistant", "content": f"Answer {i}: open Billing."},
        "rejected": {"role": "assistant", "content": f"Answer {i}: I cannot help."},
    }


def _answers_row(i: int, answer: int) -> dict:
    return {"kind": "sft", "messages": [{"role": "user", "content": f"Question {i}: how do I get my money back?"},
                                        {"role": "assistant", "content": f"Answer {answer} to question {i}."}]}


@pytest.mark.parametrize("fields", ["labels", "rated", "pairwise", "ranking"])
def test_functions_and_portable_steps_leave_the_same_rows(
    annotation_project_factory, annotation_version_factory, users, topic_schema, workspace, fields
):
    from annotation.services import label_schema_create
    from annotation.tests.fixtures import TOPIC_TREE

    schema = topic_schema
    if fields == "rated":
        schema = label_schema_create(workspace=workspace, name="Rated topic", tree=TOPIC_TREE, rating_scale=5,
                                     rating_question="How good is the answer?", free_text_question="What is missing?")
    if fields == "pairwise":
        schema = label_schema_create(
            workspace=workspace, name="Pairwise topic", tree=TOPIC_TREE, pairwise_question="Which is better?"
        )
    if fields == "ranking":
        schema = label_schema_create(
            workspace=workspace, name="Ranked topic", tree=TOPIC_TREE, ranking_question="Best answer first"
        )
    states = []
    for i, (claim, submit) in enumerate([(_claim_function, _submit_function), (_claim_portable, _submit_portable)]):
        version = None
        if fields == "pairwise":
            version = annotation_version_factory(rows=[_pair_row(n) for n in range(3)])
        if fields == "ranking":
            version = annotation_version_factory(rows=[_answers_row(n, a) for n in range(3) for a in range(3)])
        project = annotation_project_factory(n=3, overlap=2, name=f"Paths {i}", schema=schema, version=version)
        annotation_project_layers_set(project=project, disagreement_threshold=0.4, **LAYERS)
        fresh = _session(project, users, claim, submit, schema)
        assert fresh.slot == 0 and fresh.status in ("active", "submitted")
        states.append(_state(project))
        HistoryEvent.objects.all().delete()
    # Entry ids differ between the two projects' versions; compare by position.
    normalised = []
    for assignments, annotations, tasks, reviews, verbs in states:
        entries = sorted({row[0] for row in assignments})
        position = {entry: entries.index(entry) for entry in entries}
        # A ranking names entries too: compare each as the order of its entries' ranks within the item.
        annotations = [(*rest, [sorted(ranking).index(e) for e in ranking]) for *rest, ranking in annotations]
        normalised.append(
            (
                [(position[e], *rest) for e, *rest in assignments],
                [(position[e], *rest) for e, *rest in annotations],
                tasks,
                [(position[e], *rest) for e, *rest in reviews],
                verbs,
            )
        )
    assert normalised[0] == normalised[1]
    assert normalised[0][3] == [(0, "disagreement", "disagreement 0.50")]
    assert normalised[0][2] == [(2, True), (1, False), (0, False)]
    ratings = sorted(
        ((rating, text) for *_, rating, text, _, _ in normalised[0][1]), key=lambda p: (p[0] is None, p[0] or 0, p[1])
    )
    assert ratings == ([(2, ""), (4, "Polite."), (None, "")] if fields == "rated" else [(None, "")] * 3)
    assert sorted(row[-2] for row in normalised[0][1]) == (["", "b", "tie"] if fields == "pairwise" else ["", "", ""])
    assert sorted(row[-1] for row in normalised[0][1]) == (
        [[0, 1, 2], [0, 1, 2], [2, 1, 0]] if fields == "ranking" else [[]] * 3
    )


def test_a_claim_is_one_statement_and_a_submit_two(
    annotation_project_factory, users, topic_schema, django_assert_num_queries
):
    project = annotation_project_factory(n=3)
    annotator = users["crowd_annotator"]
    warm = assignment_claim_next(project=project, annotator=annotator)
    annotation_submit(
        assignment=warm, label_ids=[label_id(topic_schema, "billing/refund")], time_spent_ms=1, submitted_by=annotator
    )
    with django_assert_num_queries(1):
        assignment = assignment_claim_next(project=project, annotator=annotator)
    refund = label_id(topic_schema, "billing/refund")
    # The project with the submitter's role, then the function (the schema's labels were read by the first submit).
    with django_assert_num_queries(2):
        annotation = annotation_submit(
            assignment=assignment, label_ids=[refund], time_spent_ms=1, submitted_by=annotator
        )
    assert (
        annotation.assignment_id,
        annotation.annotator_kind,
        list(annotation.labels.values_list("path", flat=True)),
    ) == (assignment.pk, "crowd", ["billing/refund"])
    assert HistoryEvent.objects.get(verb="submitted", target_id=annotation.pk).after == {
        "assignment": assignment.pk,
        "task": assignment.task_id,
        "labels": ["billing/refund"],
        "corrected": False,
        "time_spent_ms": 1,
        "annotator_kind": "crowd",
    }
    claimed = HistoryEvent.objects.get(verb="claimed", target_id=assignment.pk).after
    assert claimed == {
        "task": assignment.task_id,
        "slot": 0,
        "expires_at": assignment.expires_at.isoformat(),
        "expired": [],
    }


def test_ai_first_answers_complete_and_queue_a_re_check_on_both_paths(
    annotation_project_factory, users, topic_schema, workspace
):
    """AI first: an AI answer completes its item whatever the overlap and always goes to the re-check queue; a person's
    answer counts against the overlap as usual and is not re-checked (review rate 0)."""
    from annotation.services import ai_annotator_create
    from llm.services.endpoints import model_endpoint_create

    endpoint = model_endpoint_create(workspace=workspace, name="local", base_url="http://model.invalid/v1", model="m")
    states = []
    for i, (claim, submit) in enumerate([(_claim_function, _submit_function), (_claim_portable, _submit_portable)]):
        project = annotation_project_factory(n=2, overlap=2, name=f"AI first {i}")
        annotation_project_layers_set(project=project, disagreement_threshold=0.4, mode="ai_first", **LAYERS)
        ai = ai_annotator_create(project=project, name="Tiny", endpoint=endpoint)
        people = {"ai": ai.user, "crowd_annotator": users["crowd_annotator"]}
        for name, path in [("ai", "billing/refund"), ("crowd_annotator", "account/login")]:
            submit(claim(project, people[name]), people[name], [label_id(topic_schema, path)])
        assignments, annotations, tasks, reviews, verbs = _state(project)
        entries = sorted({row[0] for row in assignments})
        states.append(([(entries.index(e), user.startswith("ai-"), *rest) for e, user, *rest in assignments],
                       [(entries.index(e), *rest) for e, _, *rest in annotations], tasks,
                       [(entries.index(e), *rest) for e, *rest in reviews], verbs))
        HistoryEvent.objects.all().delete()
    assert states[0] == states[1]
    assert states[0][2] == [(1, True), (1, False)]
    assert states[0][3] == [(0, "review", "AI first: every AI answer is re-checked")]
    assert [(row[0], row[1]) for row in states[0][1]] == [(0, "ai"), (1, "crowd")]


def test_both_paths_write_a_disagreement_as_the_function_rounds_it(
    annotation_project_factory, make_user, workspace, topic_schema
):
    """Seven of eight annotators agree: the disagreement is 1/8 = 0.125, written 0.13 by both paths (half away from
    zero, as PostgreSQL rounds a numeric), where Python's own formatting would write 0.12."""
    reasons = []
    for i, (claim, submit) in enumerate([(_claim_function, _submit_function), (_claim_portable, _submit_portable)]):
        project = annotation_project_factory(n=1, overlap=8, name=f"Eight {i}")
        annotation_project_layers_set(project=project, disagreement_threshold=0.1, **LAYERS)
        for n in range(8):
            person = make_user(f"eight{i}-{n}", role="crowd_annotator", workspace=workspace)
            submit(claim(project, person), person, [label_id(topic_schema, "billing/refund" if n else "account/login")])
        reasons.append(list(Review.objects.filter(task__project=project).values_list("layer", "sampled_because")))
    assert reasons == [[("disagreement", "disagreement 0.13")], [("disagreement", "disagreement 0.13")]]

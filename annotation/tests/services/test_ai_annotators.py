"""AI annotators against the project's own model server on 127.0.0.1 (the tiny model, which answers gibberish).

The tiny model never names a label, so its runs test the failure path exactly. The success path needs answers that
name labels: those tests store realistic answers in the client's response cache under the exact keys of the run's
requests (llm.client.chat_request_body + cache_key), so the run goes through the real client (cache lookup, call log),
the real parser, claim and submit; nothing of ours is replaced.
"""


import pytest
from django.contrib.auth import get_user_model

from annotation.models import AIAnnotator, AIAnswer, AIRun, Annotation, Assignment
from annotation.dashboard import project_dashboard
from annotation.selectors import ai_annotators_of
from annotation.services import (
    ai_annotator_create,
    ai_run_create,
    ai_run_execute,
    annotation_project_layers_set,
    assignment_claim_next,
)
from annotation.services.ai_annotators import prompt_version
from annotation.services.ai_answers import AnswerUnusable, ai_answer_parse, ai_prompt_fill
from annotation.tests.fixtures import ai_replies_seed, project_mode_set, submit_as
from common.errors import ApplicationError
from datahub.models import Record
from llm.models import ModelCall

PATHS = ["account", "account/delete", "account/login", "billing", "billing/invoice", "billing/refund"]
LEAVES = {"account/delete", "account/login", "billing/invoice", "billing/refund"}


@pytest.mark.parametrize(("text", "labels"), [
    ("billing/refund", ["billing/refund"]),
    ("Billing/Refund.", ["billing/refund"]),
    ("  Label: account/login\n", ["account/login"]),
    ("Answer: Billing > Refund", ["billing/refund"]),
    ("- billing / invoice", ["billing/invoice"]),
    ("refund", ["billing/refund"]),
    ("\"login\"", ["account/login"]),
    ("```json\n{\"labels\": [\"billing/refund\"]}\n```", ["billing/refund"]),
    ("{\"label\": \"account/delete\"}", ["account/delete"]),
    ("[\"account/login\"]", ["account/login"]),
    ("The user wants their money back, so the topic is billing/refund.", ["billing/refund"]),
])
def test_parse_realistic_answers(text, labels):
    assert ai_answer_parse(text, paths=PATHS, multiple=False, leaf_paths=LEAVES) == labels


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "empty answer"),
        ("   \n", "empty answer"),
        ("billing/refunds", "unknown label 'billing/refunds'"),
        ("shipping", "unknown label 'shipping'"),
        ("billing", "'billing' has sub-labels; a more specific label is needed"),
        ("billing/refund, account/login", "one label expected, the answer names 2: billing/refund, account/login"),
        (
            "It is either billing/refund or account/login.",
            "one label expected, the answer names 2: billing/refund, account/login",
        ),
        (
            "I am not sure which label fits this conversation, it could be many things really",
            "no known label in the answer 'I am not sure which label fits this conversation, it could be many things really'",
        ),
        (
            "refund refund refund ok ok ok " * 5,
            "no known label in the answer 'refund refund refund ok ok ok refund refund refund ok ok ok refund refund refun…'",
        ),
    ],
)
def test_parse_refuses_unusable_answers_with_the_reason(text, reason):
    with pytest.raises(AnswerUnusable) as refused:
        ai_answer_parse(text, paths=PATHS, multiple=False, leaf_paths=LEAVES)
    assert refused.value.reason == reason


def test_parse_takes_several_labels_on_a_multiple_choice_schema_and_parents_when_allowed():
    both = ai_answer_parse("billing/refund; account/login\nbilling/refund", paths=PATHS, multiple=True)
    assert both == ["billing/refund", "account/login"]
    assert ai_answer_parse("Billing", paths=PATHS, multiple=False) == ["billing"]
    # A name that ends two paths is ambiguous, so it is not guessed.
    with pytest.raises(AnswerUnusable, match="unknown label 'other'"):
        ai_answer_parse("other", paths=["a/other", "b/other"], multiple=False)


def test_prompt_lists_the_choices_and_keeps_braces_of_the_conversation(annotation_project):
    record = Record.objects.filter(version_entries__annotation_tasks__project=annotation_project).order_by("pk").first()
    record.messages[1]["content"] = "What is {labels}?"
    text = ai_prompt_fill(template="L:\n{labels}\nC:\n{conversation}\nE: {example}", record=record,
                          choices=[("billing/refund", "Money back"), ("account/login", "")], multiple=False)
    assert text == ("L:\n- billing/refund: Money back\n- account/login\nC:\nsystem: You are Acme's support assistant.\n"
                    "user: What is {labels}?\nassistant: Answer 0: open Billing.\nE: billing/refund")


@pytest.mark.django_db
def test_create_checks_its_input_and_makes_an_inactive_service_user(
    annotation_project, users, workspace, other_workspace
):
    from llm.services.endpoints import model_endpoint_create

    endpoint = model_endpoint_create(workspace=workspace, name="local", base_url="http://model.invalid/v1", model="m")
    foreign = model_endpoint_create(
        workspace=other_workspace, name="theirs", base_url="http://model.invalid/v1", model="m"
    )
    make = lambda **fields: ai_annotator_create(  # noqa: E731
        **{
            "project": annotation_project,
            "name": "Tiny",
            "endpoint": endpoint,
            "created_by": users["ml_engineer"],
            **fields,
        }
    )
    for fields, message in [
        ({"endpoint": foreign}, "endpoint: model endpoint 'theirs' belongs to another workspace"),
        ({"prompt_template": "Label {conversation}"}, "prompt_template: the prompt must contain {labels}"),
        ({"temperature": 2.5}, "temperature: must be a number between 0 and 2"),
        ({"name": "  "}, "name: give a name of 1 to 100 characters"),
    ]:
        with pytest.raises(ApplicationError) as refused:
            make(**fields)
        assert str(refused.value) == message
    assert AIAnnotator.objects.count() == 0
    assert not get_user_model().objects.filter(username__startswith="ai-").exists()
    ai = make()
    assert (ai.user.username, ai.user.is_active, ai.user.has_usable_password()) == (
        f"ai-{annotation_project.pk}-tiny",
        False,
        False,
    )
    assert ai.user.memberships.count() == 0
    with pytest.raises(ApplicationError, match="already has an AI annotator named 'Tiny'"):
        make()


@pytest.mark.django_db(transaction=True)
def test_gibberish_is_recorded_as_failures_and_the_items_go_back(annotation_project_factory, tiny_endpoint, users):
    project = annotation_project_factory(n=3, mode="ai_assists")
    ai = ai_annotator_create(
        project=project, name="Tiny", endpoint=tiny_endpoint, max_tokens=8, created_by=users["ml_engineer"]
    )
    seen = []
    run = ai_run_execute(run=ai_run_create(ai_annotator=ai, limit=5, enqueue=False),
                         on_progress=lambda done, total: seen.append((done, total)))
    assert (run.status, run.processed, run.annotated, run.failed, run.error) == ("done", 3, 0, 3, "")
    assert seen == [(3, 5)]
    assert Annotation.objects.count() == 0
    answers = list(AIAnswer.objects.order_by("task_id"))
    assert len(answers) == 3
    for answer in answers:
        with pytest.raises(AnswerUnusable) as refused:
            ai_answer_parse(answer.response_text, paths=PATHS, multiple=False, leaf_paths=LEAVES)
        assert (answer.outcome, answer.reason, answer.annotation_id, answer.label_paths) == (
            "failed",
            refused.value.reason,
            None,
            [],
        )
        assert (answer.model, answer.prompt_version) == (tiny_endpoint.model, prompt_version(ai.prompt_template))
    skipped = list(Assignment.objects.values_list("annotator_id", "status", "skip_reason"))
    assert sorted(skipped) == sorted((ai.user_id, "skipped", f"AI answer unusable: {a.reason}"[:500]) for a in answers)
    assert ModelCall.objects.filter(purpose=f"ai annotator {ai.pk} run {run.pk}", status="ok").count() == 3
    # The slots are free: a person gets the first item at once.
    assert assignment_claim_next(project=project, annotator=users["crowd_annotator"]).task_id == answers[0].task_id
    # A second run finds nothing left for this annotator (it is not offered what it skipped).
    again = ai_run_execute(run=ai_run_create(ai_annotator=ai, limit=5, enqueue=False))
    assert (again.status, again.processed) == ("done", 0)


@pytest.mark.django_db(transaction=True)
def test_answers_naming_labels_become_ai_annotations_in_overlap_gold_and_agreement(
    annotation_project_factory, tiny_endpoint, users
):
    project = annotation_project_factory(n=3, overlap=2, mode="ai_assists")
    annotation_project_layers_set(
        project=project,
        review_rate=0,
        spot_check_rate=0,
        gold_rate=0,
        disagreement_threshold=0.5,
        blind=True,
        label_pools=["crowd", "ai"],
    )
    ai = ai_annotator_create(project=project, name="Tiny", endpoint=tiny_endpoint, created_by=users["ml_engineer"])
    ai_replies_seed(ai, project, {0: "billing/refund", 1: "The topic is account/login.", 2: "shipping"})
    person = users["crowd_annotator"]
    first = assignment_claim_next(project=project, annotator=person)
    submit_as(person, first, "billing/refund")

    run = ai_run_execute(run=ai_run_create(ai_annotator=ai, limit=3, enqueue=False))

    assert (run.status, run.processed, run.annotated, run.failed) == ("done", 3, 2, 1)
    outcomes = list(AIAnswer.objects.order_by("task_id").values_list("outcome", "label_paths", "reason"))
    assert outcomes == [("annotated", ["billing/refund"], ""), ("annotated", ["account/login"], ""),
                        ("failed", [], "unknown label 'shipping'")]
    made = Annotation.objects.filter(annotator=ai.user).order_by("task_id")
    assert [(a.annotator_kind, [label.path for label in a.labels.all()]) for a in made] == [("ai", ["billing/refund"]),
                                                                                          ("ai", ["account/login"])]
    calls = ModelCall.objects.filter(purpose=f"ai annotator {ai.pk} run {run.pk}")
    assert list(calls.values_list("cached", flat=True)) == [True, True, True]
    # Overlap 2: the first item is complete (person + AI); the others still have a slot for a person.
    assert list(project.tasks.order_by("pk").values_list("submitted_count", "is_complete")) == [
        (2, True),
        (1, False),
        (0, False),
    ]
    dashboard = project_dashboard(project=project)
    rows = {row.username: row for row in dashboard.annotators}
    assert (rows[ai.user.username].kind, rows[ai.user.username].is_ai, rows[ai.user.username].submitted) == (
        "ai",
        True,
        2,
    )
    assert (rows[ai.user.username].human_agreement, rows[ai.user.username].human_agreement_n) == (1.0, 1)
    assert (rows["crowd_annotator"].human_agreement, rows["crowd_annotator"].human_agreement_n) == (None, 0)
    listed = ai_annotators_of(project=project).get()
    assert (listed.annotations_n, listed.run_id, listed.run_status, listed.run_annotated, listed.run_failed) == (
        2,
        run.pk,
        "done",
        2,
        1,
    )


@pytest.mark.django_db(transaction=True)
def test_gold_items_score_the_ai_like_a_person(
    annotation_project_factory, annotation_version_factory, tiny_endpoint, users
):
    from annotation.tests.fixtures import support_row

    from datahub.models import VersionRecord

    version = annotation_version_factory(rows=[support_row(i) for i in range(2)])
    VersionRecord.objects.filter(version=version).update(labels=["billing/refund"])
    project = annotation_project_factory(version=version, mode="ai_assists")
    annotation_project_layers_set(
        project=project,
        review_rate=0,
        spot_check_rate=0,
        gold_rate=1,
        disagreement_threshold=0.5,
        blind=True,
        label_pools=[],
    )
    ai = ai_annotator_create(project=project, name="Tiny", endpoint=tiny_endpoint, created_by=users["ml_engineer"])
    ai_replies_seed(ai, project, {0: "billing/refund", 1: "billing/invoice"})
    run = ai_run_execute(run=ai_run_create(ai_annotator=ai, limit=2, enqueue=False))
    assert (run.annotated, run.failed) == (2, 0)
    assert list(Annotation.objects.order_by("task_id").values_list("gold_correct", flat=True)) == [True, False]
    row = project_dashboard(project=project).annotators[0]
    assert (row.username, row.kind, row.gold_accuracy, row.gold_n) == (ai.user.username, "ai", 0.5, 2)


@pytest.mark.django_db(transaction=True)
def test_a_failing_endpoint_fails_the_run_and_gives_the_items_back(annotation_project_factory, make_endpoint, users):
    project = annotation_project_factory(n=2, mode="ai_assists")
    broken = make_endpoint(model="no-such-model", max_retries=0)
    ai = ai_annotator_create(project=project, name="Broken", endpoint=broken, created_by=users["ml_engineer"])
    run = ai_run_execute(run=ai_run_create(ai_annotator=ai, limit=2, enqueue=False))
    assert (run.status, run.processed, run.annotated, run.failed) == ("failed", 0, 0, 0)
    assert run.error.startswith("2 of 2 requests failed; request 0: model endpoint 'endpoint 1'")
    assert list(Assignment.objects.values_list("status", flat=True)) == ["expired", "expired"]
    assert AIAnswer.objects.count() == 0
    # Given back, not skipped: the AI annotator is offered the items again.
    assert assignment_claim_next(project=project, annotator=ai.user) is not None


@pytest.mark.django_db
def test_pools_without_ai_stop_the_run_and_a_live_run_blocks_another(annotation_project_factory, users, workspace):
    from llm.services.endpoints import model_endpoint_create

    project = annotation_project_factory(n=2)
    annotation_project_layers_set(
        project=project,
        review_rate=0,
        spot_check_rate=0,
        gold_rate=0,
        disagreement_threshold=0.5,
        blind=True,
        label_pools=["crowd"],
        mode="ai_assists",
    )
    endpoint = model_endpoint_create(workspace=workspace, name="local", base_url="http://model.invalid/v1", model="m")
    ai = ai_annotator_create(project=project, name="Tiny", endpoint=endpoint, created_by=users["ml_engineer"])
    queued = ai_run_create(ai_annotator=ai, limit=2, enqueue=False)
    with pytest.raises(ApplicationError, match=f"run {queued.pk} of 'Tiny' is still queued"):
        ai_run_create(ai_annotator=ai, limit=2, enqueue=False)
    run = ai_run_execute(run=queued)
    assert (run.status, run.error) == ("failed", "project: this project is labelled by crowd annotators only")
    assert (Assignment.objects.count(), AIRun.objects.count()) == (0, 1)


@pytest.mark.django_db
def test_a_run_that_stopped_moving_is_failed_when_a_new_one_starts(annotation_project, users, workspace):
    from datetime import timedelta

    from django.utils import timezone

    from llm.services.endpoints import model_endpoint_create

    endpoint = model_endpoint_create(workspace=workspace, name="local", base_url="http://model.invalid/v1", model="m")
    ai = ai_annotator_create(project=project_mode_set(annotation_project, "ai_assists"), name="Tiny", endpoint=endpoint)
    stuck = ai_run_create(ai_annotator=ai, limit=2, enqueue=False)
    AIRun.objects.filter(pk=stuck.pk).update(status="running", updated_at=timezone.now() - timedelta(minutes=16))
    fresh = ai_run_create(ai_annotator=ai, limit=2, enqueue=False)
    stuck.refresh_from_db()
    assert (stuck.status, stuck.error) == ("failed", "stopped making progress (the worker was probably restarted)")
    assert fresh.status == "queued"
    # A run that is not queued is left as it is by the job.
    assert ai_run_execute(run=stuck).status == "failed"

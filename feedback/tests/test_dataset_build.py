from datetime import datetime, timezone
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from annotation.models import AnnotationProject, AnnotationTask
from common.errors import ApplicationError
from datahub.models import Dataset, DatasetVersion, Record
from feedback.models import FeedbackEvent
from feedback.services import feedback_dataset_build, feedback_events_ingest
from feedback.tests.conftest import make_choice, make_event

pytestmark = pytest.mark.django_db


@pytest.fixture
def mixed_events(feedback_source):
    events = [
        make_choice(1, question="Q1", answers=[("A1", "base"), ("B1", "tuned"), ("C1", "tuned")], chosen=1),
        make_event(2, kind="like", question="Q2", answer="good2"),
        make_event(3, kind="dislike", question="Q2", answer="bad2"),
        make_event(4, kind="like", question="Q3", answer="mixed3"),
        make_event(5, kind="dislike", question="Q3", answer="mixed3"),
        make_event(6, kind="dislike", question="Q1", answer="B1"),            # disliked, but picked as best of 3
        make_event(7, kind="edit", question="Q4", answer="orig4", edited_text="fixed4"),
        make_event(8, kind="comment", question="Q5", answer="whatever"),
        make_event(9, kind="like", question="Q6", answer="later", occurred_at="2026-11-25T00:00:00Z"),
    ]
    assert feedback_events_ingest(source=feedback_source, events=events).statuses == ["accepted"] * 9
    return {e.idempotency_key: e.pk for e in FeedbackEvent.objects.all()}


def _rows(version):
    return {(r.kind, r.raw["rule"], r.messages[-1]["content"] if r.kind != "preference" else r.chosen["content"],
             r.rejected["content"] if r.rejected else r.label, tuple(r.raw["feedback_events"]))
            for r in Record.objects.filter(version_entries__version=version)}


def test_the_rules_turn_events_into_dpo_kto_and_sft_records_with_lineage(workspace, users, mixed_events):
    ids = mixed_events
    export = feedback_dataset_build(
        workspace=workspace,
        dataset_name="Feedback November",
        created_by=users["ml_engineer"],
        until=datetime(2026, 11, 21, tzinfo=timezone.utc),
    )
    version = export.version
    assert (version.number, version.operation) == (1, DatasetVersion.Operation.FEEDBACK)
    assert sum(version.counts.values()) == 7
    assert _rows(version) == {
        ("preference", "choice", "B1", "A1", (ids["evt-1"],)),
        ("preference", "choice", "B1", "C1", (ids["evt-1"],)),
        ("kto", "kto", "good2", True, (ids["evt-2"],)),
        ("kto", "kto", "bad2", False, (ids["evt-3"],)),
        ("preference", "like_pair", "good2", "bad2", (ids["evt-2"], ids["evt-3"])),
        ("sft", "edit_sft", "fixed4", None, (ids["evt-7"],)),
        ("preference", "edit_pair", "fixed4", "orig4", (ids["evt-7"],)),
    }
    assert set(Record.objects.filter(dataset=version.dataset).values_list("origin", flat=True)) == {"feedback"}
    assert export.counts == {
        "events": 7,
        "records": 7,
        "created": 7,
        "already_in_dataset": 0,
        "skipped": 0,
        "review": 2,
        "by_rule": {"choice": 2, "kto": 2, "like_pair": 1, "edit_sft": 1, "edit_pair": 1},
    }
    project = export.review_project
    assert project.schema.name == "Feedback review" and version.operation_detail["review_project"] == project.pk
    review = {(r.messages[-1]["content"], r.raw["rule"], r.raw["likes"], r.raw["dislikes"])
              for r in Record.objects.filter(version_entries__version=project.dataset_version)}
    assert review == {("mixed3", "conflict", 1, 1), ("B1", "disputed_dislike", 0, 1)}
    assert AnnotationTask.objects.filter(project=project).count() == 2


def test_a_second_run_adds_only_new_records_and_freezes_the_next_version(workspace, mixed_events):
    first = feedback_dataset_build(workspace=workspace, dataset_name="Feedback", review=False)
    dataset = first.version.dataset
    again = feedback_dataset_build(workspace=workspace, dataset=dataset, review=False)
    assert (again.version.number, again.version.parent_id) == (2, first.version.pk)
    assert again.counts["created"] == 0 and again.counts["already_in_dataset"] == 8
    assert sum(again.version.counts.values()) == 8
    assert AnnotationProject.objects.count() == 0


def test_nothing_is_left_behind_when_there_is_nothing_to_build(workspace, feedback_source):
    with pytest.raises(ApplicationError, match="no like, dislike, choice or edit events"):
        feedback_dataset_build(workspace=workspace, dataset_name="Empty")
    assert Dataset.objects.count() == 0 and DatasetVersion.objects.count() == 0


def test_the_api_builds_a_version_and_refuses_those_who_may_not(api_for, users, workspace, mixed_events):
    body = {"workspace": workspace.pk, "dataset_name": "From API", "review": True}
    for who in ("product_manager", "staff_annotator", "outsider"):
        assert api_for(users[who]).post("/api/v1/feedback/datasets/", body, format="json").status_code in (403, 404), (
            who
        )
    assert Dataset.objects.count() == 0 and AnnotationProject.objects.count() == 0
    response = api_for(users["ml_engineer"]).post("/api/v1/feedback/datasets/", body, format="json")
    assert response.status_code == 201, response.json()
    data = response.json()
    assert (data["operation"], data["version_number"], data["counts"]["records"], data["counts"]["review"]) == (
        "feedback",
        1,
        8,
        2,
    )
    assert data["review_project_id"] == AnnotationProject.objects.get().pk


def test_the_command_builds_a_version_and_fails_clearly_on_bad_input(workspace, users, mixed_events):
    out, err = StringIO(), StringIO()
    call_command("feedback_to_dataset", workspace=workspace.name, dataset="Cmd", source=["Support app"], no_review=True,
                 until="2026-11-21", stdout=out, stderr=err)
    assert out.getvalue().startswith("'Cmd' v1 (operation feedback): 7 records from 7 events")
    assert "applied the rules to 7/7 events (100%" in err.getvalue()
    with pytest.raises(CommandError, match="--source: no feedback source named 'Nope'"):
        call_command("feedback_to_dataset", workspace=workspace.name, dataset="Cmd", source=["Nope"])
    with pytest.raises(CommandError, match="--since: 'yesterday' is not an ISO 8601"):
        call_command("feedback_to_dataset", workspace=workspace.name, dataset="Cmd", since="yesterday")


def test_the_source_command_prints_a_working_token_once(workspace):
    out, err = StringIO(), StringIO()
    call_command("feedback_source_create", workspace=workspace.name, name="Mobile app", stdout=out, stderr=err)
    key = out.getvalue().strip()
    from feedback.services.sources import feedback_token_authenticate

    assert feedback_token_authenticate(key=key).source.name == "Mobile app"
    with pytest.raises(CommandError, match="--pii-kinds: unknown PII kind 'ssn'"):
        call_command(
            "feedback_source_create", workspace=workspace.name, name="Other", pii_kinds="ssn", stdout=out, stderr=err
        )

import pytest

from annotation.services import assignment_claim_next, assignment_skip
from annotation.tests.fixtures import submit_as
from common.errors import ApplicationError
from common.models import HistoryEvent


def test_skip_frees_the_slot_keeps_the_reason_and_is_idempotent(annotation_project, users):
    assignment = assignment_claim_next(project=annotation_project, annotator=users["crowd_annotator"])
    skipped = assignment_skip(assignment=assignment, reason="  not   English ")
    assert (skipped.status, skipped.skip_reason, skipped.finished_at is not None) == ("skipped", "not English", True)
    assert assignment_skip(assignment=assignment, reason="again").skip_reason == "not English"
    event = HistoryEvent.objects.get(verb="skipped")
    assert (event.actor, event.before) == (users["crowd_annotator"], {"status": "active"})
    assert event.after == {"status": "skipped", "reason": "not English"}


def test_skip_by_someone_else_or_after_submit_is_refused(annotation_project, users, topic_schema):
    assignment = assignment_claim_next(project=annotation_project, annotator=users["crowd_annotator"])
    with pytest.raises(ApplicationError) as error:
        assignment_skip(assignment=assignment, reason="", skipped_by=users["staff_annotator"])
    assert error.value.code == "not_yours"
    submit_as(users["crowd_annotator"], assignment, "billing/refund")
    with pytest.raises(ApplicationError) as error:
        assignment_skip(assignment=assignment, reason="")
    assert str(error.value) == "assignment: this item is already submitted; it cannot be skipped"

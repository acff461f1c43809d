"""The best-of-N workbench against the project's own model server (tiny model on 127.0.0.1)."""

import pytest
from django.test import Client

from common.errors import ApplicationError
from feedback.models import FeedbackEvent, FeedbackSource, WorkbenchDraft
from feedback.services import workbench_draft_create, workbench_pick

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def two_endpoints(tiny_endpoint, make_endpoint, tiny_base_model):
    from training.server.registry import base_model_id

    return [tiny_endpoint, make_endpoint(model=base_model_id(tiny_base_model), name="tiny second")]


def test_candidates_are_shuffled_unlabelled_and_a_pick_with_an_edit_becomes_two_events(workspace, users, two_endpoints):
    agent = users["staff_annotator"]
    draft = workbench_draft_create(
        workspace=workspace,
        agent=agent,
        endpoints=two_endpoints,
        customer_message="Where is my parcel?",
        prompt_version="v7",
        per_endpoint=2,
        max_tokens=8,
    )
    assert len(draft.candidates) == 4
    assert sorted(c["endpoint"] for c in draft.candidates) == ["tiny local", "tiny local", "tiny second", "tiny second"]
    assert draft.messages == [{"role": "user", "content": "Where is my parcel?"}]

    client = Client()
    client.force_login(agent)
    page = client.post(f"/feedback/workbench/drafts/{draft.pk}/pick/", {"index": "3", "edited_text": "Edited reply."},
                       HTTP_HX_REQUEST="true").content.decode()
    assert "Edited reply." in page and "tiny" not in page
    choice, edit = FeedbackEvent.objects.order_by("pk")
    assert (choice.kind, choice.chosen_index, choice.source.kind) == ("choice", 2, FeedbackSource.Kind.WORKBENCH)
    assert [r["model"] for r in choice.responses] == [f"{c['endpoint']} ({c['model']})" for c in draft.candidates]
    assert choice.prompt_version == "v7" and choice.user_ref == f"agent-{agent.pk}"
    assert (edit.kind, edit.edited_text, edit.responses[0]["text"]) == (
        "edit",
        "Edited reply.",
        draft.candidates[2]["text"] or " ",
    )

    # Picking again (a double key press) changes nothing; another agent cannot pick this draft.
    again = workbench_pick(draft=draft, agent=agent, index=0)
    assert [e.pk for e in again] == [choice.pk, edit.pk]
    other = Client()
    other.force_login(users["reviewer"])
    assert other.post(f"/feedback/workbench/drafts/{draft.pk}/pick/", {"index": "1"}).status_code == 404
    assert FeedbackEvent.objects.count() == 2


def test_the_candidates_page_shows_no_model_names(workspace, users, two_endpoints):
    client = Client()
    client.force_login(users["expert_annotator"])
    response = client.post(
        "/feedback/workbench/candidates/",
        {
            "workspace": workspace.pk,
            "endpoints": [e.pk for e in two_endpoints],
            "message": "Refund please",
            "per_endpoint": "1",
        },
        HTTP_HX_REQUEST="true",
    )
    body = response.content.decode()
    assert response.status_code == 200 and body.count('class="fb-candidate"') == 2
    assert "tiny" not in body and two_endpoints[0].model not in body
    assert WorkbenchDraft.objects.get().agent == users["expert_annotator"]


def test_bad_input_is_refused_before_any_model_is_called(workspace, users, two_endpoints):
    with pytest.raises(ApplicationError, match="type or paste the customer's message"):
        workbench_draft_create(
            workspace=workspace, agent=users["reviewer"], endpoints=two_endpoints, customer_message="  "
        )
    with pytest.raises(ApplicationError, match="choose endpoints for 2 to 8 candidates"):
        workbench_draft_create(
            workspace=workspace, agent=users["reviewer"], endpoints=two_endpoints[:1], customer_message="Hi"
        )
    client = Client()
    client.force_login(users["crowd_annotator"])
    assert client.post("/feedback/workbench/candidates/", {"workspace": workspace.pk, "message": "Hi",
                                                           "endpoints": [two_endpoints[0].pk]}).status_code == 404
    assert WorkbenchDraft.objects.count() == 0

"""The assist workbench preset of a slot, against the project's own model server (two tiny models on 127.0.0.1):
four replies, two from production and two from the candidate, shuffled and unnamed; the agent's pick (or edit) goes
through the feedback ingest and counts once in the slot's online support rate, shown on the slot's page and the
feedback dashboard."""

import pytest
from django.test import Client
from django.urls import reverse

from feedback.models import FeedbackEvent, WorkbenchDraft
from feedback.selectors import feedback_support_rates
from releases.services.deployments import deployment_candidate_set, deployment_create

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def assist_slot(workspace, tiny_base_model, candidate_base_model, make_endpoint):
    from training.server.registry import base_model_id

    slot = deployment_create(workspace=workspace, name="support-bot", production=tiny_base_model)
    slot = deployment_candidate_set(deployment=slot, candidate=candidate_base_model, share=0.1, support_band_low=0.5)
    make_endpoint(model=base_model_id(tiny_base_model), name="prod server")
    make_endpoint(model=base_model_id(candidate_base_model), name="cand server")
    return slot


def _secrets_of(slot, *, in_json: bool = True) -> list[str]:
    """Everything that would tell the sides apart if it leaked into a page or an answer (the page's markup calls
    every reply a "fb-candidate", so the side names are looked for in JSON answers only)."""
    from training.server.registry import base_model_id

    names = [slot.production.name, slot.candidate.name, base_model_id(slot.production), base_model_id(slot.candidate),
             "prod server", "cand server", "side", "endpoint", "tiny"]
    return names + (["production", "candidate"] if in_json else ["data-side", "production"])


def test_four_unnamed_replies_a_pick_through_the_ingest_counted_once(assist_slot, users, api_for):
    agent = api_for(users["staff_annotator"])
    response = agent.post(f"/api/v1/deployments/{assist_slot.pk}/assist/",
                          {"message": "Where is my parcel?", "max_tokens": 6}, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) == {"draft", "replies"} and len(body["replies"]) == 4
    assert all(set(reply) == {"id", "text"} for reply in body["replies"])
    raw = response.content.decode()
    assert not [word for word in _secrets_of(assist_slot) if word in raw]

    draft = WorkbenchDraft.objects.get(pk=body["draft"])
    assert sorted(c["side"] for c in draft.candidates) == ["candidate", "candidate", "production", "production"]
    assert [c["text"] for c in draft.candidates] == [reply["text"] for reply in body["replies"]]
    assert len({reply["id"] for reply in body["replies"]}) == 4
    # The two models are different tiny models: each side's replies are its own model's (greedy decoding differs).
    by_side = {side: {c["model"] for c in draft.candidates if c["side"] == side}
               for side in ("production", "candidate")}
    assert {len(models) for models in by_side.values()} == {1} and by_side["production"] != by_side["candidate"]

    picked = next(reply for reply, c in zip(body["replies"], draft.candidates) if c["side"] == "candidate")
    sent = agent.post(f"/api/v1/assist-drafts/{body['draft']}/pick/",
                      {"reply": picked["id"], "edited_text": "Your parcel leaves today."}, format="json")
    assert sent.status_code == 200, sent.content
    assert sent.json() == {"events": ["choice", "edit"], "final_text": "Your parcel leaves today."}
    assert not [word for word in _secrets_of(assist_slot) if word in sent.content.decode()]
    choice = FeedbackEvent.objects.get(kind="choice")
    assert choice.metadata["sides"] == [c["side"] for c in draft.candidates] and choice.metadata["edited"] is True
    assert choice.metadata["assist"]["deployment"] == assist_slot.pk

    # One pick of a 2+2 is one comparison, in the best-of-N table and in the slot's figures.
    rows = {row.model: (row.shown, row.chosen, row.wins, row.losses)
            for row in feedback_support_rates(workspace=assist_slot.workspace)}
    assert sorted(rows.values()) == [(2, 0, 0, 1), (2, 1, 1, 0)]
    support = api_for(users["product_manager"]).get(f"/api/v1/deployments/{assist_slot.pk}/assist/support/").json()
    assert [(r["picks"], r["candidate_wins"], r["edits"], r["rate"], r["band"]) for r in support] == [
        (1, 1, 1, 1.0, "inconclusive")]
    assert support[0]["production"]["name"] == "tiny-chat" and support[0]["candidate"]["name"] == "tiny-chat-other"

    # A reply id of another draft, or another agent, is refused; nothing more is recorded.
    again = agent.post(f"/api/v1/deployments/{assist_slot.pk}/assist/", {"message": "Refund?", "max_tokens": 6},
                       format="json").json()
    wrong = agent.post(f"/api/v1/assist-drafts/{again['draft']}/pick/", {"reply": picked["id"]}, format="json")
    assert (wrong.status_code, wrong.json()["where"]) == (400, "reply")
    other = api_for(users["expert_annotator"]).post(f"/api/v1/assist-drafts/{again['draft']}/pick/",
                                                   {"reply": again["replies"][0]["id"]}, format="json")
    assert other.status_code == 404 and FeedbackEvent.objects.count() == 2


def test_the_slot_must_have_a_candidate_and_endpoints_for_both_models(assist_slot, users, api_for, workspace):
    from llm.models import ModelEndpoint

    agent = api_for(users["staff_annotator"])
    ModelEndpoint.objects.filter(name="cand server").delete()
    refused = agent.post(f"/api/v1/deployments/{assist_slot.pk}/assist/", {"message": "Hi"}, format="json")
    assert refused.status_code == 400 and refused.json()["where"] == "candidate"
    assert "No model endpoint of this workspace serves the candidate model tiny-chat-other" in refused.json()["detail"]
    deployment_candidate_set(deployment=assist_slot, candidate=None, share=0.1, support_band_low=0.5)
    refused = agent.post(f"/api/v1/deployments/{assist_slot.pk}/assist/", {"message": "Hi"}, format="json")
    assert (refused.status_code, refused.json()["where"]) == (400, "candidate")
    outsider = api_for(users["outsider"]).post(f"/api/v1/deployments/{assist_slot.pk}/assist/", {"message": "Hi"},
                                               format="json")
    assert outsider.status_code == 404 and WorkbenchDraft.objects.count() == 0


def test_the_workbench_preset_page_and_the_figures_on_both_pages(assist_slot, users, django_assert_num_queries):
    agent = Client()
    agent.force_login(users["staff_annotator"])
    page = agent.get(f"/feedback/workbench/?workspace={assist_slot.workspace_id}&deployment={assist_slot.pk}")
    assert f'<option value="{assist_slot.pk}" selected>' in page.content.decode()
    candidates = agent.post("/feedback/workbench/candidates/", {
        "workspace": assist_slot.workspace_id, "deployment": assist_slot.pk, "message": "Where is my parcel?"},
        HTTP_HX_REQUEST="true").content.decode()
    assert candidates.count('class="fb-candidate"') == 4
    assert not [word for word in _secrets_of(assist_slot, in_json=False) if word in candidates]
    draft = WorkbenchDraft.objects.get()
    index = next(i for i, c in enumerate(draft.candidates) if c["side"] == "production")
    picked = agent.post(f"/feedback/workbench/drafts/{draft.pk}/pick/", {"index": str(index + 1)},
                        HTTP_HX_REQUEST="true")
    assert picked.status_code == 200 and FeedbackEvent.objects.get().metadata["sides"][index] == "production"

    manager = Client()
    manager.force_login(users["product_manager"])
    slot_page = manager.get(reverse("releases:deployment-detail", args=[assist_slot.pk])).content.decode()
    assert 'id="slot-assist-table"' in slot_page and "<td>tiny-chat</td><td>tiny-chat-other</td><td>1</td><td>0</td>" \
        in slot_page
    dashboard = manager.get(f"/feedback/?workspace={assist_slot.workspace_id}").content.decode()
    assert 'id="assist-table"' in dashboard and "<td>support-bot</td><td>tiny-chat</td>" in dashboard
    assert "not yet conclusive" in dashboard

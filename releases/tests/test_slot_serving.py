"""/v1/chat/completions with a slot's name as `model`: the project's own server answers with the production model or
the candidate, the same one for an end user every time, and records which model wrote each reply."""

import json

from django.test import Client

from accounts.services import api_token_for
from releases.models import DeploymentReply
from releases.routing import candidate_answers, end_user_hash
from releases.services.deployments import deployment_candidate_set, deployment_create


def test_a_slot_answers_and_attributes_each_reply(users, workspace, tiny_base_model, tiny_artifact):
    slot = deployment_create(workspace=workspace, name="support-bot", production=tiny_base_model)
    deployment_candidate_set(deployment=slot, candidate=tiny_artifact, share=0.5, support_band_low=0.5)
    client = Client(HTTP_AUTHORIZATION=f"Bearer {api_token_for(user=users['ml_engineer'])}")
    ids = {"production": f"{workspace.pk}/tiny-chat", "candidate": f"{workspace.pk}/artifacts/{tiny_artifact.pk}"}
    seen = set()
    for end_user in ("alice", "bob", "carol", "dave", "alice"):
        body = {"model": "support-bot", "user": end_user, "max_tokens": 4, "temperature": 0,
                "messages": [{"role": "user", "content": "Where is my package?"}]}
        response = client.post("/v1/chat/completions", json.dumps(body), content_type="application/json")
        assert response.status_code == 200, response.content
        reply = response.json()
        role = "candidate" if candidate_answers(workspace_id=workspace.pk, slot="support-bot", end_user=end_user,
                                                share=0.5) else "production"
        assert reply["model"] == ids[role]
        recorded = DeploymentReply.objects.get(reply_id=reply["id"])
        assert (recorded.role, recorded.deployment_id, recorded.end_user_hash) == (role, slot.pk,
                                                                                   end_user_hash(end_user))
        assert (recorded.artifact_id if role == "candidate" else recorded.base_model_id) == (
            tiny_artifact.pk if role == "candidate" else tiny_base_model.pk)
        seen.add(role)
    assert DeploymentReply.objects.count() == 5
    assert seen == {"production", "candidate"}  # with these five users at 50%, both models answered

    outsider = Client(HTTP_AUTHORIZATION=f"Bearer {api_token_for(user=users['outsider'])}")
    body = {"model": "support-bot", "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 2}
    refused = outsider.post("/v1/chat/completions", json.dumps(body), content_type="application/json")
    assert refused.status_code == 404 and DeploymentReply.objects.count() == 5

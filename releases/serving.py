"""The model server's one entry into the releases app: a request's `model` may name a deployment slot.

served_model_for_request answers the model to serve and the reply's id. For a slot (a name that is no model id, and
exactly one slot of that name in the workspaces where the user may call models) it picks the production model or the
candidate for the request's end user (releases.routing) and records which one will write the reply under that id
(DeploymentReply), so feedback sent with the reply id is attributed to the right model without the app knowing it.
The record is written before generation: a reply that then fails leaves a row for a reply never delivered.
"""

import uuid

from releases.selectors import deployment_for_model_name, deployment_resolve
from releases.services.deployments import deployment_reply_record


def reply_id_new() -> str:
    return f"chatcmpl-{uuid.uuid4().hex}"


def served_model_for_request(*, user, model: str, end_user: str = ""):
    """(ServedModel or None, reply id) for a request's `model`: a model id the user may call, else a slot's name."""
    from training.server.registry import served_model_get

    reply_id = reply_id_new()
    served = served_model_get(user=user, model_id=model)
    if served is not None:
        return served, reply_id
    deployment = deployment_for_model_name(user=user, name=model)
    if deployment is None:
        return None, reply_id
    resolved = deployment_resolve(workspace=deployment.workspace, name=deployment.name, end_user=end_user)
    served = served_model_get(user=user, model_id=resolved.model_id)
    if served is not None:
        deployment_reply_record(deployment=resolved.deployment, role=resolved.role, model=resolved.model,
                                reply_id=reply_id, end_user=end_user)
    return served, reply_id

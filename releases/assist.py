"""The assist workbench preset of a deployment slot: for a customer message, two replies from the slot's production
model and two from its candidate, shuffled and unnamed (feedback.services.workbench: order and reply ids from
`secrets`), for an agent to pick one (or edit it). The pick is recorded through the feedback ingest as one choice event
whose metadata names the slot, its two models and each shown reply's side; feedback.selectors.assist_support_rates
counts it as one comparison.

The replies come from the workspace's model endpoints that serve the two models by their model-server ids
(training.server.registry): Whetstone's own server, or vLLM serving the same names.
"""

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from common.errors import ApplicationError
from feedback.models import WorkbenchDraft
from feedback.services import workbench_draft_create
from llm.models import ModelEndpoint
from releases.models import Deployment
from releases.services.deployments import model_ref
from training.models import BaseModel

PER_SIDE = 2
PRODUCTION, CANDIDATE = "production", "candidate"
SIDE_LABELS = {PRODUCTION: gettext_lazy("production"), CANDIDATE: gettext_lazy("candidate")}


def served_model_id(model) -> str:
    from training.server.registry import artifact_model_id, base_model_id

    return base_model_id(model) if isinstance(model, BaseModel) else artifact_model_id(model)


def assist_endpoint_for(*, deployment: Deployment, model, side: str) -> ModelEndpoint:
    """The slot workspace's first model endpoint that serves `model` by its model-server id."""
    model_id = served_model_id(model)
    endpoint = (ModelEndpoint.objects.filter(workspace=deployment.workspace, model=model_id).order_by("pk").first())
    if endpoint is None:
        raise ApplicationError(_("No model endpoint of this workspace serves the %(side)s model %(name)s (model "
                                 "%(id)s); add one.") % {"side": SIDE_LABELS[side], "name": model.name, "id": model_id},
                               where=side)
    return endpoint


def deployment_assist_draft_create(*, deployment: Deployment, agent, customer_message: str, system_prompt: str = "",
                                   max_tokens: int = 256, temperature: float = 0.7) -> WorkbenchDraft:
    """Four replies to `customer_message`, PER_SIDE from the production model and PER_SIDE from the candidate, as a
    workbench draft of `agent`. The slot must have a candidate. Calls the network: not inside a transaction."""
    if deployment.candidate is None:
        raise ApplicationError(_("The slot has no candidate: set one to compare it with the production model."),
                               where="candidate")
    endpoints = [assist_endpoint_for(deployment=deployment, model=deployment.production, side=PRODUCTION),
                 assist_endpoint_for(deployment=deployment, model=deployment.candidate, side=CANDIDATE)]
    metadata = {"assist": {"deployment": deployment.pk, "slot": deployment.name,
                           "production": model_ref(deployment.production),
                           "candidate": model_ref(deployment.candidate)}}
    return workbench_draft_create(workspace=deployment.workspace, agent=agent, endpoints=endpoints,
                                  customer_message=customer_message, system_prompt=system_prompt,
                                  prompt_version=f"assist:{deployment.name}", per_endpoint=PER_SIDE,
                                  max_tokens=max_tokens, temperature=temperature, sides=[PRODUCTION, CANDIDATE],
                                  event_metadata=metadata)

"""The best-of-N workbench: ask several endpoints for answers to a customer message, show them shuffled and
unlabelled, and record the agent's pick (and edit) as feedback events of the workspace's workbench source.

Blinding: the shown order and each candidate's reply id come from `secrets`, so neither tells which endpoint (or,
for the assist preset of releases.assist, which side of a slot) wrote a candidate.
"""

import secrets
from concurrent.futures import ThreadPoolExecutor

from django.db import close_old_connections, connections, transaction
from django.utils import timezone

from accounts.models import Workspace
from common.errors import ApplicationError
from common.history import history_record
from feedback.models import FeedbackEvent, WorkbenchDraft
from feedback.services.ingest import REJECTED, feedback_events_ingest
from feedback.services.sources import feedback_workbench_source
from llm.client import chat_complete_many
from llm.errors import ModelCallError
from llm.models import ModelEndpoint

MAX_CANDIDATES = 8
MESSAGE_MAX = 20_000


def _ask(endpoint: ModelEndpoint, messages: list[dict], seeds: range, max_tokens: int, temperature: float) -> list[str]:
    try:
        # Distinct seeds, so two candidates (from one endpoint, or two serving the same weights) differ when the
        # temperature lets them.
        requests = [
            {"messages": messages, "max_tokens": max_tokens, "temperature": temperature, "seed": seed} for seed in seeds
        ]
        # PostgreSQL's jsonb cannot hold U+0000, which a small model may write: the draft keeps the rest of the text.
        return [
            result.text.replace("\x00", "")
            for result in chat_complete_many(endpoint=endpoint, requests=requests, purpose="feedback workbench")
        ]
    finally:
        connections.close_all()  # this worker thread's own connection


def workbench_draft_create(
    *,
    workspace: Workspace,
    agent,
    endpoints: list[ModelEndpoint],
    customer_message: str,
    system_prompt: str = "",
    prompt_version: str = "",
    per_endpoint: int = 1,
    max_tokens: int = 256,
    temperature: float = 0.7,
    sides: list[str] | None = None,
    event_metadata: dict | None = None,
) -> WorkbenchDraft:
    """Ask every endpoint (at once) for `per_endpoint` answers and keep them, shuffled, as a draft to pick from.

    `sides` names, per endpoint, the side its answers count for (kept on the server; the choice event's metadata
    lists them in shown order); `event_metadata` is added to the choice event's metadata at the pick.
    Calls the network, so it must not run inside an open transaction. Endpoints must belong to `workspace`.
    """
    customer_message = (customer_message or "").strip()
    if not customer_message:
        raise ApplicationError("type or paste the customer's message", where="message")
    if len(customer_message) > MESSAGE_MAX:
        raise ApplicationError(f"the message is longer than {MESSAGE_MAX} characters", where="message")
    if any(endpoint.workspace_id != workspace.pk for endpoint in endpoints):
        raise ApplicationError("an endpoint belongs to another workspace", where="endpoints")
    if not 1 <= per_endpoint <= 4:
        raise ApplicationError("ask each endpoint for 1 to 4 answers", where="per_endpoint")
    if len(endpoints) * per_endpoint < 2 or len(endpoints) * per_endpoint > MAX_CANDIDATES:
        raise ApplicationError(f"choose endpoints for 2 to {MAX_CANDIDATES} candidates", where="endpoints")
    sides = sides or [""] * len(endpoints)
    if len(sides) != len(endpoints):
        raise ApplicationError("name one side per endpoint", where="sides")
    messages = ([{"role": "system", "content": system_prompt.strip()}] if system_prompt.strip() else []) + [
        {"role": "user", "content": customer_message}]
    with ThreadPoolExecutor(max_workers=len(endpoints)) as pool:
        futures = [
            pool.submit(
                _ask, endpoint, messages, range(i * per_endpoint, (i + 1) * per_endpoint), max_tokens, temperature
            )
            for i, endpoint in enumerate(endpoints)
        ]
        try:
            answers = [future.result() for future in futures]
        except ModelCallError as error:
            raise ApplicationError(str(error), where="endpoints", code="model_call_failed") from error
    close_old_connections()
    candidates = [{"text": text, "model": endpoint.model, "endpoint": endpoint.name, "endpoint_id": endpoint.pk,
                   "prompt_version": prompt_version.strip()[:200], "reply_id": secrets.token_urlsafe(12), "side": side}
                  for endpoint, side, texts in zip(endpoints, sides, answers) for text in texts]
    secrets.SystemRandom().shuffle(candidates)
    return WorkbenchDraft.objects.create(workspace=workspace, agent=agent, messages=messages, candidates=candidates,
                                         event_metadata=event_metadata or {})


def workbench_index_of_reply(*, draft: WorkbenchDraft, reply_id: str) -> int:
    """The shown position (0-based) of the candidate with `reply_id`."""
    for index, candidate in enumerate(draft.candidates):
        if reply_id and candidate.get("reply_id") == reply_id:
            return index
    raise ApplicationError("no reply of this draft has that id", where="reply")


def _model_label(candidate: dict) -> str:
    """What a feedback event calls the model: the endpoint's name with its model, so two endpoints serving the same
    model name (a base and a fine-tune behind different servers) stay apart."""
    return f"{candidate['endpoint']} ({candidate['model']})"


@transaction.atomic
def workbench_pick(*, draft: WorkbenchDraft, agent, index: int, edited_text: str = "") -> list[FeedbackEvent]:
    """Record the agent's pick among the draft's candidates (0-based, shown order) as a choice event, and an edit event
    when the text sent differs from the picked candidate. Picking a draft again returns its events unchanged."""
    draft = WorkbenchDraft.objects.select_for_update().get(pk=draft.pk)
    source = feedback_workbench_source(workspace=draft.workspace)
    keys = [f"workbench-{draft.pk}-choice", f"workbench-{draft.pk}-edit"]
    if draft.picked_at is not None:
        return list(FeedbackEvent.objects.filter(source=source, idempotency_key__in=keys).order_by("pk"))
    if draft.agent_id != agent.pk:
        raise ApplicationError("only the agent who asked for these candidates may pick", where="draft")
    if not isinstance(index, int) or not 0 <= index < len(draft.candidates):
        raise ApplicationError(f"pick a candidate between 1 and {len(draft.candidates)}", where="index")
    picked = draft.candidates[index]
    edited_text = (edited_text or "").replace("\r\n", "\n").strip()
    edited = bool(edited_text) and edited_text != picked["text"].strip()
    now = timezone.now().isoformat()
    common = {"occurred_at": now, "messages": draft.messages, "app_id": "workbench", "session_id": f"draft-{draft.pk}",
              "user_id": f"agent-{agent.pk}"}
    responses = [
        {"text": c["text"] or " ", "model": _model_label(c), "prompt_version": c["prompt_version"]}
        for c in draft.candidates
    ]
    choice = {**common, "idempotency_key": keys[0], "kind": "choice", "responses": responses, "chosen_index": index}
    if draft.event_metadata:
        choice["metadata"] = {**draft.event_metadata, "sides": [c.get("side", "") for c in draft.candidates],
                              "edited": edited}
    events = [choice]
    if edited:
        events.append(
            {
                **common,
                "idempotency_key": keys[1],
                "kind": "edit",
                "responses": [responses[index]],
                "edited_text": edited_text,
            }
        )
    result = feedback_events_ingest(source=source, events=events)
    if REJECTED in result.statuses:
        error = result.errors[0]
        raise ApplicationError(f"the pick could not be recorded: {error['field']}: {error['reason']}", where="index")
    draft.picked_index = index
    draft.final_text = edited_text if edited else picked["text"]
    draft.picked_at = timezone.now()
    draft.save(update_fields=["picked_index", "final_text", "picked_at", "updated_at"])
    history_record(
        actor=agent, target=draft, verb="picked", after={"index": index, "edited": edited, "candidates": len(responses)}
    )
    return list(FeedbackEvent.objects.filter(source=source, idempotency_key__in=keys).order_by("pk"))

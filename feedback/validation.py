"""Checking one incoming feedback event. Pure Python and fast: a batch of 5,000 is checked in a few milliseconds.

An event (JSON object):
    idempotency_key  text, 1-200 characters, unique per source: sending it again changes nothing
    kind             like | dislike | choice | edit | comment
    occurred_at      ISO 8601 time with a timezone
    messages         the conversation before the answer:
                     [{"role": "system"|"user"|"assistant"|"tool", "content": text}, ...]
    responses        [{"text": text, "model": text, "prompt_version": text}, ...]: exactly one, or 2-16 for a choice
    chosen_index     for a choice: 0-based index into responses
    edited_text      for an edit: the answer as the user corrected it
    comment          free text; required for a comment
    app_id, session_id, user_id   pseudonymous ids, optional, up to 200 characters
    metadata         optional object
"""

import hashlib
import json
from datetime import datetime

ROLES = {"system", "user", "assistant", "tool"}
KINDS = ("like", "dislike", "choice", "edit", "comment")
MAX_CANDIDATES = 16
MAX_MESSAGES = 200
MAX_TEXT = 100_000
MAX_ID = 200
KNOWN_KEYS = {
    "idempotency_key",
    "kind",
    "occurred_at",
    "messages",
    "responses",
    "chosen_index",
    "edited_text",
    "comment",
    "app_id",
    "session_id",
    "user_id",
    "metadata",
}


class EventInvalid(Exception):
    def __init__(self, field: str, reason: str):
        super().__init__(reason)
        self.field = field
        self.reason = reason


def _text(value, field: str, *, required: bool, limit: int = MAX_TEXT) -> str:
    if value is None or value == "":
        if required:
            raise EventInvalid(field, "required")
        return ""
    if not isinstance(value, str):
        raise EventInvalid(field, "must be text")
    if len(value) > limit:
        raise EventInvalid(field, f"longer than {limit} characters")
    if "\x00" in value:
        raise EventInvalid(field, "contains a NUL character")
    return value


def _messages(value) -> list[dict]:
    if not isinstance(value, list) or not value:
        raise EventInvalid("messages", "must be a non-empty list of {role, content}")
    if len(value) > MAX_MESSAGES:
        raise EventInvalid("messages", f"more than {MAX_MESSAGES} messages")
    clean = []
    for i, message in enumerate(value):
        if not isinstance(message, dict):
            raise EventInvalid(f"messages[{i}]", "must be an object with role and content")
        role = message.get("role")
        if role not in ROLES:
            raise EventInvalid(
                f"messages[{i}].role", f"unknown role {role!r}; expected system, user, assistant or tool"
            )
        clean.append({"role": role, "content": _text(message.get("content"), f"messages[{i}].content", required=True)})
    if not any(m["role"] == "user" for m in clean):
        raise EventInvalid("messages", "has no user message")
    return clean


def _responses(value, kind: str) -> list[dict]:
    if not isinstance(value, list) or not value:
        raise EventInvalid("responses", "must be a non-empty list of {text, model, prompt_version}")
    if kind == "choice" and not 2 <= len(value) <= MAX_CANDIDATES:
        raise EventInvalid("responses", f"a choice needs 2 to {MAX_CANDIDATES} candidates, got {len(value)}")
    if kind != "choice" and len(value) != 1:
        raise EventInvalid("responses", f"a {kind} is about exactly one response, got {len(value)}")
    clean = []
    for i, response in enumerate(value):
        if not isinstance(response, dict):
            raise EventInvalid(f"responses[{i}]", "must be an object with text, model and prompt_version")
        clean.append(
            {
                "text": _text(response.get("text"), f"responses[{i}].text", required=True),
                "model": _text(response.get("model"), f"responses[{i}].model", required=True, limit=300),
                "prompt_version": _text(
                    response.get("prompt_version"), f"responses[{i}].prompt_version", required=False, limit=MAX_ID
                ),
            }
        )
    return clean


def _when(value) -> datetime:
    if not isinstance(value, str):
        raise EventInvalid("occurred_at", "required: an ISO 8601 time with a timezone")
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00") if value.endswith("Z") else value)
    except ValueError:
        raise EventInvalid("occurred_at", f"{value[:40]!r} is not an ISO 8601 time") from None
    if moment.tzinfo is None:
        raise EventInvalid("occurred_at", "has no timezone (add Z or +08:00)")
    return moment


def prompt_hash_of(messages: list[dict]) -> str:
    text = json.dumps(
        [[m["role"], " ".join(m["content"].split())] for m in messages], ensure_ascii=False, separators=(",", ":")
    )
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def event_validate(event) -> dict:
    """The clean event (keys as FeedbackEvent fields), or EventInvalid naming the field and the reason."""
    if not isinstance(event, dict):
        raise EventInvalid("", "an event must be a JSON object")
    unknown = event.keys() - KNOWN_KEYS
    if unknown:
        raise EventInvalid(sorted(unknown)[0], "unknown field")
    key = _text(event.get("idempotency_key"), "idempotency_key", required=True, limit=MAX_ID)
    kind = event.get("kind")
    if kind not in KINDS:
        raise EventInvalid("kind", f"unknown kind {kind!r}; expected one of {', '.join(KINDS)}")
    occurred_at = _when(event.get("occurred_at"))
    messages = _messages(event.get("messages"))
    responses = _responses(event.get("responses"), kind)
    chosen_index = event.get("chosen_index")
    if kind == "choice":
        if (
            not isinstance(chosen_index, int)
            or isinstance(chosen_index, bool)
            or not 0 <= chosen_index < len(responses)
        ):
            raise EventInvalid("chosen_index", f"must be an index between 0 and {len(responses) - 1}")
    elif chosen_index is not None:
        raise EventInvalid("chosen_index", f"only a choice has one, not a {kind}")
    edited_text = _text(event.get("edited_text"), "edited_text", required=kind == "edit")
    if kind != "edit" and edited_text:
        raise EventInvalid("edited_text", f"only an edit has one, not a {kind}")
    comment = _text(event.get("comment"), "comment", required=kind == "comment")
    metadata = event.get("metadata") or {}
    if not isinstance(metadata, dict):
        raise EventInvalid("metadata", "must be an object")
    about = responses[chosen_index if kind == "choice" else 0]
    return {
        "idempotency_key": key, "kind": kind, "occurred_at": occurred_at, "messages": messages, "responses": responses,
        "chosen_index": chosen_index if kind == "choice" else None, "edited_text": edited_text, "comment": comment,
        "model": about["model"], "prompt_version": about["prompt_version"],
        "app_id": _text(event.get("app_id"), "app_id", required=False, limit=MAX_ID),
        "session_id": _text(event.get("session_id"), "session_id", required=False, limit=MAX_ID),
        "user_ref": _text(event.get("user_id"), "user_id", required=False, limit=MAX_ID),
        "metadata": metadata,
    }

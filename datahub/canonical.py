"""The canonical record: validation and content keys.

A canonical row is a dict with "kind" and the fields of datahub.models.Record:
    {"kind": "sft", "messages": [{"role": ..., "content": ...}, ...], "tools": [...]?}
An assistant message may carry its reasoning as "reasoning_content" (a <think>…</think> block opening an imported
answer is moved there), which exports keep and training writes into the final assistant turn. An assistant message of
a conversation may carry "weight": 0 (OpenAI's chat format: read, not learned); 1, the default, is not stored.
    {"kind": "preference", "messages": prompt turns, "chosen": {"role": "assistant", ...}, "rejected": {...}}
    {"kind": "kto", "messages": prompt turns + assistant completion, "label": bool}
Format readers (datahub.formats) turn what people have into this; everything downstream reads only this.
"""

import hashlib
import json
import re
import unicodedata

import orjson

from common.errors import ApplicationError
from common.text_similarity import normalised_text, prompt_turns

ROLES = {"system", "user", "assistant", "tool"}
MAX_RECORD_CHARS = 200_000


def normalise_text(text: str) -> str:
    """NFC and \\n line endings: the form records are stored in."""
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    # ASCII text is already NFC.
    return text if text.isascii() else unicodedata.normalize("NFC", text)


def _message(message, where: str, index: int | None = None) -> dict:
    """A clean message; `where` (with `[index]` after it, when given) names it in errors, and is only written then."""
    if not isinstance(message, dict):
        raise ApplicationError("a message must be an object with role and content", where=_at(where, index))
    role = message.get("role")
    if role not in ROLES:
        raise ApplicationError(
            f"unknown role {role!r}; expected one of system, user, assistant, tool", where=f"{_at(where, index)}.role"
        )
    content = message.get("content")
    if content is None and not message.get("tool_calls"):
        raise ApplicationError("message has no content", where=f"{_at(where, index)}.content")
    if content is not None and not isinstance(content, str):
        raise ApplicationError("content must be text", where=f"{_at(where, index)}.content")
    clean = {"role": role, "content": normalise_text(content or "")}
    if len(message) > 2:
        for key in ("name", "tool_calls", "tool_call_id"):
            if message.get(key) is not None:
                clean[key] = message[key]
    if role == "assistant":
        reasoning = message.get("reasoning_content") if len(message) > 2 else None
        if reasoning is not None and not isinstance(reasoning, str):
            raise ApplicationError("reasoning_content must be text", where=f"{_at(where, index)}.reasoning_content")
        # Cheap first: nearly every answer has neither.
        if reasoning or clean["content"][:32].lstrip().startswith(THINK_OPEN):
            reasoning, clean["content"] = reasoning_parts(normalise_text(reasoning or ""), clean["content"])
            if reasoning:
                clean["reasoning_content"] = reasoning
        if "weight" in message:
            weight = message["weight"]
            if isinstance(weight, bool) or weight not in (0, 1):
                raise ApplicationError(f"weight must be 0 or 1, not {weight!r}", where=f"{_at(where, index)}.weight")
            if weight == 0:
                clean["weight"] = 0
    elif message.get("weight") is not None and len(message) > 2:
        raise ApplicationError("only assistant messages take a weight", where=f"{_at(where, index)}.weight")
    return clean


THINK_OPEN, THINK_CLOSE = "<think>", "</think>"


def reasoning_parts(reasoning: str, content: str) -> tuple[str, str]:
    """(reasoning, answer) of an assistant message: its reasoning_content, or else a <think>…</think> block opening its
    content (as reasoning models write it), taken out of the content. Both stripped of the line breaks around them."""
    if not reasoning.strip() and content.lstrip().startswith(THINK_OPEN) and THINK_CLOSE in content:
        inner, _, answer = content.lstrip()[len(THINK_OPEN):].partition(THINK_CLOSE)
        return inner.strip(), answer.lstrip()
    return reasoning.strip(), content


def _at(where: str, index: int | None) -> str:
    return where if index is None else f"{where}[{index}]"


def _conversation(messages, where: str, *, ends_with_assistant: bool) -> list[dict]:
    if not isinstance(messages, list) or not messages:
        raise ApplicationError("the conversation is empty", where=where)
    clean = [_message(m, where, i) for i, m in enumerate(messages)]
    turns = clean[1:] if clean[0]["role"] == "system" else clean
    if any(m["role"] == "system" for m in turns):
        raise ApplicationError("a system message may only come first", where=where)
    if not turns or turns[0]["role"] != "user":
        raise ApplicationError("the first turn after the system prompt must be the user's", where=where)
    for previous, current in zip(turns, turns[1:]):
        if previous["role"] == current["role"] == "user" or (
            previous["role"] == current["role"] == "assistant" and not previous.get("tool_calls")
        ):
            raise ApplicationError(f"two {current['role']} turns in a row", where=where)
    if ends_with_assistant and clean[-1]["role"] != "assistant":
        raise ApplicationError("the conversation must end with an assistant answer", where=where)
    if ends_with_assistant and all(m.get("weight") == 0 for m in clean if m["role"] == "assistant"):
        raise ApplicationError("every assistant message has weight 0, so nothing would be learned", where=where)
    if not ends_with_assistant and clean[-1]["role"] == "assistant":
        raise ApplicationError("the prompt must not end with an assistant answer", where=where)
    return clean


def canonical_validate(row: dict, *, where: str = "", max_chars: int = MAX_RECORD_CHARS) -> dict:
    """Check a canonical row and return it cleaned (normalised text, known keys only); `max_chars` bounds its JSON
    size."""
    return canonical_checked(row, where=where, max_chars=max_chars)[0]


def canonical_checked(row: dict, *, where: str = "", max_chars: int = MAX_RECORD_CHARS) -> tuple[dict, dict[str, str]]:
    """canonical_validate, also returning the clean row's fields as compact JSON text (see canonical_parts).

    The import serialises each record once and reuses the text for the size check, the content hash and COPY.
    """
    kind = row.get("kind", "sft")
    if kind == "sft":
        clean = {
            "kind": "sft",
            "messages": _conversation(row.get("messages"), f"{where}messages", ends_with_assistant=True),
        }
        if row.get("tools"):
            clean["tools"] = row["tools"]
    elif kind == "preference":
        prompt = _conversation(row.get("messages"), f"{where}prompt", ends_with_assistant=False)
        chosen = _message(row.get("chosen"), f"{where}chosen")
        rejected = _message(row.get("rejected"), f"{where}rejected")
        for name, answer in (("chosen", chosen), ("rejected", rejected)):
            if answer["role"] != "assistant":
                raise ApplicationError(
                    f"the {name} answer must be an assistant message, not {answer['role']!r}",
                    where=f"{where}{name}.role",
                )
            if answer.get("weight") == 0:
                raise ApplicationError(f"the {name} answer is always learned; weight 0 belongs to conversations",
                                       where=f"{where}{name}.weight")
        if chosen["content"].strip() == rejected["content"].strip():
            raise ApplicationError("chosen and rejected are the same answer", where=f"{where}chosen")
        clean = {"kind": "preference", "messages": prompt, "chosen": chosen, "rejected": rejected}
    elif kind == "kto":
        if not isinstance(row.get("label"), bool):
            raise ApplicationError("label must be true or false", where=f"{where}label")
        clean = {
            "kind": "kto",
            "messages": _conversation(row.get("messages"), f"{where}messages", ends_with_assistant=True),
            "label": row["label"],
        }
        if clean["messages"][-1].get("weight") == 0:
            raise ApplicationError("the completion is always learned; weight 0 belongs to earlier turns",
                                   where=f"{where}messages[{len(clean['messages']) - 1}].weight")
    else:
        raise ApplicationError(f"unknown record kind {kind!r}", where=f"{where}kind")
    try:
        parts = canonical_parts(clean)
    except ApplicationError as exc:
        raise ApplicationError(exc.message, where=where or "record", code=exc.code) from exc
    size = len(canonical_json(parts))
    if size > max_chars:
        raise ApplicationError(
            f"record is {size} characters; the limit is {max_chars}", where=where or "record", code="oversize"
        )
    return clean, parts


# The fields a record's content hash covers, in sorted order (the hashed text is a key-sorted JSON object).
HASHED_FIELDS = ("chosen", "kind", "label", "messages", "rejected", "tools")


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def _compact(value) -> str:
    """Compact, key-sorted JSON with non-ASCII kept: orjson writes the same text as the json module, ten times faster;
    the json module takes what orjson refuses (integers beyond 64 bits, non-text keys); text with a lone surrogate is
    refused, as no UTF-8 text can hold it."""
    try:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()
    except TypeError:
        pass
    text = json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    if _LONE_SURROGATE.search(text):
        # JSON may escape half of a UTF-16 pair ("\ud800"); no UTF-8 text, and so no record, can hold it.
        raise ApplicationError("the text holds a lone UTF-16 surrogate (a \\ud800-\\udfff escape without its pair); "
                               "fix or remove it", code="lone_surrogate")
    return text


_SCALARS = {None: "null", True: "true", False: "false"}


def canonical_parts(clean: dict) -> dict[str, str]:
    """Each hashed field of a clean row as compact, key-sorted JSON text ("null" when absent)."""
    get = clean.get
    return {
        "chosen": "null" if get("chosen") is None else _compact(clean["chosen"]),
        "kind": f'"{clean["kind"]}"' if clean.get("kind") in ("sft", "preference", "kto") else _compact(get("kind")),
        "label": _SCALARS[get("label")] if get("label") in _SCALARS else _compact(get("label")),
        "messages": _compact(get("messages")),
        "rejected": "null" if get("rejected") is None else _compact(clean["rejected"]),
        "tools": "null" if get("tools") is None else _compact(clean["tools"]),
    }


def canonical_json(parts: dict[str, str]) -> str:
    """The clean row as one compact, key-sorted JSON object: what its size is measured on and its hash taken of."""
    return (
        f'{{"chosen":{parts["chosen"]},"kind":{parts["kind"]},"label":{parts["label"]},"messages":{parts["messages"]},'
        f'"rejected":{parts["rejected"]},"tools":{parts["tools"]}}}'
    )


def _sha256(value) -> str:
    """SHA-256 of _compact(value) in UTF-8; orjson's bytes are that already, so they are hashed as they come."""
    try:
        return hashlib.sha256(orjson.dumps(value, option=orjson.OPT_SORT_KEYS)).hexdigest()
    except TypeError:
        pass
    return hashlib.sha256(_compact(value).encode()).hexdigest()


def content_hash(clean: dict, *, parts: dict[str, str] | None = None) -> str:
    """SHA-256 of the canonical content; pass `parts` (from canonical_checked) to skip serialising again."""
    return hashlib.sha256(canonical_json(parts or canonical_parts(clean)).encode()).hexdigest()


def prompt_hash(clean: dict) -> str:
    """Groups records that share a prompt, so they land in the same split."""
    messages = prompt_turns(clean["messages"], clean["kind"])
    return _sha256([normalised_text(m["content"]) for m in messages if m["role"] != "system"])

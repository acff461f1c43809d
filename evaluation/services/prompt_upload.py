"""A study's prompt set from an uploaded JSONL file instead of a dataset version's split."""

import json
from collections.abc import Iterator

from common.errors import ApplicationError
from common.json_limits import json_loads

UPLOAD_MAX_BYTES = 20 * 1024 * 1024
ROLES = {"system", "user", "assistant", "tool"}


def _conversation(value, *, line: int) -> list[dict]:
    where = f"prompts line {line}"
    messages = value.get("messages") if isinstance(value, dict) else value
    if not isinstance(messages, list) or not messages:
        raise ApplicationError('expected {"messages": [...]} or a list of messages', where=where)
    clean = []
    for i, message in enumerate(messages):
        if (
            not isinstance(message, dict)
            or message.get("role") not in ROLES
            or not isinstance(message.get("content"), str)
        ):
            raise ApplicationError(
                f"message {i} needs a role ({', '.join(sorted(ROLES))}) and text content", where=where
            )
        clean.append({"role": message["role"], "content": message["content"]})
    # As with a dataset record: the prompt is everything before a final assistant answer.
    if clean[-1]["role"] == "assistant":
        clean = clean[:-1]
    if not clean or clean[-1]["role"] == "assistant":
        raise ApplicationError("the conversation has nothing for a model to answer", where=where)
    return clean


def jsonl_values(*, data: bytes, where: str) -> Iterator[tuple[int, object]]:
    """(line number, parsed JSON) of each non-blank line of an uploaded UTF-8 JSONL file of at most UPLOAD_MAX_BYTES,
    one at a time (so a caller's check of line N comes before the parse of line N+1). Raises ApplicationError at
    `where` (the file) or "`where` line N" (a line that is not JSON)."""
    if len(data) > UPLOAD_MAX_BYTES:
        raise ApplicationError(f"the file is {len(data)} bytes; the limit is {UPLOAD_MAX_BYTES}", where=where)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise ApplicationError(f"the file is not UTF-8 text (byte {error.start})", where=where) from error
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            value = json_loads(line, where=f"{where} line {number}")
        except json.JSONDecodeError as error:
            raise ApplicationError(f"not JSON: {error.msg}", where=f"{where} line {number}") from error
        yield number, value


def prompts_parse_jsonl(*, data: bytes) -> list[list[dict]]:
    """The conversations of a JSONL upload, one per non-blank line: {"messages": [...]} or a bare list of messages.

    A final assistant turn is dropped (it is the reference answer, not part of the prompt). Raises ApplicationError
    naming the line for anything else.
    """
    conversations = [_conversation(value, line=number) for number, value in jsonl_values(data=data, where="prompts")]
    if not conversations:
        raise ApplicationError("the file holds no prompts", where="prompts")
    return conversations


def prompts_check(prompts: list) -> list[list[dict]]:
    """Conversations given directly (the API's JSON body), checked like an upload's lines."""
    if not prompts:
        raise ApplicationError("no prompts given", where="prompts")
    return [_conversation(value, line=i + 1) for i, value in enumerate(prompts)]

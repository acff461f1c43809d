"""Import rows → canonical records: (line number, original row) → canonical row.

Two layers, kept apart so each can be tested alone:
- `file_rows(path)` (in datahub.files) finds the encoding and the container and yields each row
  with the line it starts on;
- `row_canonical(row, format=..., line=...)` turns one row in a known format into a canonical row
  (datahub.canonical), raising ApplicationError("field 'output' is missing", where="line 7") on bad rows.

Formats:
  alpaca             {"instruction", "input"?, "output", "system"?, "history"?: [[user, assistant], ...]}
  sharegpt           {"conversations": [{"from", "value"}, ...], "system"?, "tools"?}; from is human/user,
                     gpt/assistant, system, function_call (→ assistant tool_calls) or observation (→ tool message)
  firefly            {"conversation": [{"human", "assistant"}, ...], "system"?}
  messages           {"messages": [{"role", "content"}, ...], "tools"?} (OpenAI / TRL conversational; typed content
                     parts)
  prompt_completion  {"prompt", "completion"}: text or messages (TRL's prompt-completion SFT)
  preference         {"prompt"?, "chosen", "rejected", "system"?}; prompt is text or messages; chosen and rejected are
                     text, one message, or a message list whose leading turns are the prompt (UltraFeedback style);
                     HH-RLHF transcripts ("\\n\\nHuman: … \\n\\nAssistant: …"); ShareGPT pairs
                     (conversations + chosen/rejected {"from", "value"}); LLaMA-Factory v1
                     chosen_messages / rejected_messages
  kto                {"messages", "label"}, TRL's {"prompt", "completion", "label"}, or ShareGPT with "kto_tag"
"""

import json
import re

from common.errors import ApplicationError
from common.json_limits import json_loads
from datahub.canonical import MAX_RECORD_CHARS, canonical_checked

AUTO = "auto"
FORMATS = ("alpaca", "sharegpt", "firefly", "messages", "prompt_completion", "preference", "kto")

# ---------------------------------------------------------------- one row: column mapping, format → canonical


def column_map_check(column_map: dict | None) -> dict:
    """A mapping {field the format expects: column in the file}, e.g. {"instruction": "question", "output":
    "answer"}."""
    if not column_map:
        return {}
    if not isinstance(column_map, dict) or not all(
        isinstance(k, str) and isinstance(v, str) and k and v for k, v in column_map.items()
    ):
        raise ApplicationError("the column mapping must map field names to column names, both text", where="column_map")
    return dict(column_map)


def row_remap(row: object, column_map: dict) -> object:
    """The row with mapped columns renamed to the fields the formats read; other columns are kept."""
    if not column_map or not isinstance(row, dict):
        return row
    renamed = {column for column in column_map.values()}
    out = {k: v for k, v in row.items() if k not in renamed}
    for field, column in column_map.items():
        if column in row:
            out[field] = row[column]
    return out


def row_format(row: object, *, line: int) -> str:
    """Tell a row's format from its fields (used on the first row when the format is "auto")."""
    fields = _fields(row, line)
    if "conversations" in fields:
        if "chosen" in fields or "rejected" in fields:
            return "preference"
        return "kto" if "kto_tag" in fields else "sharegpt"
    if isinstance(fields.get("conversation"), list):
        return "firefly"
    if "label" in fields and ("messages" in fields or "completion" in fields):
        return "kto"
    if any(name in fields for name in ("chosen", "rejected", "chosen_messages", "rejected_messages")):
        return "preference"
    if "messages" in fields:
        return "messages"
    if "prompt" in fields and "completion" in fields:
        return "prompt_completion"
    if "instruction" in fields or "output" in fields:
        return "alpaca"
    listed = ", ".join(sorted(fields)[:8]) or "none"
    raise ApplicationError(
        f"cannot tell the row format from its fields ({listed}); expected Alpaca (instruction, output), ShareGPT "
        "(conversations), "
        "messages, prompt/completion, prompt/chosen/rejected, or messages with a label; choose a format or map the "
        "columns",
        where=f"line {line}",
        code="unknown_format",
    )


def row_canonical(row: object, *, format: str, line: int, max_chars: int = MAX_RECORD_CHARS) -> dict:
    """Convert one row of the given format (not "auto") and validate it as a canonical row."""
    return row_canonical_checked(row, format=format, line=line, max_chars=max_chars)[0]


def row_canonical_checked(
    row: object, *, format: str, line: int, max_chars: int = MAX_RECORD_CHARS
) -> tuple[dict, dict[str, str]]:
    """row_canonical, also returning the fields as JSON text (datahub.canonical.canonical_checked)."""
    fields = _fields(row, line)
    where = f"line {line}"
    reader = _READERS.get(format)
    if reader is None:
        raise ApplicationError(f"unknown format {format!r}; choose auto, {', '.join(FORMATS)}", where="format")
    clean = reader(fields, where)
    try:
        return canonical_checked(clean, where=f"{where}, ", max_chars=max_chars)
    except ApplicationError as exc:
        raise ApplicationError(exc.message, where=exc.where.rstrip(", "), code=exc.code) from exc


def _fields(row: object, line: int) -> dict:
    if not isinstance(row, dict):
        raise ApplicationError(f"a row must be a JSON object, not {_json_type(row)}", where=f"line {line}")
    return row


def _json_type(value: object) -> str:
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, str):
        return "text"
    if value is None:
        return "null"
    return "a number"


def _required(row: dict, name: str, where: str):
    if name not in row or row[name] is None:
        raise ApplicationError(f"field {name!r} is missing", where=where, code="missing_field")
    return row[name]


def _text(row: dict, name: str, where: str, *, required: bool) -> str:
    value = _required(row, name, where) if required else row.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ApplicationError(f"field {name!r} must be text, not {_json_type(value)}", where=where)
    if required and not value.strip():
        raise ApplicationError(f"field {name!r} is empty", where=where, code="empty_field")
    return value


def _with_system(messages: list, row: dict, where: str) -> list:
    system = _text(row, "system", where, required=False)
    if system.strip() and not (messages and isinstance(messages[0], dict) and messages[0].get("role") == "system"):
        return [{"role": "system", "content": system}, *messages]
    return messages


def _alpaca(row: dict, where: str) -> dict:
    instruction = _text(row, "instruction", where, required=True)
    output = _text(row, "output", where, required=True)
    extra_input = _text(row, "input", where, required=False)
    history = row.get("history") or []
    if not isinstance(history, list):
        raise ApplicationError("field 'history' must be a list of [question, answer] pairs", where=where)
    messages = []
    for i, pair in enumerate(history):
        if not (isinstance(pair, list) and len(pair) == 2 and all(isinstance(p, str) for p in pair)):
            raise ApplicationError(f"history[{i}] must be a [question, answer] pair of texts", where=where)
        messages += [{"role": "user", "content": pair[0]}, {"role": "assistant", "content": pair[1]}]
    # LLaMA-Factory's convention: the input follows the instruction on a new line.
    prompt = f"{instruction}\n{extra_input}" if extra_input.strip() else instruction
    messages += [{"role": "user", "content": prompt}, {"role": "assistant", "content": output}]
    return {"kind": "sft", "messages": _with_system(messages, row, where)}


# ShareGPT speaker names → canonical roles; "function_call" becomes an assistant tool call.
_SHAREGPT_ROLES = {
    "human": "user",
    "user": "user",
    "gpt": "assistant",
    "assistant": "assistant",
    "chatgpt": "assistant",
    "model": "assistant",
    "bing": "assistant",
    "bard": "assistant",
    "system": "system",
    "function_call": "function_call",
    "observation": "tool",
    "tool": "tool",
    "function": "tool",
}


def _tool_calls(value: str, first_id: int, where: str) -> list[dict]:
    """A ShareGPT function_call value ({"name", "arguments"} or a list of them) as OpenAI tool calls (arguments as JSON
    text)."""
    try:
        parsed = json_loads(value, where=where)
    except json.JSONDecodeError as exc:
        raise ApplicationError("a function_call turn must hold JSON with name and arguments", where=where) from exc
    calls = parsed if isinstance(parsed, list) else [parsed]
    out = []
    for offset, call in enumerate(calls):
        if not (isinstance(call, dict) and isinstance(call.get("name"), str) and call["name"]):
            raise ApplicationError("a function_call turn must name the function", where=where)
        arguments = call.get("arguments", {})
        out.append(
            {
                "id": f"call_{first_id + offset}",
                "type": "function",
                "function": {
                    "name": call["name"],
                    "arguments": arguments if isinstance(arguments, str) else json.dumps(arguments, ensure_ascii=False),
                },
            }
        )
    return out


def _sharegpt_turns(turns, name: str, where: str) -> list[dict]:
    if not isinstance(turns, list):
        raise ApplicationError(f"field {name!r} must be a list of turns, not {_json_type(turns)}", where=where)
    messages: list[dict] = []
    call_ids: list[str] = []
    for i, turn in enumerate(turns):
        if not isinstance(turn, dict):
            raise ApplicationError(f"{name}[{i}] must be an object with from and value", where=where)
        sender = turn.get("from", turn.get("role"))
        value = turn.get("value", turn.get("content"))
        role = _SHAREGPT_ROLES.get(str(sender).lower())
        if role is None:
            raise ApplicationError(
                f"{name}[{i}].from is {sender!r}; expected human, gpt, system, function_call or observation",
                where=where,
            )
        if not isinstance(value, str):
            raise ApplicationError(f"{name}[{i}].value must be text, not {_json_type(value)}", where=where)
        if role == "function_call":
            calls = _tool_calls(value, len(call_ids), f"{where}, {name}[{i}]")
            call_ids += [c["id"] for c in calls]
            previous = messages[-1] if messages else None
            if previous is not None and previous["role"] == "assistant":
                # "Let me look that up" followed by the call is one assistant turn that says something and calls.
                previous["tool_calls"] = [*previous.get("tool_calls", []), *calls]
            else:
                messages.append({"role": "assistant", "content": "", "tool_calls": calls})
        elif role == "tool":
            message = {"role": "tool", "content": value}
            if call_ids:
                message["tool_call_id"] = call_ids[-1]
            messages.append(message)
        else:
            messages.append({"role": role, "content": value})
    return messages


def _sharegpt(row: dict, where: str) -> dict:
    messages = _sharegpt_turns(_required(row, "conversations", where), "conversations", where)
    clean = {"kind": "sft", "messages": _with_system(messages, row, where)}
    tools = _tools(row, where)
    if tools:
        clean["tools"] = tools
    return clean


def _firefly(row: dict, where: str) -> dict:
    turns = _required(row, "conversation", where)
    if not isinstance(turns, list):
        raise ApplicationError(f"field 'conversation' must be a list of turns, not {_json_type(turns)}", where=where)
    messages = []
    for i, turn in enumerate(turns):
        if not (
            isinstance(turn, dict) and isinstance(turn.get("human"), str) and isinstance(turn.get("assistant"), str)
        ):
            raise ApplicationError(f"conversation[{i}] must be an object with human and assistant texts", where=where)
        messages += [{"role": "user", "content": turn["human"]}, {"role": "assistant", "content": turn["assistant"]}]
    return {"kind": "sft", "messages": _with_system(messages, row, where)}


def _message_list(value, name: str, where: str) -> list:
    if not isinstance(value, list):
        raise ApplicationError(f"field {name!r} must be a list of messages, not {_json_type(value)}", where=where)
    if value and all(isinstance(m, dict) and "from" in m and "value" in m for m in value):
        return _sharegpt_turns(value, name, where)
    return [_flatten_content(m) for m in value]


def _flatten_content(message):
    """Typed content parts ([{"type": "text", "text": ...}]) become plain text; other parts are refused."""
    if isinstance(message, dict) and "from" in message and "value" in message and "role" not in message:
        return _sharegpt_turns([message], "message", "")[0]
    if not isinstance(message, dict) or not isinstance(message.get("content"), list):
        return message
    texts = []
    for part in message["content"]:
        if not (isinstance(part, dict) and part.get("type") in ("text", "input_text", "output_text")):
            kind = part.get("type") if isinstance(part, dict) else _json_type(part)
            raise ApplicationError(f"only text content is supported, found a {kind!r} part")
        texts.append(part.get("text", part.get("value", "")))
    return {**message, "content": "".join(str(t) for t in texts)}


def _tools(row: dict, where: str):
    tools = row.get("tools")
    if isinstance(tools, str) and tools.strip():
        try:
            tools = json_loads(tools, where=where)
        except json.JSONDecodeError as exc:
            raise ApplicationError("field 'tools' is text that is not JSON", where=where) from exc
    if tools in (None, "", []):
        return None
    if isinstance(tools, dict):
        tools = [tools]
    if not isinstance(tools, list):
        raise ApplicationError(f"field 'tools' must be a list, not {_json_type(tools)}", where=where)
    return tools


def _with_where(func, where: str):
    try:
        return func()
    except ApplicationError as exc:
        if exc.where:
            raise
        raise ApplicationError(exc.message, where=where, code=exc.code) from exc


def _messages(row: dict, where: str) -> dict:
    messages = _with_where(lambda: _message_list(_required(row, "messages", where), "messages", where), where)
    clean = {"kind": "sft", "messages": _with_system(messages, row, where)}
    tools = _tools(row, where)
    if tools:
        clean["tools"] = tools
    return clean


def _prompt(value, where: str) -> list:
    if isinstance(value, str):
        if not value.strip():
            raise ApplicationError("field 'prompt' is empty", where=where, code="empty_field")
        return [{"role": "user", "content": value}]
    return _with_where(lambda: _message_list(value, "prompt", where), where)


def _prompt_completion(row: dict, where: str) -> dict:
    prompt = _prompt(_required(row, "prompt", where), where)
    lead, completion = _answer(_required(row, "completion", where), "completion", where)
    clean = {"kind": "sft", "messages": _with_system([*prompt, *lead, completion], row, where)}
    tools = _tools(row, where)
    if tools:
        clean["tools"] = tools
    return clean


def _answer(value, name: str, where: str) -> tuple[list, dict]:
    """(leading turns, the answer message) from text, one message, or a message list ending with the answer."""
    if isinstance(value, str):
        return [], {"role": "assistant", "content": value}
    if isinstance(value, dict):
        return [], _with_where(lambda: _flatten_content(value), where)
    if isinstance(value, list):
        if not value:
            raise ApplicationError(f"field {name!r} is an empty list", where=where, code="empty_field")
        messages = _with_where(lambda: _message_list(value, name, where), where)
        return messages[:-1], messages[-1]
    raise ApplicationError(
        f"field {name!r} must be text, a message or a list of messages, not {_json_type(value)}", where=where
    )


_HH_TURN = re.compile(r"\n\n(Human|Assistant):[ ]?")


def _hh_turns(text: str) -> list[dict]:
    """An HH-RLHF transcript ("\\n\\nHuman: …\\n\\nAssistant: …") as messages.

    Two blocks by the same speaker in a row are one turn continued (the transcripts hold a few), so they are joined.
    """
    pieces = _HH_TURN.split(text if text.startswith("\n\n") else "\n\n" + text.lstrip("\n"))
    messages: list[dict] = []
    for speaker, said in zip(pieces[1::2], pieces[2::2]):
        role = "user" if speaker == "Human" else "assistant"
        if messages and messages[-1]["role"] == role:
            messages[-1]["content"] += "\n\n" + said.strip()
        else:
            messages.append({"role": role, "content": said.strip()})
    return messages


def _hh_pair(chosen_text: str, rejected_text: str, where: str) -> dict:
    """Prompt = the turns both transcripts share, up to the last shared user turn (TRL's extract_prompt rule);
    each answer = the one assistant turn that follows."""
    chosen_turns, rejected_turns = _hh_turns(chosen_text), _hh_turns(rejected_text)
    shared = 0
    while shared < min(len(chosen_turns), len(rejected_turns)) and chosen_turns[shared] == rejected_turns[shared]:
        shared += 1
    while shared and chosen_turns[shared - 1]["role"] != "user":
        shared -= 1
    answers = []
    for name, turns in (("chosen", chosen_turns), ("rejected", rejected_turns)):
        rest = turns[shared:]
        if not shared or len(rest) != 1 or rest[0]["role"] != "assistant":
            raise ApplicationError(
                f"the {name} transcript must be the shared dialogue followed by one Assistant: answer", where=where
            )
        answers.append(rest[0])
    return {"kind": "preference", "messages": chosen_turns[:shared], "chosen": answers[0], "rejected": answers[1]}


def _is_hh(value) -> bool:
    return isinstance(value, str) and value.lstrip("\n").startswith("Human:") and "\n\nAssistant:" in value


def _preference(row: dict, where: str) -> dict:
    chosen_value = row.get("chosen_messages", row.get("chosen"))
    rejected_value = row.get("rejected_messages", row.get("rejected"))
    chosen_name = "chosen_messages" if "chosen_messages" in row else "chosen"
    rejected_name = "rejected_messages" if "rejected_messages" in row else "rejected"
    if chosen_value is None:
        raise ApplicationError(f"field {chosen_name!r} is missing", where=where, code="missing_field")
    if rejected_value is None:
        raise ApplicationError(f"field {rejected_name!r} is missing", where=where, code="missing_field")
    if "prompt" not in row and "conversations" not in row and _is_hh(chosen_value) and _is_hh(rejected_value):
        # HH-RLHF repeats the whole dialogue in both transcripts.
        return _hh_pair(chosen_value, rejected_value, where)
    chosen_lead, chosen = _answer(chosen_value, chosen_name, where)
    rejected_lead, rejected = _answer(rejected_value, rejected_name, where)
    if chosen_lead != rejected_lead and chosen_lead and rejected_lead:
        raise ApplicationError("chosen and rejected continue different conversations", where=where)
    lead = chosen_lead or rejected_lead
    if lead:
        # UltraFeedback-style rows repeat the prompt inside chosen/rejected; those turns carry the roles, so they win.
        prompt = lead
    elif "conversations" in row:
        prompt = _sharegpt_turns(row["conversations"], "conversations", where)
    else:
        prompt = _prompt(_required(row, "prompt", where), where)
    return {"kind": "preference", "messages": _with_system(prompt, row, where), "chosen": chosen, "rejected": rejected}


def _kto_label(row: dict, where: str) -> bool:
    name = "label" if "label" in row else "kto_tag"
    label = _required(row, name, where)
    if not isinstance(label, bool):
        raise ApplicationError(f"field {name!r} must be true or false, not {_json_type(label)}", where=where)
    return label


def _kto(row: dict, where: str) -> dict:
    label = _kto_label(row, where)
    if "messages" in row:
        messages = _with_where(lambda: _message_list(row["messages"], "messages", where), where)
    elif "conversations" in row:
        messages = _sharegpt_turns(row["conversations"], "conversations", where)
    else:
        lead, completion = _answer(_required(row, "completion", where), "completion", where)
        messages = [*_prompt(_required(row, "prompt", where), where), *lead, completion]
    return {"kind": "kto", "messages": _with_system(messages, row, where), "label": label}


_READERS = {"alpaca": _alpaca, "sharegpt": _sharegpt, "firefly": _firefly, "messages": _messages,
            "prompt_completion": _prompt_completion, "preference": _preference, "kto": _kto}

"""OpenAI's training-file formats, read line by line into Whetstone's canonical records.

supervised  {"messages": [...], "tools"?: [...], "parallel_tool_calls"?: bool}
            messages: system | developer | user | assistant | tool; content a string or text parts; an assistant
            message may carry tool_calls and "weight" (0 or 1: OpenAI's switch for learning that message or not;
            the record keeps 0, and training reads that message without learning it)
dpo         {"input": {"messages": [...], "tools"?, "parallel_tool_calls"?},
             "preferred_output": [{"role": "assistant", ...}], "non_preferred_output": [{"role": "assistant", ...}]}

Every error names the line (1-based) and the field, e.g. `line 3: messages[1].role: ...`. The first line decides
the file's kind; every other line must be of the same kind.
"""

import json

from common.errors import ApplicationError
from common.json_limits import MAX_DEPTH, json_too_deep
from datahub.canonical import canonical_validate

SUPERVISED, DPO = "supervised", "dpo"
ROLES = {"system", "developer", "user", "assistant", "tool"}
MAX_LINES = 100_000


def _fail(line: int, field: str, message: str):
    raise ApplicationError(
        message, where=f"line {line}: {field}" if field else f"line {line}", code="invalid_file_format"
    )


def _content(value, line: int, field: str):
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, list):
        texts = []
        for index, part in enumerate(value):
            if not isinstance(part, dict) or part.get("type") != "text" or not isinstance(part.get("text"), str):
                _fail(line, f"{field}[{index}]", "only text parts ({\"type\": \"text\", \"text\": ...}) are supported")
            texts.append(part["text"])
        return "".join(texts)
    _fail(line, field, f"content must be a string or a list of text parts, not {type(value).__name__}")


def _tool_calls(value, line: int, field: str) -> list:
    if not isinstance(value, list) or not value:
        _fail(line, field, "tool_calls must be a non-empty list")
    for index, call in enumerate(value):
        where = f"{field}[{index}]"
        function = call.get("function") if isinstance(call, dict) else None
        if not isinstance(function, dict) or not isinstance(function.get("name"), str) or not function["name"]:
            _fail(line, f"{where}.function.name", "each tool call needs function.name")
        if not isinstance(function.get("arguments", ""), str):
            _fail(line, f"{where}.function.arguments", "arguments must be a JSON string")
    return value


def _messages(value, line: int, field: str) -> list[dict]:
    if not isinstance(value, list) or not value:
        _fail(line, field, "expected a non-empty list of messages")
    clean = []
    for index, message in enumerate(value):
        where = f"{field}[{index}]"
        if not isinstance(message, dict):
            _fail(line, where, "a message must be an object with role and content")
        role = message.get("role")
        if role not in ROLES:
            _fail(line, f"{where}.role", f"unknown role {role!r}; expected one of {', '.join(sorted(ROLES))}")
        if "weight" in message:
            if role != "assistant":
                _fail(line, f"{where}.weight", "only assistant messages take a weight")
            if message["weight"] not in (0, 1) or isinstance(message["weight"], bool):
                _fail(line, f"{where}.weight", f"weight must be 0 or 1, not {message['weight']!r}")
        content = _content(message.get("content"), line, f"{where}.content")
        out = {"role": "system" if role == "developer" else role, "content": content}
        if message.get("tool_calls") is not None:
            if role != "assistant":
                _fail(line, f"{where}.tool_calls", "only assistant messages make tool calls")
            out["tool_calls"] = _tool_calls(message["tool_calls"], line, f"{where}.tool_calls")
        for key in ("name", "tool_call_id"):
            if message.get(key) is not None:
                out[key] = message[key]
        if "weight" in message:
            out["weight"] = message["weight"]  # the record keeps weight 0 (datahub.canonical); training skips that turn
        if content is None and "tool_calls" not in out:
            _fail(line, f"{where}.content", "message has no content")
        clean.append(out)
    return clean


def _tools(row: dict, line: int, prefix: str):
    tools = row.get("tools")
    if tools is not None:
        if not isinstance(tools, list) or not all(isinstance(tool, dict) for tool in tools):
            _fail(line, f"{prefix}tools", "tools must be a list of tool definitions")
    parallel = row.get("parallel_tool_calls")
    if parallel is not None and not isinstance(parallel, bool):
        _fail(line, f"{prefix}parallel_tool_calls", "parallel_tool_calls must be true or false")
    return tools or None


def _canonical(row: dict, line: int, field: str) -> dict:
    """Our own rules on top (turn order, an answer at the end), with the line in front of the field they name."""
    try:
        return canonical_validate(row)
    except ApplicationError as error:
        where = error.where.replace("messages", field, 1) if field != "messages" else error.where
        _fail(line, where, error.message)


def _supervised(row: dict, line: int) -> dict:
    if "messages" not in row:
        _fail(line, "messages", "a supervised example needs 'messages'")
    messages = _messages(row["messages"], line, "messages")
    if not any(message["role"] == "assistant" for message in messages):
        _fail(line, "messages", "the example has no assistant message to learn")
    clean = {"kind": "sft", "messages": messages}
    tools = _tools(row, line, "")
    if tools:
        clean["tools"] = tools
    return _canonical(clean, line, "messages")


def _output(row: dict, name: str, line: int) -> dict:
    value = row.get(name)
    if not isinstance(value, list) or len(value) != 1:
        _fail(line, name, f"{name} must be a list holding one assistant message")
    message = _messages(value, line, name)[0]
    if message["role"] != "assistant":
        _fail(line, f"{name}[0].role", f"the {name} must be an assistant message, not {message['role']!r}")
    return message


def _dpo(row: dict, line: int) -> dict:
    source = row.get("input")
    if not isinstance(source, dict):
        _fail(line, "input", "a DPO example needs 'input' with its 'messages'")
    prompt = _messages(source.get("messages"), line, "input.messages")
    _tools(source, line, "input.")
    clean = {"kind": "preference", "messages": prompt, "chosen": _output(row, "preferred_output", line),
             "rejected": _output(row, "non_preferred_output", line)}
    try:
        return canonical_validate(clean)
    except ApplicationError as error:
        where = error.where.replace("prompt", "input.messages", 1).replace("chosen", "preferred_output[0]", 1)
        where = where.replace("rejected", "non_preferred_output[0]", 1)
        _fail(line, where, error.message)


def row_kind(row) -> str:
    return DPO if isinstance(row, dict) and "preferred_output" in row else SUPERVISED


def training_file_read(data: bytes) -> tuple[str, list[tuple[int, dict, dict]]]:
    """(kind, [(line, original row, canonical row)]) of a JSONL training file, or ApplicationError naming the line
    and the field of the first problem. Blank lines are skipped, as OpenAI does."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise ApplicationError(f"the file is not UTF-8 text (byte {error.start})", where="file",
                               code="invalid_file_format") from error
    kind, rows = None, []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        if len(rows) >= MAX_LINES:
            raise ApplicationError(
                f"the file has more than {MAX_LINES} examples", where="file", code="invalid_file_format"
            )
        if json_too_deep(line.encode("utf-8")):
            _fail(number, "", f"the JSON nests deeper than {MAX_DEPTH} levels, the limit")
        try:
            row = json.loads(line)
        except json.JSONDecodeError as error:
            _fail(number, "", f"not valid JSON: {error.msg} (column {error.colno})")
        if not isinstance(row, dict):
            _fail(number, "", "each line must be a JSON object")
        this_kind = row_kind(row)
        if kind is None:
            kind = this_kind
        elif this_kind != kind:
            _fail(number, "", f"a {this_kind} example in a {kind} file; the first line decides the format")
        clean = _dpo(row, number) if kind == DPO else _supervised(row, number)
        rows.append((number, row, clean))
    if not rows:
        raise ApplicationError("the file has no examples", where="file", code="invalid_file_format")
    return kind, rows

"""Reading import files: bytes on disk → (line number, original row, canonical row).

Two layers, kept apart so each can be tested alone:
- `file_rows(path)` finds the encoding (UTF-8 with or without BOM, UTF-16 with BOM) and the container
  (a JSON array, or JSON Lines), and yields each row with the line it starts on;
- `row_canonical(row, format=..., line=...)` turns one row in a known format into a canonical row
  (datahub.canonical), raising ApplicationError("field 'output' is missing", where="line 7") on bad rows.

Formats:
  alpaca      {"instruction", "input"?, "output", "system"?, "history"?: [[user, assistant], ...]}
  messages    {"messages": [{"role", "content"}, ...], "tools"?}              (OpenAI / TRL conversational)
  preference  {"prompt"?, "chosen", "rejected", "system"?}; prompt is text or messages; chosen and rejected are
              text, one message, or a message list whose leading turns are the prompt (UltraFeedback style)
  kto         {"messages", "label"} or TRL's {"prompt", "completion", "label"}
"""

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from common.errors import ApplicationError
from datahub.canonical import canonical_validate

AUTO = "auto"
FORMATS = ("alpaca", "messages", "preference", "kto")

_BINARY_SIGNATURES = {
    b"\x1f\x8b": "a gzip archive",
    b"PK\x03\x04": "a zip archive (or an Excel / Word file)",
    b"%PDF": "a PDF document",
    b"PAR1": "a Parquet file",
    b"\x89PNG": "a PNG image",
    b"\xff\xd8\xff": "a JPEG image",
    b"SQLite format 3": "an SQLite database",
}
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
_UTF8_BOM = b"\xef\xbb\xbf"


@dataclass
class FileRows:
    """An opened import file: its encoding, its container, how many rows it holds, and the rows themselves."""

    encoding: str  # "utf-8", "utf-8-sig" or "utf-16"
    container: str  # "json" (one array) or "jsonl" (one row per line)
    total: int
    rows: Iterator[tuple[int, object]]  # (line the row starts on, parsed row), read lazily for JSONL


# ---------------------------------------------------------------- the file: encoding and container


def _encoding(head: bytes) -> str:
    for signature, what in _BINARY_SIGNATURES.items():
        if head.startswith(signature):
            raise ApplicationError(f"the file is {what}, not JSON or JSONL text", where="line 1", code="wrong_file_type")
    if head.startswith(_UTF8_BOM):
        return "utf-8-sig"
    if head.startswith(_UTF16_BOMS):
        return "utf-16"
    if b"\x00" in head:
        raise ApplicationError("the file is binary (or UTF-16 without a byte-order mark), not JSON or JSONL text",
                               where="line 1", code="wrong_file_type")
    return "utf-8"


def _decode_line(data: bytes, encoding: str, line: int) -> str:
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        raise ApplicationError(f"the text is not valid UTF-8 (byte {exc.start + 1} of the line); save the file as UTF-8 or UTF-16",
                               where=f"line {line}", code="wrong_encoding") from exc


def _utf8_lines(path: Path, encoding: str) -> Iterator[tuple[int, str]]:
    """Lines decoded one at a time, so a bad byte is reported on its own line and memory stays flat."""
    with open(path, "rb") as handle:
        for number, data in enumerate(handle, start=1):
            if number == 1 and encoding == "utf-8-sig":
                data = data[len(_UTF8_BOM):]
            yield number, _decode_line(data, "utf-8", number)


def _text_lines(path: Path, encoding: str) -> Iterator[tuple[int, str]]:
    if encoding == "utf-16":
        # UTF-16 files are rare and small; newline bytes cannot be found without decoding, so decode whole.
        # Split on "\n" only: str.splitlines would also split on U+2028, which JSON strings may hold.
        yield from enumerate(_whole_text(path, encoding).split("\n"), start=1)
    else:
        yield from _utf8_lines(path, encoding)


def _first_char(path: Path, encoding: str) -> tuple[int, str]:
    """The line and first non-blank character of the file; (0, "") for a blank file."""
    for number, text in _text_lines(path, encoding):
        stripped = text.strip()
        if stripped:
            return number, stripped[0]
    return 0, ""


def file_rows(path: Path) -> FileRows:
    """Open a JSON-array or JSONL file; raise ApplicationError when it is not JSON / JSONL text.

    A JSON array is parsed whole (its rows are counted by parsing); JSONL is counted in one pass and then
    read line by line, so memory stays flat however long the file is.
    """
    with open(path, "rb") as handle:
        head = handle.read(4096)
    if not head:
        raise ApplicationError("the file is empty", where="line 1", code="empty_file")
    encoding = _encoding(head)
    line, first = _first_char(path, encoding)
    if not first:
        raise ApplicationError("the file is empty", where="line 1", code="empty_file")
    if first == "[":
        rows = _json_array(path, encoding)
        return FileRows(encoding=encoding, container="json", total=len(rows), rows=iter(rows))
    if first != "{":
        raise ApplicationError(
            f"the file is not JSON or JSONL: it starts with {first!r}, where a JSON array '[' or a JSON object '{{' should be "
            "(CSV, TSV and other formats are not supported)", where=f"line {line}", code="wrong_file_type")
    total = sum(1 for _, text in _text_lines(path, encoding) if text.strip())
    return FileRows(encoding=encoding, container="jsonl", total=total, rows=_jsonl_rows(path, encoding))


def _json_array(path: Path, encoding: str) -> list[tuple[int, object]]:
    """Parse a JSON array element by element, remembering the line each element starts on."""
    text = _whole_text(path, encoding)
    decoder = json.JSONDecoder()
    position, line = text.index("[") + 1, text.count("\n", 0, text.index("[")) + 1
    rows: list[tuple[int, object]] = []

    def skip_space(at: int) -> int:
        nonlocal line
        end = at
        while end < len(text) and text[end] in " \t\r\n":
            end += 1
        line += text.count("\n", at, end)
        return end

    position = skip_space(position)
    if position < len(text) and text[position] == "]":
        raise ApplicationError("the file holds an empty array: there are no rows to import", where=f"line {line}", code="empty_file")
    while True:
        try:
            value, end = decoder.raw_decode(text, position)
        except json.JSONDecodeError as exc:
            raise ApplicationError(f"malformed JSON: {exc.msg} (column {exc.colno})", where=f"line {exc.lineno}",
                                   code="malformed_json") from exc
        rows.append((line, value))
        line += text.count("\n", position, end)
        position = skip_space(end)
        if position >= len(text):
            raise ApplicationError("malformed JSON: the array is not closed with ']'", where=f"line {line}", code="malformed_json")
        if text[position] == "]":
            break
        if text[position] != ",":
            raise ApplicationError(f"malformed JSON: expected ',' or ']' after a row, found {text[position]!r}",
                                   where=f"line {line}", code="malformed_json")
        position = skip_space(position + 1)
    rest = skip_space(position + 1)
    if rest < len(text):
        raise ApplicationError("malformed JSON: there is text after the closing ']'", where=f"line {line}", code="malformed_json")
    return rows


def _whole_text(path: Path, encoding: str) -> str:
    data = path.read_bytes()
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        if encoding == "utf-16":
            raise ApplicationError("the file is not valid UTF-16 text", where="line 1", code="wrong_encoding") from exc
        line = data.count(b"\n", 0, exc.start) + 1
        raise ApplicationError("the text is not valid UTF-8; save the file as UTF-8 or UTF-16", where=f"line {line}",
                               code="wrong_encoding") from exc


def _jsonl_rows(path: Path, encoding: str) -> Iterator[tuple[int, object]]:
    for number, text in _text_lines(path, encoding):
        if not text.strip():
            continue
        try:
            yield number, json.loads(text)
        except json.JSONDecodeError as exc:
            if number == 1 and _whole_file_is_one_object(path, encoding):
                raise ApplicationError("the file holds one JSON object; expected an array of rows, or one row per line (JSONL)",
                                       where="line 1", code="wrong_file_type") from exc
            raise ApplicationError(f"malformed JSON: {exc.msg} (column {exc.colno})", where=f"line {number}",
                                   code="malformed_json") from exc


def _whole_file_is_one_object(path: Path, encoding: str) -> bool:
    try:
        return isinstance(json.loads("".join(text for _, text in _text_lines(path, encoding))), dict)
    except (json.JSONDecodeError, ApplicationError):
        return False


# ---------------------------------------------------------------- one row: format → canonical


def row_format(row: object, *, line: int) -> str:
    """Tell a row's format from its fields (used on the first row when the format is "auto")."""
    fields = _fields(row, line)
    if "conversations" in fields:
        raise ApplicationError("ShareGPT rows ('conversations' with from/value) are not supported; convert them to 'messages'",
                               where=f"line {line}", code="unknown_format")
    if "label" in fields and ("messages" in fields or "completion" in fields):
        return "kto"
    if "chosen" in fields or "rejected" in fields:
        return "preference"
    if "messages" in fields:
        return "messages"
    if "instruction" in fields or "output" in fields:
        return "alpaca"
    listed = ", ".join(sorted(fields)[:8]) or "none"
    raise ApplicationError(
        f"cannot tell the row format from its fields ({listed}); expected Alpaca (instruction, output), "
        "messages, prompt/chosen/rejected, or messages with a label", where=f"line {line}", code="unknown_format")


def row_canonical(row: object, *, format: str, line: int) -> dict:
    """Convert one row of the given format (not "auto") and validate it as a canonical row."""
    fields = _fields(row, line)
    where = f"line {line}"
    if format == "alpaca":
        clean = _alpaca(fields, where)
    elif format == "messages":
        clean = _messages(fields, where)
    elif format == "preference":
        clean = _preference(fields, where)
    elif format == "kto":
        clean = _kto(fields, where)
    else:
        raise ApplicationError(f"unknown format {format!r}; choose auto, {', '.join(FORMATS)}", where="format")
    try:
        return canonical_validate(clean, where=f"{where}, ")
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


def _alpaca(row: dict, where: str) -> dict:
    instruction = _text(row, "instruction", where, required=True)
    output = _text(row, "output", where, required=True)
    extra_input = _text(row, "input", where, required=False)
    system = _text(row, "system", where, required=False)
    history = row.get("history") or []
    if not isinstance(history, list):
        raise ApplicationError("field 'history' must be a list of [question, answer] pairs", where=where)
    messages = [{"role": "system", "content": system}] if system.strip() else []
    for i, pair in enumerate(history):
        if not (isinstance(pair, list) and len(pair) == 2 and all(isinstance(p, str) for p in pair)):
            raise ApplicationError(f"history[{i}] must be a [question, answer] pair of texts", where=where)
        messages += [{"role": "user", "content": pair[0]}, {"role": "assistant", "content": pair[1]}]
    # LLaMA-Factory's convention: the input follows the instruction on a new line.
    prompt = f"{instruction}\n{extra_input}" if extra_input.strip() else instruction
    messages += [{"role": "user", "content": prompt}, {"role": "assistant", "content": output}]
    return {"kind": "sft", "messages": messages}


def _message_list(value, name: str, where: str) -> list:
    if not isinstance(value, list):
        raise ApplicationError(f"field {name!r} must be a list of messages, not {_json_type(value)}", where=where)
    return [_flatten_content(m) for m in value]


def _flatten_content(message):
    """Typed content parts ([{"type": "text", "text": ...}]) become plain text; other parts are refused."""
    if not isinstance(message, dict) or not isinstance(message.get("content"), list):
        return message
    texts = []
    for part in message["content"]:
        if not (isinstance(part, dict) and part.get("type") == "text"):
            kind = part.get("type") if isinstance(part, dict) else _json_type(part)
            raise ApplicationError(f"only text content is supported, found a {kind!r} part")
        texts.append(part.get("text", part.get("value", "")))
    return {**message, "content": "".join(str(t) for t in texts)}


def _tools(row: dict, where: str):
    tools = row.get("tools")
    if isinstance(tools, str) and tools.strip():
        try:
            tools = json.loads(tools)
        except json.JSONDecodeError as exc:
            raise ApplicationError("field 'tools' is text that is not JSON", where=where) from exc
    if tools in (None, "", []):
        return None
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
    clean = {"kind": "sft", "messages": messages}
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
    raise ApplicationError(f"field {name!r} must be text, a message or a list of messages, not {_json_type(value)}", where=where)


def _preference(row: dict, where: str) -> dict:
    chosen_lead, chosen = _answer(_required(row, "chosen", where), "chosen", where)
    rejected_lead, rejected = _answer(_required(row, "rejected", where), "rejected", where)
    if chosen_lead != rejected_lead and chosen_lead and rejected_lead:
        raise ApplicationError("chosen and rejected continue different conversations", where=where)
    lead = chosen_lead or rejected_lead
    # UltraFeedback-style rows repeat the prompt inside chosen/rejected; those turns carry the roles, so they win.
    prompt = lead if lead else _prompt(_required(row, "prompt", where), where)
    system = _text(row, "system", where, required=False)
    if system.strip() and not (prompt and isinstance(prompt[0], dict) and prompt[0].get("role") == "system"):
        prompt = [{"role": "system", "content": system}, *prompt]
    return {"kind": "preference", "messages": prompt, "chosen": chosen, "rejected": rejected}


def _kto(row: dict, where: str) -> dict:
    label = _required(row, "label", where)
    if not isinstance(label, bool):
        raise ApplicationError(f"field 'label' must be true or false, not {_json_type(label)}", where=where)
    if "messages" in row:
        messages = _with_where(lambda: _message_list(row["messages"], "messages", where), where)
    else:
        lead, completion = _answer(_required(row, "completion", where), "completion", where)
        messages = [*_prompt(_required(row, "prompt", where), where), *lead, completion]
    return {"kind": "kto", "messages": messages, "label": label}

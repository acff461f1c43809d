"""Reading import files: bytes on disk → (line number, original row, canonical row).

Two layers, kept apart so each can be tested alone:
- `file_rows(path)` finds the encoding (UTF-8 with or without BOM, UTF-16 with or without BOM, GB18030/GBK)
  and the container (a JSON array, JSON Lines, CSV, TSV or Parquet), and yields each row with the line it
  starts on (for Parquet: the row number);
- `row_canonical(row, format=..., line=...)` turns one row in a known format into a canonical row
  (datahub.canonical), raising ApplicationError("field 'output' is missing", where="line 7") on bad rows.

Formats:
  alpaca             {"instruction", "input"?, "output", "system"?, "history"?: [[user, assistant], ...]}
  sharegpt           {"conversations": [{"from", "value"}, ...], "system"?, "tools"?}; from is human/user, gpt/assistant,
                     system, function_call (→ assistant tool_calls) or observation (→ tool message)
  firefly            {"conversation": [{"human", "assistant"}, ...], "system"?}
  messages           {"messages": [{"role", "content"}, ...], "tools"?}   (OpenAI / TRL conversational; typed content parts)
  prompt_completion  {"prompt", "completion"}: text or messages (TRL's prompt-completion SFT)
  preference         {"prompt"?, "chosen", "rejected", "system"?}; prompt is text or messages; chosen and rejected are
                     text, one message, or a message list whose leading turns are the prompt (UltraFeedback style);
                     HH-RLHF transcripts ("\\n\\nHuman: … \\n\\nAssistant: …"); ShareGPT pairs (conversations + chosen/rejected
                     {"from", "value"}); LLaMA-Factory v1 chosen_messages / rejected_messages
  kto                {"messages", "label"}, TRL's {"prompt", "completion", "label"}, or ShareGPT with "kto_tag"
"""

import csv
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from common.errors import ApplicationError
from datahub.canonical import MAX_RECORD_CHARS, canonical_checked

AUTO = "auto"
FORMATS = ("alpaca", "sharegpt", "firefly", "messages", "prompt_completion", "preference", "kto")
CONTAINERS = ("json", "jsonl", "csv", "tsv", "parquet")

_BINARY_SIGNATURES = {
    b"\x1f\x8b": "a gzip archive",
    b"PK\x03\x04": "a zip archive (or an Excel / Word file)",
    b"%PDF": "a PDF document",
    b"\x89PNG": "a PNG image",
    b"\xff\xd8\xff": "a JPEG image",
    b"SQLite format 3": "an SQLite database",
}
_PARQUET_MAGIC = b"PAR1"
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
_UTF8_BOM = b"\xef\xbb\xbf"
# Encodings tried, in order, when the head of a file is not UTF-8. GB18030 is a superset of GBK and GB2312.
_LEGACY_ENCODINGS = ("gb18030", "big5", "shift_jis", "euc_kr")
_HEAD_BYTES = 65536


@dataclass
class BadRow:
    """A row that could not be parsed (malformed JSON), yielded instead of raising when reading tolerantly."""

    message: str


@dataclass
class FileRows:
    """An opened import file: its encoding, its container, how many rows it holds, and the rows themselves."""

    encoding: str  # "utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-16-be", "gb18030", ... ("binary" for Parquet)
    container: str  # one of CONTAINERS
    total: int
    rows: Iterator[tuple[int, object]]  # (line the row starts on, parsed row), read lazily except for JSON arrays


# ---------------------------------------------------------------- the file: encoding and container


def _utf16_without_bom(head: bytes) -> str | None:
    """ASCII-heavy UTF-16 text without a BOM has a zero in every other byte; say which half."""
    sample = head[:4096]
    if len(sample) < 4:
        return None
    even, odd = sample[0::2], sample[1::2]
    if odd.count(0) >= 0.6 * len(odd) and even.count(0) < 0.1 * len(even):
        return "utf-16-le"
    if even.count(0) >= 0.6 * len(even) and odd.count(0) < 0.1 * len(odd):
        return "utf-16-be"
    return None


def _valid(head: bytes, encoding: str, *, complete: bool) -> bool:
    """Whether `head` decodes; a multi-byte character cut off at the end of a partial head is forgiven."""
    for cut in range(0, 1 if complete else 4):
        try:
            head[:len(head) - cut].decode(encoding)
            return True
        except UnicodeDecodeError:
            continue
    return False


def _encoding(head: bytes, *, complete: bool) -> str:
    for signature, what in _BINARY_SIGNATURES.items():
        if head.startswith(signature):
            raise ApplicationError(f"the file is {what}, not JSON, JSONL, CSV, TSV or Parquet", where="line 1",
                                   code="wrong_file_type")
    if head.startswith(_UTF8_BOM):
        return "utf-8-sig"
    if head.startswith(_UTF16_BOMS):
        return "utf-16"
    if b"\x00" in head:
        guess = _utf16_without_bom(head)
        if guess:
            return guess
        raise ApplicationError("the file is binary, not JSON, JSONL, CSV, TSV or Parquet text", where="line 1", code="wrong_file_type")
    if _valid(head, "utf-8", complete=complete):
        return "utf-8"
    for candidate in _LEGACY_ENCODINGS:
        if _valid(head, candidate, complete=complete) and _cjk_share(head, candidate) > 0.2:
            return candidate
    from charset_normalizer import from_bytes

    best = from_bytes(head, cp_isolation=list(_LEGACY_ENCODINGS)).best()
    if best is not None and best.encoding in _LEGACY_ENCODINGS:
        return best.encoding
    # Mostly UTF-8 with a bad byte further in: read as UTF-8 so the bad line is named.
    return "utf-8"


def _cjk_share(head: bytes, encoding: str) -> float:
    """Share of the non-ASCII characters that are CJK: a real GBK file decodes to Chinese, a Latin-1 file to noise."""
    text = head.decode(encoding, errors="ignore")
    wide = [c for c in text if ord(c) > 127]
    if not wide:
        return 0.0
    return sum(1 for c in wide if "\u3000" <= c <= "\u9fff" or "\uac00" <= c <= "\ud7af" or "\uff00" <= c <= "\uffef") / len(wide)


def _decode_line(data: bytes, line: int) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ApplicationError(f"the text is not valid UTF-8 (byte {exc.start + 1} of the line); save the file as UTF-8 or UTF-16",
                               where=f"line {line}", code="wrong_encoding") from exc


def _text_lines(path: Path, encoding: str) -> Iterator[tuple[int, str]]:
    """Lines decoded one at a time, so memory stays flat and a bad UTF-8 byte is reported on its own line.

    Lines end at \\n, \\r\\n or \\r only: str.splitlines would also split on U+2028, which JSON strings may hold.
    """
    if encoding in ("utf-8", "utf-8-sig"):
        with open(path, "rb") as handle:
            for number, data in enumerate(handle, start=1):
                if number == 1 and encoding == "utf-8-sig":
                    data = data[len(_UTF8_BOM):]
                yield number, _decode_line(data, number)
        return
    try:
        with open(path, encoding=encoding, newline="") as handle:
            yield from enumerate(handle, start=1)
    except UnicodeDecodeError as exc:
        raise ApplicationError(f"the file is not valid {encoding} text", where="line 1", code="wrong_encoding") from exc


def _first_char(path: Path, encoding: str) -> tuple[int, str, str]:
    """The line, first non-blank character and first non-blank line of the file; (0, "", "") for a blank file."""
    for number, text in _text_lines(path, encoding):
        stripped = text.strip()
        if stripped:
            return number, stripped[0], text
    return 0, "", ""


def _container(path: Path, first: str, first_line: str, line: int) -> str:
    suffix = path.suffix.lower()
    if first == "[":
        return "json"
    if first == "{":
        return "jsonl"
    if suffix == ".tsv" or (suffix != ".csv" and "\t" in first_line):
        return "tsv"
    if suffix == ".csv" or "," in first_line:
        return "csv"
    raise ApplicationError(
        f"the file is not JSON, JSONL, CSV or TSV: it starts with {first!r}, where a JSON array '[', a JSON object '{{' "
        "or a header row should be", where=f"line {line}", code="wrong_file_type")


def file_rows(path: Path, *, container: str | None = None, tolerant: bool = False) -> FileRows:
    """Open an import file; raise ApplicationError when it is none of the containers this reads.

    `container` overrides detection (one of CONTAINERS). JSONL, CSV, TSV and Parquet are counted in one pass
    and then read row by row, so memory stays flat however long the file is; a JSON array is parsed whole.
    With `tolerant`, a malformed JSONL line is yielded as a BadRow instead of stopping the file.
    """
    if container is not None and container not in CONTAINERS:
        raise ApplicationError(f"unknown container {container!r}; choose one of {', '.join(CONTAINERS)}", where="container")
    with open(path, "rb") as handle:
        head = handle.read(_HEAD_BYTES)
        complete = not handle.read(1)
    if not head:
        raise ApplicationError("the file is empty", where="line 1", code="empty_file")
    if container == "parquet" or (container is None and head.startswith(_PARQUET_MAGIC)):
        return _parquet_rows(path)
    encoding = _encoding(head, complete=complete)
    line, first, first_line = _first_char(path, encoding)
    if not first:
        raise ApplicationError("the file is empty", where="line 1", code="empty_file")
    container = container or _container(path, first, first_line, line)
    if container == "json":
        rows = _json_array(path, encoding)
        return FileRows(encoding=encoding, container="json", total=len(rows), rows=iter(rows))
    if container in ("csv", "tsv"):
        delimiter = "\t" if container == "tsv" else ","
        total = sum(1 for _ in _table_rows(path, encoding, delimiter))
        if not total:
            raise ApplicationError("the table has a header but no rows", where="line 2", code="empty_file")
        return FileRows(encoding=encoding, container=container, total=total, rows=_table_rows(path, encoding, delimiter))
    total = sum(1 for _, text in _text_lines(path, encoding) if text.strip())
    return FileRows(encoding=encoding, container="jsonl", total=total, rows=_jsonl_rows(path, encoding, tolerant))


def _cell(value: str):
    """A table cell: JSON lists and objects (a messages column) are parsed, true/false become booleans, text stays text."""
    stripped = value.strip()
    if stripped[:1] in ("[", "{"):
        try:
            return json.loads(stripped)
        except json.JSONDecodeError:
            return value
    if stripped.lower() in ("true", "false"):
        return stripped.lower() == "true"
    return value


def _table_rows(path: Path, encoding: str, delimiter: str) -> Iterator[tuple[int, dict]]:
    lines = (text for _, text in _text_lines(path, encoding))
    reader = csv.reader(lines, delimiter=delimiter)
    header, start = None, 1
    for cells in reader:
        if header is None:
            header = [name.strip() for name in cells]
            start = reader.line_num + 1
            continue
        if any(c.strip() for c in cells):
            if len(cells) > len(header):
                raise ApplicationError(f"the row has {len(cells)} cells but the header names {len(header)} columns",
                                       where=f"line {start}")
            yield start, {name: _cell(value) for name, value in zip(header, cells) if name}
        start = reader.line_num + 1


def _parquet_rows(path: Path) -> FileRows:
    import pyarrow.parquet as pq

    try:
        table = pq.ParquetFile(path)
    except Exception as exc:  # pyarrow raises its own errors for damaged files
        raise ApplicationError(f"the Parquet file cannot be read: {exc}", where="line 1", code="wrong_file_type") from exc
    total = table.metadata.num_rows
    if not total:
        raise ApplicationError("the Parquet file has no rows", where="line 1", code="empty_file")

    def rows() -> Iterator[tuple[int, dict]]:
        number = 0
        for batch in table.iter_batches(batch_size=2000):
            for row in batch.to_pylist():
                number += 1
                yield number, row

    return FileRows(encoding="binary", container="parquet", total=total, rows=rows())


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
        if encoding not in ("utf-8", "utf-8-sig"):
            raise ApplicationError(f"the file is not valid {encoding} text", where="line 1", code="wrong_encoding") from exc
        line = data.count(b"\n", 0, exc.start) + 1
        raise ApplicationError("the text is not valid UTF-8; save the file as UTF-8 or UTF-16", where=f"line {line}",
                               code="wrong_encoding") from exc


def _jsonl_rows(path: Path, encoding: str, tolerant: bool = False) -> Iterator[tuple[int, object]]:
    for number, text in _text_lines(path, encoding):
        if not text.strip():
            continue
        try:
            yield number, json.loads(text)
        except json.JSONDecodeError as exc:
            if tolerant and number > 1:
                yield number, BadRow(f"malformed JSON: {exc.msg} (column {exc.colno})")
                continue
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


# ---------------------------------------------------------------- one row: column mapping, format → canonical


def column_map_check(column_map: dict | None) -> dict:
    """A mapping {field the format expects: column in the file}, e.g. {"instruction": "question", "output": "answer"}."""
    if not column_map:
        return {}
    if not isinstance(column_map, dict) or not all(isinstance(k, str) and isinstance(v, str) and k and v for k, v in column_map.items()):
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
        f"cannot tell the row format from its fields ({listed}); expected Alpaca (instruction, output), ShareGPT (conversations), "
        "messages, prompt/completion, prompt/chosen/rejected, or messages with a label; choose a format or map the columns",
        where=f"line {line}", code="unknown_format")


def row_canonical(row: object, *, format: str, line: int, max_chars: int = MAX_RECORD_CHARS) -> dict:
    """Convert one row of the given format (not "auto") and validate it as a canonical row."""
    return row_canonical_checked(row, format=format, line=line, max_chars=max_chars)[0]


def row_canonical_checked(row: object, *, format: str, line: int, max_chars: int = MAX_RECORD_CHARS) -> tuple[dict, dict[str, str]]:
    """row_canonical, also returning the fields as JSON text (datahub.canonical.canonical_checked)."""
    fields = _fields(row, line)
    where = f"line {line}"
    readers = {"alpaca": _alpaca, "sharegpt": _sharegpt, "firefly": _firefly, "messages": _messages,
               "prompt_completion": _prompt_completion, "preference": _preference, "kto": _kto}
    if format not in readers:
        raise ApplicationError(f"unknown format {format!r}; choose auto, {', '.join(FORMATS)}", where="format")
    clean = readers[format](fields, where)
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
    "human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant", "chatgpt": "assistant", "model": "assistant",
    "bing": "assistant", "bard": "assistant", "system": "system", "function_call": "function_call", "observation": "tool",
    "tool": "tool", "function": "tool",
}


def _tool_calls(value: str, first_id: int, where: str) -> list[dict]:
    """A ShareGPT function_call value ({"name", "arguments"} or a list of them) as OpenAI tool calls (arguments as JSON text)."""
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError as exc:
        raise ApplicationError("a function_call turn must hold JSON with name and arguments", where=where) from exc
    calls = parsed if isinstance(parsed, list) else [parsed]
    out = []
    for offset, call in enumerate(calls):
        if not (isinstance(call, dict) and isinstance(call.get("name"), str) and call["name"]):
            raise ApplicationError("a function_call turn must name the function", where=where)
        arguments = call.get("arguments", {})
        out.append({"id": f"call_{first_id + offset}", "type": "function",
                    "function": {"name": call["name"],
                                 "arguments": arguments if isinstance(arguments, str) else json.dumps(arguments, ensure_ascii=False)}})
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
            raise ApplicationError(f"{name}[{i}].from is {sender!r}; expected human, gpt, system, function_call or observation",
                                   where=where)
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
        if not (isinstance(turn, dict) and isinstance(turn.get("human"), str) and isinstance(turn.get("assistant"), str)):
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
            tools = json.loads(tools)
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
    raise ApplicationError(f"field {name!r} must be text, a message or a list of messages, not {_json_type(value)}", where=where)


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
            raise ApplicationError(f"the {name} transcript must be the shared dialogue followed by one Assistant: answer",
                                   where=where)
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

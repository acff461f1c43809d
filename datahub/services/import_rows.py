"""One import row → its record as a line of COPY text, without Django, so a parser process can do it too.

The import's reader (datahub.services.imports) validates the first chunk itself, which settles the file's format;
for a long JSONL file on PostgreSQL it hands the later chunks, as raw lines, to a parser process (ChunkParser), so
parsing, validating and hashing run on one core while the database inserts on the other. Results come back in file
order and are exactly the lines the reader would have written.
"""

import json
from collections import deque
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from itertools import islice
from multiprocessing import get_context
from pathlib import Path

import orjson

from common.errors import ApplicationError
from datahub.canonical import content_hash, prompt_hash
from datahub.files import BadRow, jsonl_line_parse
from datahub.formats import row_canonical_checked, row_remap

# Record's columns in the order of a record line: the job's values first (the same on every line), then the row's.
# created_at is left to the database's default (the moving transaction's start).
RECORD_COLUMNS = (
    "dataset_id",
    "source_id",
    "import_job_id",
    "origin",
    "tags",
    "kind",
    "messages",
    "tools",
    "chosen",
    "rejected",
    "label",
    "raw",
    "content_hash",
    "prompt_hash",
    "line_number",
)
CONTENT_HASH_FIELD = RECORD_COLUMNS.index("content_hash")
NULL = r"\N"
# Chunks handed to the parser process ahead of the one being staged.
_AHEAD = 2


@dataclass(frozen=True)
class RowRules:
    """What a row's record line depends on, beyond the row: the job's options (picklable, for the parser process)."""

    column_map: dict
    max_record_chars: int
    skip_invalid: bool
    line_start: str  # record_line_start(): the job's values, which begin every line
    path: str = ""
    encoding: str = "utf-8"


def record_line_start(*, dataset_id: int, source_id: int | None, job_id: int) -> str:
    """The fields every record of one import shares, as the start of its COPY line."""
    return (
        "\t".join((str(dataset_id), NULL if source_id is None else str(source_id), str(job_id), "import", "[]")) + "\t"
    )


def _json_text(value) -> str:
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        pass
    return json.dumps(value, ensure_ascii=False)


def _copy_text(text: str) -> str:
    """A JSON text as a COPY text-format field: JSON has no raw tabs or newlines, so only backslashes need doubling."""
    return text.replace("\\", "\\\\")


def record_line(rules: RowRules, clean: dict, parts: dict[str, str], raw, hashes: tuple[str, str], line: int) -> str:
    """A validated row's record as a line of COPY text: the JSON the validation already wrote is reused, not written
    again."""
    label = clean.get("label")
    return rules.line_start + "\t".join((
        clean["kind"], _copy_text(parts["messages"]),
        NULL if clean.get("tools") is None else _copy_text(parts["tools"]),
        NULL if clean.get("chosen") is None else _copy_text(parts["chosen"]),
        NULL if clean.get("rejected") is None else _copy_text(parts["rejected"]),
        NULL if label is None else ("t" if label else "f"),
        _copy_text(_json_text(raw)), hashes[0], hashes[1], str(line),
    )) + "\n"


def record_line_values(text: str) -> dict:
    """A record line back into Record's field values (for a database without COPY)."""
    values = dict(
        zip(RECORD_COLUMNS, (None if v == NULL else v.replace("\\\\", "\\") for v in text.rstrip("\n").split("\t")))
    )
    for name in ("tags", "messages", "tools", "chosen", "rejected", "raw"):
        if values[name] is not None:
            values[name] = json.loads(values[name])
    for name in ("dataset_id", "source_id", "import_job_id", "line_number"):
        if values[name] is not None:
            values[name] = int(values[name])
    if values["label"] is not None:
        values["label"] = values["label"] == "t"
    return values


def row_prepared(rules: RowRules, line: int, row):
    """The row with the job's column mapping applied, or ApplicationError for a line that was not JSON."""
    if isinstance(row, BadRow):
        raise ApplicationError(row.message, where=f"line {line}", code="malformed_json")
    return row_remap(row, rules.column_map)


def row_checked(rules: RowRules, row_kind: str, line: int, row) -> tuple[dict, dict]:
    """(clean row, its JSON parts) of a prepared row in a known format, or ApplicationError."""
    return row_canonical_checked(row, format=row_kind, line=line, max_chars=rules.max_record_chars)


def row_hashes(clean: dict, parts: dict[str, str]) -> tuple[str, str]:
    return content_hash(clean, parts=parts), prompt_hash(clean)


def chunk_parse(rules: RowRules, row_kind: str, lines: list[tuple[int, bytes]]) -> tuple:
    """In the parser process: raw JSONL lines → (record lines as one text, how many, row errors, the error that stops
    the file or None).

    Row errors are (line, message, where) of rows skip_invalid leaves out; the stopping error is (message, where,
    code): errors travel as tuples, since ApplicationError does not survive pickling whole.
    """
    text, errors = [], []
    path = Path(rules.path)
    for line, data in lines:
        try:
            row = row_prepared(rules, line, jsonl_line_parse(path, rules.encoding, rules.skip_invalid, line, data))
            clean, parts = row_checked(rules, row_kind, line, row)
        except ApplicationError as exc:
            if not rules.skip_invalid:
                return "".join(text), len(text), errors, (exc.message, exc.where, exc.code)
            errors.append((line, exc.message, exc.where))
            continue
        text.append(record_line(rules, clean, parts, row, row_hashes(clean, parts), line))
    return "".join(text), len(text), errors, None


class ChunkParser:
    """Feeds raw-line chunks to one parser process, a few ahead, and returns their results in order."""

    def __init__(self, rules: RowRules, row_kind: str, lines, chunk_rows: int):
        self.rules, self.row_kind, self.lines, self.chunk_rows = rules, row_kind, lines, chunk_rows
        self.pending: deque[tuple[int, Future]] = deque()
        # spawn, not fork: a forked child would share (and on exit close) the parent's database connection.
        self.pool = ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn"))
        self.done = False

    def _submit(self) -> None:
        while not self.done and len(self.pending) < _AHEAD:
            lines = list(islice(self.lines, self.chunk_rows))
            self.done = len(lines) < self.chunk_rows
            if lines:
                self.pending.append((len(lines), self.pool.submit(chunk_parse, self.rules, self.row_kind, lines)))

    def next(self) -> tuple[int, str, int, list, tuple | None]:
        """(rows read, record lines, how many, row errors, stopping error) of the next chunk; (0, "", 0, [], None) at
        the end."""
        self._submit()
        if not self.pending:
            return 0, "", 0, [], None
        read, future = self.pending.popleft()
        text, records, errors, stop = future.result()
        self._submit()
        return read, text, records, errors, stop

    def close(self) -> None:
        for _, future in self.pending:
            future.cancel()
        self.pool.shutdown(wait=True, cancel_futures=True)
